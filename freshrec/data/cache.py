"""On-disk cache of parsed datasets, keyed by the sha256 of their source files.

An entry is a folder named ``<loader>-<key>`` holding one file per column and a
``manifest.json`` written last:

- numeric columns as ``.npy`` (read back with ``allow_pickle=False``);
- text and tuple columns (string ids, titles, genres) as JSON lists;
- the load report and the sha256 of every file in the manifest.

Nothing is pickled. The key covers the cache format version, the loader name, the parsing mode
and the name and sha256 of every source file, so an edited source file misses the cache. An
entry is written into a temporary folder and renamed into place; an entry that is incomplete or
fails its checksums is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, LoadReport, SideTable
from freshrec.persist import replace_dir

__all__ = [
    "CACHE_FORMAT",
    "cache_key",
    "cached_load",
    "default_cache_dir",
    "file_sha256",
    "read_dataset",
    "write_dataset",
]

CACHE_FORMAT = 1
_EVENT_FIELDS = ("user", "item", "value", "timestamp", "propensity", "event_id")


def default_cache_dir() -> Path:
    """``~/.cache/freshrec``. Library code reads no environment variables; the CLI passes its
    own ``--cache-dir`` to :func:`cached_load` instead.

    Examples
    --------
    >>> default_cache_dir().name
    'freshrec'
    """
    return Path.home() / ".cache" / "freshrec"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = path.write_bytes(b"")
    >>> file_sha256(path)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(files: Sequence[str | os.PathLike[str]], *, loader: str, mode: str) -> str:
    """The cache key of a load: format version, loader, mode, and each file's name and sha256.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "u.data"
    >>> _ = path.write_text("1\\t2\\t3\\t4\\n")
    >>> cache_key([path], loader="ml-100k", mode="strict") == cache_key(
    ...     [path], loader="ml-100k", mode="lenient")
    False
    """
    sources = sorted((Path(f).name, file_sha256(f)) for f in files)
    text = json.dumps({"format": CACHE_FORMAT, "loader": loader, "mode": mode, "files": sources})
    return hashlib.sha256(text.encode()).hexdigest()


def cached_load(
    build: Callable[[], Dataset],
    files: Sequence[str | os.PathLike[str]],
    *,
    loader: str,
    mode: str,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Dataset:
    """Return the cached dataset for ``files``, or ``build()`` it and cache the result.

    Parameters
    ----------
    build
        Parses the source files (called only on a miss).
    files
        The source files that ``build`` reads; their sha256 make the key.
    loader, mode
        Also part of the key.
    cache_dir
        Where entries live; :func:`default_cache_dir` when ``None``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from freshrec.data.movielens import load_movielens_100k
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "u.data").write_text("196\\t242\\t3\\t881250949\\n")
    >>> def build():
    ...     return load_movielens_100k(folder)
    >>> cache = folder / "cache"
    >>> first = cached_load(build, [folder / "u.data"], loader="ml-100k", mode="strict",
    ...                     cache_dir=cache)
    >>> again = cached_load(build, [folder / "u.data"], loader="ml-100k", mode="strict",
    ...                     cache_dir=cache)
    >>> again.events.item.tolist(), len(list(cache.iterdir()))
    ([242], 1)
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = root / f"{loader}-{cache_key(files, loader=loader, mode=mode)[:32]}"
    if (entry / "manifest.json").exists():
        try:
            return read_dataset(entry)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # incomplete or corrupt: rebuild below
    dataset = build()
    try:
        write_dataset(dataset, entry)
    except (OSError, TypeError):
        pass  # a concurrent writer won, the cache is read-only, or a column is not cacheable
    return dataset


