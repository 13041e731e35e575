"""Blocks of events as bytes: a JSON header, then one packed column after another.

Numeric columns are stored as raw little-endian numpy bytes and read back with
``np.frombuffer`` (no copy, no parsing); string and mixed columns as a JSON list, except
``user`` and ``item`` ids that repeat, which are stored as a dictionary: ``int32`` codes
(raw) then the distinct ids (JSON), so reading them parses each id once per block. No pickle.

Layout: ``b"FRB1"``, the header length (uint32, little-endian), the header (UTF-8 JSON
``{"n": ..., "columns": [[name, kind, dtype, offset, length, codes_length], ...]}``, kind
``raw``, ``json`` or ``dict``), then the columns, each starting at a multiple of 8 bytes.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from freshrec.data.batch import EventBatch

__all__ = ["decode_block", "encode_block"]

_MAGIC = b"FRB1"
_COLUMNS = ("user", "item", "value", "timestamp", "propensity", "event_id", "user_idx", "item_idx")


def encode_block(batch: EventBatch) -> bytes:
    """Pack every column of ``batch`` (context included) into bytes.

    Examples
    --------
    >>> batch = EventBatch(np.array([1, 2]), np.array(["a", "b"], object), np.ones(2),
    ...                    context={"device": np.array(["ios", None], object)})
    >>> back = decode_block(encode_block(batch))
    >>> back.user.tolist(), back.item.tolist(), back.context["device"].tolist()
    ([1, 2], ['a', 'b'], ['ios', None])
    """
    columns: list[tuple[str, np.ndarray]] = []
    for name in _COLUMNS:
        column = getattr(batch, name)
        if column is not None:
            columns.append((name, column))
    for key, column in (batch.context or {}).items():
        columns.append((f"context.{key}", np.asarray(column)))
    header: list[list[Any]] = []
    payload: list[bytes] = []
    offset = 0
    for name, column in columns:
        kind, dtype, data, codes_length = _pack(name, column)
        pad = -len(data) % 8
        header.append([name, kind, dtype, offset, len(data), codes_length])
        payload.append(data + b"\0" * pad)
        offset += len(data) + pad
    head = json.dumps({"n": len(batch), "columns": header}).encode()
    head += b" " * (-(len(head) + 8) % 8)  # the first column starts 8-aligned
    return b"".join([_MAGIC, struct.pack("<I", len(head)), head, *payload])


def decode_block(data: bytes) -> EventBatch:
    """The batch that :func:`encode_block` packed (numeric columns are read-only views).

    Examples
    --------
    >>> batch = EventBatch(np.array([5]), np.array([6]), np.array([2.5]), event_id=["e1"])
    >>> decode_block(encode_block(batch)).event_id.tolist()
    ['e1']
    """
    if data[:4] != _MAGIC:
        raise ValueError("not an event block (bad magic bytes)")
    (head_len,) = struct.unpack_from("<I", data, 4)
    start = 8 + head_len
    header = json.loads(data[8:start])
    n = int(header["n"])
    buffer = memoryview(data)
    fields: dict[str, Any] = {}
    context: dict[str, np.ndarray] = {}
    for name, kind, dtype, offset, length, codes_length in header["columns"]:
        begin = start + offset
        if kind == "json":
            column = np.empty(n, dtype=object)
            column[:] = json.loads(bytes(buffer[begin : begin + length]))
        else:
            size = (codes_length if kind == "dict" else length) // np.dtype(dtype).itemsize
            column = np.frombuffer(buffer, dtype=dtype, count=size, offset=begin)
        if kind == "dict":
            ids_start = begin + codes_length + (-codes_length % 8)
            distinct = json.loads(bytes(buffer[ids_start : begin + length]))
            values = np.empty(len(distinct), dtype=object)
            values[:] = distinct
            column = values[column]
        if name.startswith("context."):
            context[name.removeprefix("context.")] = column
        else:
            fields[name] = column
    return EventBatch(**fields, context=context or None)


def _pack(name: str, column: np.ndarray) -> tuple[str, str, bytes, int]:
    """``(kind, dtype, bytes, codes length)`` of one column."""
    if column.dtype.kind in "biuf":
        dtype = column.dtype.newbyteorder("<").str
        return "raw", dtype, np.ascontiguousarray(column, dtype=dtype).tobytes(), 0
    values = [_plain(v) for v in column.tolist()]
    if name in ("user", "item"):  # ids are str or int only: dict keys cannot merge two
        codes: dict[Any, int] = {}
        coded = np.fromiter(
            (codes.setdefault(v, len(codes)) for v in values), dtype="<i4", count=len(values)
        )
        if len(codes) <= len(values) // 2:
            raw = coded.tobytes()
            pad = b"\0" * (-len(raw) % 8)  # the distinct ids start 8-aligned
            return "dict", "<i4", raw + pad + json.dumps(list(codes)).encode(), len(raw)
    return "json", "O", json.dumps(values).encode(), 0


def _plain(value: Any) -> Any:
    """A JSON-able Python scalar (numpy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value
