"""Atomic, pickle-free persistence of models: a folder of JSON + safetensors.

Layout of a saved model folder::

    freshrec.json       {"format": 1, "freshrec_version": ..., "class": ..., "params": {...}}
    model.safetensors   numeric state (numpy arrays)
    state.json          JSON state: id maps, scalars, RNG state
    manifest.json       file checksums and summary; written last, so its presence marks a
                        complete folder

The folder is written under a temporary sibling name, every file is fsynced, and the folder
is renamed into place, so a reader never sees half a model.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_model",
    "replace_dir",
    "save_model",
]

FORMAT_VERSION = 1
_TRUSTED_PREFIXES = ("freshrec.",)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, then rename.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write_bytes(target, b"hi"); target.read_bytes()
    b'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; written files are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text (see :func:`atomic_write_bytes`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> atomic_write_text(target, "héllo"); target.read_text(encoding="utf-8")
    'héllo'
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def replace_dir(tmp_dir: Path, target: Path) -> None:
    """Move a fully written ``tmp_dir`` to ``target``, replacing what was there.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "new").mkdir(); (root / "new" / "a").write_text("1")
    1
    >>> replace_dir(root / "new", root / "model"); sorted(p.name for p in root.iterdir())
    ['model']
    """
    _fsync_dir(tmp_dir)
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(target, old)
        os.replace(tmp_dir, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, target)
    _fsync_dir(target.parent)


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    state: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
) -> None:
    """Write a model folder atomically; ``manifest.json`` is written last.

    ``model`` supplies the class name and ``get_params()``; ``arrays`` and ``state`` are its
    numeric and JSON state.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.models import MostPopular
    >>> folder = Path(tempfile.mkdtemp()) / "m"
    >>> save_model(MostPopular(), folder, {"w": np.zeros(2)}, {"note": 1})
    >>> sorted(p.name for p in folder.iterdir())
    ['freshrec.json', 'manifest.json', 'model.safetensors', 'state.json']
    >>> cls, params, arrays, state = load_model(folder)
    >>> cls.__name__, params, arrays["w"].tolist(), state
    ('MostPopular', {'half_life_s': None, 'threshold': 1.0}, [0.0, 0.0], {'note': 1})
    """
    from safetensors.numpy import save_file

    from freshrec import __version__

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        config = {
            "format": FORMAT_VERSION,
            "freshrec_version": __version__,
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "params": model.get_params(),
        }
        _write(tmp / "freshrec.json", json.dumps(config, indent=2).encode())
        tensors = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
        save_file(tensors, str(tmp / "model.safetensors"))
        _fsync_file(tmp / "model.safetensors")
        _write(tmp / "state.json", json.dumps(state).encode())
        files = {
            name: _sha256(tmp / name)
            for name in ("freshrec.json", "model.safetensors", "state.json")
        }
        _write(
            tmp / "manifest.json",
            json.dumps({"files": files, **(manifest or {})}, indent=2).encode(),
        )
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_model(
    path: str | os.PathLike[str], cls: type | None = None
) -> tuple[type, dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
    """Read a model folder; return ``(cls, params, arrays, state)`` after checking checksums.

    Only classes under ``freshrec.`` are imported by name; pass ``cls`` for your own.
    A folder without ``manifest.json`` (a write that never finished) is refused.

    Examples
    --------
    >>> import tempfile
    >>> load_model(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ... is not a complete model folder (no manifest.json)
    """
    from safetensors.numpy import load_file

    folder = Path(path)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{folder} is not a complete model folder (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    for name, digest in manifest["files"].items():
        if _sha256(folder / name) != digest:
            raise ValueError(f"{folder / name}: checksum does not match manifest.json")
    config = json.loads((folder / "freshrec.json").read_text())
    if config.get("format") != FORMAT_VERSION:
        raise ValueError(f"{folder}: unsupported model format {config.get('format')!r}")
    if cls is None:
        cls = _resolve_class(config["class"])
    arrays = load_file(str(folder / "model.safetensors"))
    state = json.loads((folder / "state.json").read_text())
    return cls, config["params"], arrays, state


def _resolve_class(dotted: str) -> type:
    if not dotted.startswith(_TRUSTED_PREFIXES):
        raise ValueError(
            f"refusing to import {dotted!r}: pass cls= to load models of other packages"
        )
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