def write_dataset(dataset: Dataset, folder: str | os.PathLike[str]) -> None:
    """Write ``dataset`` as a cache entry folder (atomically: temp folder, then rename).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "entry"
    >>> write_dataset(Dataset("toy", EventBatch(["a"], [1], [5.0])), folder)
    >>> read_dataset(folder).events.user.tolist()
    ['a']
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        writer = _Writer(tmp)
        events = dataset.events
        manifest: dict[str, Any] = {
            "format": CACHE_FORMAT,
            "name": dataset.name,
            "events": {
                name: writer.column(getattr(events, name))
                for name in _EVENT_FIELDS
                if getattr(events, name) is not None
            },
            "context": None if events.context is None else writer.columns(events.context),
            "items": _write_side(writer, dataset.items),
            "users": _write_side(writer, dataset.users),
            "report": None if dataset.report is None else dataset.report.to_dict(),
        }
        manifest["files"] = writer.checksums
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_dataset(folder: str | os.PathLike[str]) -> Dataset:
    """Read a folder written by :func:`write_dataset`, checking every file's sha256.

    Raises ``ValueError`` for a corrupt or foreign entry and ``OSError`` for a missing file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "entry"
    >>> write_dataset(Dataset("toy", EventBatch([1, 2], ["a", "b"], [5.0, 3.0])), folder)
    >>> ds = read_dataset(folder)
    >>> ds.name, ds.events.user.tolist(), ds.events.item.tolist()
    ('toy', [1, 2], ['a', 'b'])
    """
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("format") != CACHE_FORMAT:
        raise ValueError(f"{folder}: cache format {manifest.get('format')!r} is not supported")
    reader = _Reader(folder, manifest["files"])
    context = manifest["context"]
    events = EventBatch(
        **{name: reader.column(spec) for name, spec in manifest["events"].items()},
        context=None if context is None else reader.columns(context),
    )
    report = None
    if manifest["report"] is not None:
        saved = manifest["report"]
        report = LoadReport(
            rows_read=saved["rows_read"],
            rows_kept=saved["rows_kept"],
            skipped=Counter(saved["skipped"]),
            examples=dict(saved["examples"]),
        )
    return Dataset(
        manifest["name"],
        events,
        items=_read_side(reader, manifest["items"]),
        users=_read_side(reader, manifest["users"]),
        report=report,
    )


class _Writer:
    """Writes columns as numbered files and remembers their checksums."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.checksums: dict[str, str] = {}

    def column(self, array: np.ndarray) -> dict[str, Any]:
        index = len(self.checksums)
        if array.dtype == object:
            name, data = f"{index}.json", _dump_objects(array)
        else:
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            name, data = f"{index}.npy", buffer.getvalue()
        (self.folder / name).write_bytes(data)
        self.checksums[name] = hashlib.sha256(data).hexdigest()
        return {"file": name}

    def columns(self, arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
        return {name: self.column(array) for name, array in arrays.items()}


class _Reader:
    """Reads the files named in a manifest, verifying each one's sha256."""

    def __init__(self, folder: Path, checksums: Mapping[str, str]) -> None:
        self.folder = folder
        self.checksums = checksums

    def column(self, spec: Mapping[str, Any]) -> np.ndarray:
        name = spec["file"]
        data = (self.folder / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != self.checksums[name]:
            raise ValueError(f"{self.folder / name}: checksum does not match the manifest")
        if name.endswith(".json"):
            return _load_objects(data)
        return np.asarray(np.load(io.BytesIO(data), allow_pickle=False))

    def columns(self, specs: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
        return {name: self.column(spec) for name, spec in specs.items()}


def _write_side(writer: _Writer, table: SideTable | None) -> dict[str, Any] | None:
    if table is None:
        return None
    return {"ids": writer.column(table.ids), "columns": writer.columns(table.columns)}


def _read_side(reader: _Reader, spec: Mapping[str, Any] | None) -> SideTable | None:
    if spec is None:
        return None
    return SideTable(reader.column(spec["ids"]), reader.columns(spec["columns"]))


def _dump_objects(array: np.ndarray) -> bytes:
    """JSON list of the values; tuples become lists (read back as tuples)."""

    def plain(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if value is None or isinstance(value, (str, int, float)):
            return value
        raise TypeError(f"cannot cache a column holding {type(value).__name__}")

    return json.dumps([plain(v) for v in array]).encode()


def _load_objects(data: bytes) -> np.ndarray:
    values = [tuple(v) if isinstance(v, list) else v for v in json.loads(data)]
    return np.fromiter(values, dtype=object, count=len(values))
