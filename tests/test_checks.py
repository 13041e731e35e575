"""Every registered model passes the public conformance suite (freshrec.checks)."""

from __future__ import annotations

import pytest

from freshrec.checks import yield_checks
from freshrec.models import REGISTRY

CASES = [
    pytest.param(name, check, id=f"{cls.__name__}:{check.__name__}")
    for name, cls in sorted(REGISTRY.items())
    for check in yield_checks(cls())
]


@pytest.mark.parametrize(("name", "check"), CASES)
def test_model_conforms(name, check):
    check(REGISTRY[name]())
