"""Every backend passes the public conformance suite, one test per check."""

from __future__ import annotations

import pytest

from freshrec.log.conformance import Check, StoreFactory, yield_checks


@pytest.mark.parametrize("check", list(yield_checks()), ids=lambda check: check.__name__)
def test_backend_conforms(new_store: StoreFactory, check: Check) -> None:
    check(new_store)
