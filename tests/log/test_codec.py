"""Blocks round-trip every column through bytes, without pickle."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.log.codec import decode_block, encode_block


def _roundtrip(batch: EventBatch) -> EventBatch:
    return decode_block(encode_block(batch))


def test_numeric_columns_come_back_exactly() -> None:
    batch = EventBatch(
        np.array([5, 7]),
        np.array([1, 2]),
        np.array([0.5, 4.0]),
        timestamp=np.array([1.25, 2.5]),
        propensity=np.array([0.1, 1.0]),
        event_id=np.array([10, 11]),
        user_idx=np.array([0, 1]),
        item_idx=np.array([1, 0]),
    )
    back = _roundtrip(batch)
    for name in ("user", "item", "value", "timestamp", "propensity", "event_id", "user_idx"):
        np.testing.assert_array_equal(getattr(back, name), getattr(batch, name))
        assert getattr(back, name).dtype == getattr(batch, name).dtype


def test_string_and_mixed_ids_and_context_come_back() -> None:
    users = np.array(["ann", 7, "7"], dtype=object)
    context = {
        "device": np.array(["ios", None, "web"], dtype=object),
        "price": np.array([1.5, np.nan, 3.0]),
        "slot": np.array([1, 2, 3]),
    }
    batch = EventBatch(users, np.array(["a", "b", "c"]), np.ones(3), context=context)
    back = _roundtrip(batch)
    assert back.user.tolist() == ["ann", 7, "7"]
    assert back.item.tolist() == ["a", "b", "c"]
    assert back.context is not None
    assert back.context["device"].tolist() == ["ios", None, "web"]
    np.testing.assert_array_equal(back.context["price"], context["price"])
    assert back.context["slot"].dtype == np.int64
    assert back.timestamp is None and back.event_id is None


def test_empty_block_and_bad_bytes() -> None:
    assert len(_roundtrip(EventBatch.empty())) == 0
    with pytest.raises(ValueError, match="magic"):
        decode_block(b"nope")


def test_numeric_columns_are_read_without_copying() -> None:
    data = encode_block(EventBatch(np.arange(1000), np.arange(1000), np.ones(1000)))
    back = decode_block(data)
    assert not back.user.flags.writeable  # a view into the stored bytes
    assert b"pickle" not in data and len(data) < 1000 * 20 + 400


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 17, 1000])
def test_repeated_string_ids_are_stored_as_a_dictionary(n: int) -> None:
    users = np.array([f"u{i % 3}" for i in range(n)], dtype=object)
    items = np.array([i % 2 if i % 4 else f"{i % 2}" for i in range(n)], dtype=object)
    batch = EventBatch(users, items, np.arange(n), event_id=np.arange(n))
    back = _roundtrip(batch)
    assert back.user.tolist() == users.tolist() and back.item.tolist() == items.tolist()
    np.testing.assert_array_equal(back.value, np.arange(n))
    if n >= 8:
        assert b'"dict"' in encode_block(batch)
