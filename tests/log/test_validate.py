"""Validation names each refused event's position, id, field and reason."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.log.validate import event_keys, validate


def _fields(batch: EventBatch) -> list[tuple[int, str]]:
    return [(r.position, r.field) for r in validate(batch)[1]]


def test_all_valid() -> None:
    ok, rejections = validate(EventBatch(np.arange(3), np.arange(3), np.ones(3)))
    assert ok.all() and rejections == []


@pytest.mark.parametrize(
    ("column", "values", "field"),
    [
        ("timestamp", [1.0, np.inf], "timestamp"),
        ("timestamp", [1.0, -0.5], "timestamp"),
        ("propensity", [0.5, 1.5], "propensity"),
        ("propensity", [0.5, np.nan], "propensity"),
    ],
)
def test_optional_numeric_columns(column: str, values: list[float], field: str) -> None:
    batch = EventBatch(np.arange(2), np.arange(2), np.ones(2), **{column: np.array(values)})
    assert _fields(batch) == [(1, field)]


def test_first_invalid_field_is_named_and_event_id_reported() -> None:
    batch = EventBatch(
        np.array([None, "b"], object),
        np.array(["", "x"], object),
        np.array([np.nan, 1.0]),
        event_id=np.array(["e0", "e1"], object),
    )
    ok, rejections = validate(batch)
    assert ok.tolist() == [False, True]
    assert (rejections[0].event_id, rejections[0].field) == ("e0", "user")
    assert "None" in rejections[0].reason


def test_ids_of_other_types_and_bad_context() -> None:
    batch = EventBatch(
        np.array([1.5, "a", True], object),
        np.array(["x", "y", "z"], object),
        np.ones(3),
        context={"price": np.array([np.inf, np.nan, 1.0]), "tag": np.array(["a", {}, "c"], object)},
    )
    assert _fields(batch) == [(0, "user"), (1, "context.tag"), (2, "user")]


def test_event_keys_compare_ids_as_text() -> None:
    assert event_keys(np.array([3, 4], dtype=np.uint8)).dtype == np.int64
    keys = event_keys(np.array(["12", 12, "012", "-3", "+3", "-0", str(1 << 63)], object))
    assert keys.tolist() == [12, 12, "012", -3, "+3", "-0", str(1 << 63)]
    assert event_keys(np.array(["5", "6"])).dtype == np.int64
    big = np.array([1 << 63], dtype=np.uint64)
    assert event_keys(big).tolist() == [str(1 << 63)]
