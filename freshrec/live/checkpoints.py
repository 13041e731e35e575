"""Checkpoints of a learning model: numbered folders, the newest one that verifies wins.

Each checkpoint is a model folder (see :mod:`freshrec.persist`: written under a temporary
name, fsynced, renamed into place, manifest with checksums last) named after the number of
log events it has learned, ``c000000120000``. Loading tries the newest first and falls back
to older ones when a checkpoint is torn or corrupt (a checksum that does not match, a file cut
short, a manifest that is not valid), and says which ones it skipped.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from freshrec.base import RecommenderBase

__all__ = ["CheckpointStore"]

_NAME = re.compile(r"^c\d{12}$")


class CheckpointStore:
    """Numbered checkpoints of one model in folder ``path``; the latest ``keep`` are kept.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import MostPopular
    >>> store = CheckpointStore(tempfile.mkdtemp(), keep=2)
    >>> for n in (64, 128, 192):
    ...     _ = store.save(MostPopular().fit(checkerboard_events()[:n]), position=n)
    >>> store.names()
    ['c000000000128', 'c000000000192']
    >>> model, skipped = store.latest()
    >>> model.n_events_, skipped
    (192, [])
    """

    def __init__(self, path: str | os.PathLike[str], *, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.path = Path(path)
        self.keep = keep

    def names(self) -> list[str]:
        """The checkpoint folders present, oldest first (complete or not)."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if _NAME.match(p.name))

    def save(self, model: RecommenderBase, *, position: int) -> Path:
        """Save ``model``, which has learned the log's first ``position`` events; remove
        checkpoints beyond the latest ``keep``. The folder written."""
        folder = self.path / f"c{position:012d}"
        model.save(folder)
        names = self.names()
        for name in names[: max(len(names) - self.keep, 0)]:
            shutil.rmtree(self.path / name, ignore_errors=True)
        return folder

    def drop_after(self, position: int) -> None:
        """Remove the checkpoints of more than ``position`` events (a learner that went back
        to an earlier model must not restart from them).

        Examples
        --------
        >>> import tempfile
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models import MostPopular
        >>> store = CheckpointStore(tempfile.mkdtemp(), keep=3)
        >>> for n in (64, 128):
        ...     _ = store.save(MostPopular().fit(checkerboard_events()[:n]), position=n)
        >>> store.drop_after(100); store.names()
        ['c000000000064']
        """
        for name in self.names():
            if int(name[1:]) > position:
                shutil.rmtree(self.path / name, ignore_errors=True)

    def latest(self) -> tuple[RecommenderBase | None, list[str]]:
        """The newest checkpoint that loads whole (``None`` when none does), and a line per
        newer one skipped as torn or corrupt."""
        skipped: list[str] = []
        for name in reversed(self.names()):
            try:
                return RecommenderBase.load(self.path / name), skipped
            except (OSError, ValueError, KeyError, TypeError) as err:
                skipped.append(f"{name}: {err}")
        return None, skipped
