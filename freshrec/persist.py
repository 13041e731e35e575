"""Atomic, pickle-free persistence of models: a folder of JSON + safetensors.

Layout of a saved model folder::

    freshrec.json       {"format": 2, "freshrec_version": ..., "class": ..., "params": {...}}
    model.safetensors   numeric state (numpy arrays)
    state.json          JSON state: id maps, scalars, RNG state
    manifest.json       file checksums and summary, with a checksum of its own contents;
                        written last, so its presence marks a complete folder

The folder is written under a temporary sibling name, every file is fsynced, and the folder
is renamed into place, so a reader never sees half a model. Format 2 added the manifest's own
checksum (required from format 2 on; format 1 folders still load).
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
    "MODEL_FILES",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable_model_dir",
    "load_model",
    "replace_dir",
    "save_model",
]

FORMAT_VERSION = 2
_READABLE_FORMATS = (1, 2)
MODEL_FILES = ("freshrec.json", "model.safetensors", "state.json", "manifest.json")
_TRUSTED_PREFIXES = ("freshrec.",)


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, then put it back at once
    os.umask(mask)
    return mask


def _file_mode() -> int:
    """0666 less the umask: what ``open`` gives a new file (0644 under umask 022)."""
    return 0o666 & ~_umask()


def check_writable_model_dir(path: str | os.PathLike[str], *, force: bool = False) -> None:
    """Refuse to save over a folder that holds files freshrec did not write, unless ``force``.

    A missing or empty folder and a complete model folder (only :data:`MODEL_FILES`) are fine:
    saving replaces the model. With ``force``, the model is written beside the other files,
    which are left as they are.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()); _ = (folder / "notes.txt").write_text("mine")
    >>> check_writable_model_dir(folder)
    Traceback (most recent call last):
    ...
    FileExistsError: ... holds files freshrec did not write (notes.txt): ...
    >>> check_writable_model_dir(folder, force=True)
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} is a file, not a model folder")
    if force or not target.is_dir():
        return
    foreign = sorted(p.name for p in target.iterdir() if p.name not in MODEL_FILES)
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise FileExistsError(
            f"{target} holds files freshrec did not write ({shown}): choose a new folder, or "
            "pass --force (force=True) to write the model beside them"
        )


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
        os.chmod(tmp, _file_mode())  # mkstemp creates 0600; honour the umask like open() does
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
    *,
    force: bool = False,
) -> None:
    """Write a model folder atomically; ``manifest.json`` is written last.

    ``model`` supplies the class name and ``get_params()``; ``arrays`` and ``state`` are its
    numeric and JSON state. A folder holding other files is refused unless ``force``, which
    writes the model's files into it beside them (see :func:`check_writable_model_dir`).
    Leftovers of saves that were killed (``.NAME.tmp-PID-*`` of dead processes) are removed.
    Files get 0666 and folders 0777, less the umask.

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
    check_writable_model_dir(target, force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_saves(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-{os.getpid()}-"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
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
        os.chmod(tmp / "model.safetensors", _file_mode())  # safetensors writes 0600
        _fsync_file(tmp / "model.safetensors")
        _write(tmp / "state.json", json.dumps(state).encode())
        files = {
            name: _sha256(tmp / name)
            for name in ("freshrec.json", "model.safetensors", "state.json")
        }
        body = {"files": files, **(manifest or {})}
        _write(
            tmp / "manifest.json",
            json.dumps({**body, "checksum": _json_digest(body)}, indent=2).encode(),
        )
        if target.is_dir() and any(p.name not in MODEL_FILES for p in target.iterdir()):
            _move_files_into(tmp, target)  # forced: the other files stay where they are
        else:
            replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _move_files_into(tmp: Path, target: Path) -> None:
    """Move the model files of ``tmp`` into ``target``: manifest removed first, put back last."""
    (target / "manifest.json").unlink(missing_ok=True)
    for name in MODEL_FILES:
        os.replace(tmp / name, target / name)
    _fsync_dir(target)
    tmp.rmdir()


def _remove_dead_saves(target: Path) -> None:
    """Remove ``.NAME.tmp-PID-*`` / ``.NAME.old-PID-*`` folders of processes no longer alive."""
    for leftover in target.parent.glob(f".{target.name}.*-*"):
        kind, _, rest = leftover.name[len(target.name) + 2 :].partition("-")
        pid = rest.partition("-")[0]
        if kind in ("tmp", "old") and pid.isdigit() and leftover.is_dir() and not _alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{manifest_path}: not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError(f"{manifest_path}: not a manifest (no files and checksums)")
    written = manifest.pop("checksum", None)
    if written is not None and written != _json_digest(manifest):
        raise ValueError(f"{manifest_path}: checksum does not match its contents")
    for name, digest in manifest["files"].items():
        if _sha256(folder / name) != digest:
            raise ValueError(f"{folder / name}: checksum does not match manifest.json")
    config = json.loads((folder / "freshrec.json").read_text())
    if config.get("format") not in _READABLE_FORMATS:
        raise ValueError(f"{folder}: unsupported model format {config.get('format')!r}")
    if config["format"] >= 2 and written is None:  # the manifest's own checksum was lost
        raise ValueError(f"{manifest_path}: no checksum of its own (format 2 writes one)")
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


def _json_digest(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
