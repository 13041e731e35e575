"""Write a split as plain TSV files, so other libraries can be run on identical data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.splits import Split
from freshrec.persist import atomic_write_text

__all__ = ["export_split", "write_tsv"]


def write_tsv(batch: EventBatch, path: Path) -> None:
    """Write ``user, item, value, timestamp`` with a header line, in the batch's order.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.data import Event
    >>> path = Path(tempfile.mkdtemp()) / "events.tsv"
    >>> write_tsv(EventBatch.from_events([Event(1, 2, 4.0, 9.0)]), path)
    >>> [line.split() for line in path.read_text().splitlines()]
    [['user', 'item', 'value', 'timestamp'], ['1', '2', '4', '9']]
    """
    buffer = io.StringIO()
    buffer.write("user\titem\tvalue\ttimestamp\n")
    timestamps = batch.timestamp if batch.timestamp is not None else np.full(len(batch), np.nan)
    for user, item, value, ts in zip(batch.user, batch.item, batch.value, timestamps, strict=True):
        buffer.write(f"{user}\t{item}\t{value:g}\t{'' if np.isnan(ts) else f'{ts:.0f}'}\n")
    atomic_write_text(path, buffer.getvalue())


def export_split(split: Split, out_dir: Path) -> list[Path]:
    """Write ``train.tsv``, ``valid.tsv`` (if any), ``test.tsv`` and ``split.json``.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.data import Event
    >>> from freshrec.data.splits import temporal_global_split
    >>> batch = EventBatch.from_events([Event(1, 2, 4.0, float(t)) for t in range(5)])
    >>> paths = export_split(temporal_global_split(batch), Path(tempfile.mkdtemp()))
    >>> [p.name for p in paths]
    ['train.tsv', 'test.tsv', 'split.json']
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    parts = {"train": split.train, "valid": split.valid, "test": split.test}
    for name, part in parts.items():
        if part is None or (name == "valid" and len(part) == 0):
            continue
        path = out_dir / f"{name}.tsv"
        write_tsv(part, path)
        written.append(path)
    summary = {"protocol": split.name, **{k: len(v) for k, v in parts.items() if v is not None}}
    atomic_write_text(out_dir / "split.json", json.dumps(summary, indent=2))
    written.append(out_dir / "split.json")
    return written
