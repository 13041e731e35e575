"""Download a dataset archive, check it, and unpack it atomically.

The archive is streamed to a temporary file beside the destination and checked against its
sha256 when known. A zip is unpacked into a temporary folder (members with absolute paths or
``..`` are refused before anything is written), the files the catalogue knows are checked
against their sha256, and the folder is renamed into place. Any failure leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from freshrec.data.cache import file_sha256
from freshrec.data.registry import dataset_info
from freshrec.errors import DataError
from freshrec.persist import replace_dir

__all__ = ["download"]

Progress = Callable[[int, "int | None"], None]
_CHUNK = 1 << 20


def download(
    name_or_url: str,
    dest_dir: str | os.PathLike[str],
    *,
    url: str | None = None,
    sha256: str | None = None,
    member_checksums: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Fetch a catalogue dataset (or any URL) into ``dest_dir`` and return its path.

    Parameters
    ----------
    name_or_url
        A catalogue name (``"ml-100k"``): its URL, folder and file checksums come from the
        catalogue. Or a URL (``https://``, ``file://``, ...).
    dest_dir
        The data folder; a catalogue dataset lands in ``dest_dir / info.folder``.
    url
        For a catalogue name: fetch from this URL instead (a mirror, a ``file://`` copy).
        The archive's own sha256 is then unknown, but every listed file is still checked.
    sha256
        Expected sha256 of the downloaded file, checked when given.
    member_checksums
        Expected sha256 of files inside the archive, relative to its top folder.
    progress
        Called as ``progress(bytes_done, bytes_total_or_None)`` while downloading.

    Returns
    -------
    Path
        The unpacked folder (for a zip) or the downloaded file.

    Raises
    ------
    DataError
        A checksum does not match, a listed member is missing, or a member path is unsafe.

    Examples
    --------
    >>> import tempfile, pathlib, zipfile
    >>> work = pathlib.Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(work / "toy.zip", "w") as zf:
    ...     zf.writestr("toy/u.data", "1\\t2\\t5\\t100\\n")
    >>> folder = download((work / "toy.zip").as_uri(), work / "data")
    >>> folder.name, sorted(p.name for p in folder.iterdir())
    ('toy', ['u.data'])
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target_name = archive_folder = None
    if "://" in name_or_url:
        if url is not None:
            raise ValueError("url= replaces the URL of a catalogue name; got a URL already")
        source = name_or_url
    else:
        info = dataset_info(name_or_url)
        if url is None:
            sha256 = sha256 or info.archive_sha256
        if url is None and info.url is None:
            raise ValueError(f"{info.name} has no public download URL. {info.description}")
        source = url or str(info.url)
        target_name, archive_folder = info.folder, info.archive_folder
        member_checksums = member_checksums if member_checksums is not None else info.files
    url = source
    archive = _fetch(url, dest, progress)
    try:
        got = file_sha256(archive)
        if sha256 is not None and got != sha256.lower():
            raise DataError(f"sha256 mismatch: expected {sha256}, got {got}", file=url)
        if zipfile.is_zipfile(archive):
            return _unpack(archive, dest, url, target_name, archive_folder, member_checksums or {})
        target = dest / (target_name or PurePosixPath(urlparse(url).path).name)
        os.replace(archive, target)
        return target
    finally:
        archive.unlink(missing_ok=True)


def _fetch(url: str, dest: Path, progress: Progress | None) -> Path:
    """Stream ``url`` into a temporary file in ``dest``."""
    fd, name = tempfile.mkstemp(dir=dest, prefix=".download-", suffix=".part")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            done = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _unpack(
    archive: Path,
    dest: Path,
    url: str,
    target_name: str | None,
    archive_folder: str | None,
    member_checksums: Mapping[str, str],
) -> Path:
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        for name in names:
            if _unsafe(name):
                raise DataError(f"refusing unsafe path in archive: {name!r}", file=url)
        tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".unpack-"))
        try:
            zf.extractall(tmp)
            root = tmp / archive_folder if archive_folder else _single_top(tmp)
            if not root.is_dir():
                raise DataError(f"archive has no folder {archive_folder!r}", file=url)
            for relative, expected in member_checksums.items():
                member = root / relative
                if not member.is_file():
                    raise DataError(f"{relative} is missing from the archive", file=url)
                got = file_sha256(member)
                if got != expected.lower():
                    raise DataError(
                        f"sha256 mismatch for {relative}: expected {expected}, got {got}",
                        file=url,
                    )
            url_stem = PurePosixPath(urlparse(url).path).stem
            target = dest / (target_name or (root.name if root != tmp else url_stem))
            replace_dir(root, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _single_top(folder: Path) -> Path:
    """The one folder at the top of an unpacked archive, or the unpack folder itself."""
    entries = list(folder.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def _unsafe(name: str) -> bool:
    """Absolute paths, drive letters and ``..`` parts (zip slip)."""
    posix = name.replace("\\", "/")
    return (
        posix.startswith("/")
        or bool(re.match(r"^[A-Za-z]:", posix))
        or (".." in PurePosixPath(posix).parts)
    )
