"""Cursors: opaque, totally ordered, hashable, round-trip through text."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.log import Cursor, Cursors


def test_start_comes_before_every_cursor_and_prints_as_zero() -> None:
    assert Cursor.START < Cursor((1,)) < Cursor((2,))
    assert Cursor.START < Cursor((0, 0, 0))
    assert str(Cursor.START) == "0" and Cursor.parse("0") is Cursor.START


def test_redis_like_cursors_order_by_entry_then_offset() -> None:
    ordered = ["1712-0-5", "1712-1-0", "1712-1-3", "1713-0-0"]
    cursors = [Cursor.parse(text) for text in ordered]
    assert cursors == sorted(cursors, key=lambda c: c)
    assert [str(c) for c in cursors] == ordered


def test_cursors_hash_and_compare_by_value() -> None:
    assert len({Cursor.parse("5"), Cursor((5,)), Cursor.parse(" 5 ")}) == 1


@pytest.mark.parametrize("text", ["", "x", "1--2", "-1", "1.5", "1-a"])
def test_parse_refuses_what_is_not_a_cursor(text: str) -> None:
    with pytest.raises(ValueError):
        Cursor.parse(text)


def test_parts_must_be_non_negative_ints() -> None:
    with pytest.raises(ValueError):
        Cursor((-1,))
    with pytest.raises(ValueError):
        Cursor((True,))


def test_cursor_runs_index_slice_and_iterate() -> None:
    run = Cursors(np.array([[3, 0], [3, 1], [9, 0]]))
    assert run[1] == Cursor((3, 1)) and run[-1] == Cursor((9, 0))
    assert list(run[1:]) == [Cursor((3, 1)), Cursor((9, 0))]
    assert len(Cursors.concat([run, Cursors.empty(2), run])) == 6
    assert "n=3" in repr(run) and repr(Cursors.empty()) == "Cursors(n=0)"
    with pytest.raises(ValueError):
        Cursors(np.arange(3))
