"""Every registered model passes the public conformance suite (freshrec.checks).

Classical models run it with their defaults here. Deep models (``TorchRecommender``) run the
same checks at small settings in their own test file, since their defaults are sized for real
data (hundreds of epochs); this file makes sure each of them has one.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from freshrec.checks import yield_checks
from freshrec.models import REGISTRY
from freshrec.models.torch_base import TorchRecommender

DEEP = {name for name, cls in REGISTRY.items() if issubclass(cls, TorchRecommender)}
CASES = [
    pytest.param(name, check, id=f"{cls.__name__}:{check.__name__}")
    for name, cls in sorted(REGISTRY.items())
    if name not in DEEP
    for check in yield_checks(cls())
]


@pytest.mark.parametrize(("name", "check"), CASES)
def test_model_conforms(name, check):
    check(REGISTRY[name]())


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_model_runs_the_checks_in_its_own_tests(name):
    module = Path(inspect.getfile(REGISTRY[name])).stem
    tests = Path(__file__).parent / "models" / f"test_{module}.py"
    assert tests.exists(), f"{name}: no {tests}"
    assert "yield_checks(" in tests.read_text(), f"{tests} does not run freshrec.checks"
