"""The model registry: a folder of versions, labels moved atomically, a journal of decisions.

Layout of a registry folder::

    registry.json        {"format": 1, "next": 7, "labels": {"stable": "v000005", ...}}
    journal.jsonl        one JSON line per decision: publish, promote, rollback, reject, retire
    versions/v000006/    a model folder (see :mod:`freshrec.persist`), manifest written last

A version is a saved model, written atomically (temp folder, fsync, rename, manifest with
checksums last), carrying the log cursor it has learned up to (``cursor_``). The labels
``stable`` (what servers use), ``candidate`` (published, not yet promoted) and ``previous``
(the stable version before the last promotion) live in ``registry.json``, rewritten atomically
under a file lock, so every label move is one atomic step. The journal records each decision
with its reason (a rejected candidate's, for one); a torn last line (a writer killed mid-line)
is skipped when read. Retention keeps the latest ``keep`` versions and every labelled one, and
removes only version folders the registry wrote.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freshrec.base import RecommenderBase
from freshrec.persist import atomic_write_text

__all__ = ["LABELS", "Registry", "RegistryError", "VersionInfo"]

LABELS = ("stable", "candidate", "previous")
_FORMAT = 1
_VERSION_NAME = re.compile(r"^v\d{6}$")


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (an unknown version, nothing to roll back)."""


@dataclass(frozen=True)
class VersionInfo:
    """One version of the registry, as :meth:`Registry.versions` lists it.

    Attributes
    ----------
    version
        Its name, ``v`` and six digits, in publishing order.
    cursor
        The log cursor the model had learned up to (``None`` for a model without a log).
    n_events
        Events the model has learned.
    created
        When it was published (Unix seconds).
    labels
        The labels on it now.
    metrics
        What was measured when it was published or checked (the guard's figures).

    Examples
    --------
    >>> VersionInfo("v000001", "42", 1000, 0.0, ("stable",)).version
    'v000001'
    """

    version: str
    cursor: str | None
    n_events: int
    created: float
    labels: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)


class Registry:
    """Versions of one model in folder ``path``: publish, promote, roll back, load.

    Parameters
    ----------
    path
        The registry folder (created when missing).
    keep
        Versions kept besides the labelled ones; older ones are removed when a version is
        published.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import MostPopular
    >>> registry = Registry(tempfile.mkdtemp())
    >>> first = registry.publish(MostPopular().fit(checkerboard_events()))
    >>> registry.labels()["candidate"] == first
    True
    >>> registry.promote()
    'v000001'
    >>> type(registry.load("stable")).__name__
    'MostPopular'
    """

    def __init__(self, path: str | os.PathLike[str], *, keep: int = 5) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.path = Path(path)
        self.keep = keep
        (self.path / "versions").mkdir(parents=True, exist_ok=True)

    # -- state ----------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The registry's state under an exclusive file lock; written back atomically."""
        with open(self.path / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = self._read_state()
                before = json.dumps(state, sort_keys=True)
                yield state
                if json.dumps(state, sort_keys=True) != before:
                    atomic_write_text(self.path / "registry.json", json.dumps(state, indent=2))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any]:
        file = self.path / "registry.json"
        if not file.exists():
            return {"format": _FORMAT, "next": 1, "labels": dict.fromkeys(LABELS)}
        state: dict[str, Any] = json.loads(file.read_text())
        if state.get("format") != _FORMAT:
            raise RegistryError(f"{file}: unsupported registry format {state.get('format')!r}")
        return state

    def labels(self) -> dict[str, str | None]:
        """Each label's version (``None`` when unset)."""
        labels: dict[str, str | None] = dict(self._read_state()["labels"])
        return labels

    def _journal(self, action: str, version: str | None, **details: Any) -> None:
        record = {"time": time.time(), "action": action, "version": version, **details}
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        with open(self.path / "journal.jsonl", "a+b") as f:
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a torn last line: end it, or it swallows this record
                    line = b"\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def journal(self) -> list[dict[str, Any]]:
        """Every decision recorded, oldest first (a torn last line is skipped).

        Examples
        --------
        >>> import tempfile
        >>> Registry(tempfile.mkdtemp()).journal()
        []
        """
        file = self.path / "journal.jsonl"
        if not file.exists():
            return []
        records = []
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a killed writer
        return records

    # -- versions -------------------------------------------------------------------------
    def publish(
        self,
        model: RecommenderBase,
        *,
        metrics: Mapping[str, float] | None = None,
        label: str | None = "candidate",
    ) -> str:
        """Save ``model`` as the next version and put ``label`` on it; its name.

        The folder is complete before any label points at it; a publisher killed midway
        leaves at most an unlabelled folder or a temporary one, never a label on a torn
        version.
        """
        if label is not None and label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)} or None, got {label!r}")
        with self._locked() as state:
            version = f"v{state['next']:06d}"
            state["next"] += 1
        model.save(self.path / "versions" / version)
        self._journal(
            "publish",
            version,
            cursor=getattr(model, "cursor_", None),
            n_events=int(model.n_events_),
            metrics=dict(metrics or {}),
        )
        if label is not None:
            with self._locked() as state:
                state["labels"][label] = version
        self._retire()
        return version

    def versions(self) -> list[VersionInfo]:
        """The complete versions on disk, oldest first, with their labels and metrics."""
        published = {r["version"]: r for r in self.journal() if r["action"] == "publish"}
        measured: dict[str, dict[str, float]] = {}
        for record in self.journal():
            if record.get("metrics") and record["version"]:
                measured.setdefault(record["version"], {}).update(record["metrics"])
        labels = self.labels()
        infos = []
        for folder in sorted((self.path / "versions").iterdir()):
            if not _VERSION_NAME.match(folder.name) or not (folder / "manifest.json").exists():
                continue
            record = published.get(folder.name, {})
            infos.append(
                VersionInfo(
                    folder.name,
                    record.get("cursor"),
                    int(record.get("n_events", 0)),
                    float(record.get("time", folder.stat().st_mtime)),
                    tuple(name for name, v in labels.items() if v == folder.name),
                    measured.get(folder.name, {}),
                )
            )
        return infos

    def _resolve(self, ref: str) -> str:
        """The version a label or version name points at."""
        if ref in LABELS:
            version = self.labels()[ref]
            if version is None:
                raise RegistryError(f"no version is {ref} in {self.path}")
            return version
        complete = self.path / "versions" / ref / "manifest.json"  # as versions() lists them
        if not _VERSION_NAME.match(ref) or not complete.exists():
            raise RegistryError(f"{self.path} has no version {ref!r}")
        return ref

    def folder(self, ref: str = "stable") -> Path:
        """The folder of the version ``ref`` (a label or a version name)."""
        return self.path / "versions" / self._resolve(ref)

    def load(self, ref: str = "stable") -> RecommenderBase:
        """The model of ``ref`` (a label or a version name), its checksums verified."""
        return RecommenderBase.load(self.folder(ref))

    def latest(self) -> tuple[str, RecommenderBase] | None:
        """The newest version that loads whole (checksums verified), and its model; older
        ones are tried when newer ones are torn or corrupt. ``None`` when none loads."""
        for info in reversed(self.versions()):
            try:
                return info.version, self.load(info.version)
            except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
                continue
        return None

    # -- labels ---------------------------------------------------------------------------
    def promote(
        self,
        ref: str = "candidate",
        *,
        reason: str = "",
        metrics: Mapping[str, float] | None = None,
    ) -> str:
        """Make ``ref`` stable; the stable version becomes ``previous``. Its name."""
        version = self._resolve(ref)
        with self._locked() as state:
            labels = state["labels"]
            if labels["stable"] != version:
                labels["previous"] = labels["stable"]
                labels["stable"] = version
            if labels["candidate"] == version:
                labels["candidate"] = None
        self._journal("promote", version, reason=reason, metrics=dict(metrics or {}))
        return version

    def reject(
        self,
        ref: str = "candidate",
        *,
        reason: str,
        metrics: Mapping[str, float] | None = None,
        quarantined: Sequence[Any] = (),
    ) -> str:
        """Record that ``ref`` failed a check, and the accounts whose events are set aside
        from now on (``quarantined``); take the candidate label off it."""
        version = self._resolve(ref)
        with self._locked() as state:
            if state["labels"]["candidate"] == version:
                state["labels"]["candidate"] = None
        details: dict[str, Any] = {"reason": reason, "metrics": dict(metrics or {})}
        if quarantined:
            details["quarantined"] = list(quarantined)
        self._journal("reject", version, **details)
        return version

    def quarantined(self) -> list[Any]:
        """Every account a rejection set aside, in the order they were (see :meth:`reject`).

        Examples
        --------
        >>> import tempfile
        >>> Registry(tempfile.mkdtemp()).quarantined()
        []
        """
        return [
            user
            for record in self.journal()
            if record["action"] == "reject"
            for user in record.get("quarantined", [])
        ]

    def rollback(self, *, reason: str = "") -> str:
        """Make ``previous`` stable again (the rolled-back version loses its label). Its name."""
        with self._locked() as state:
            labels = state["labels"]
            if labels["previous"] is None:
                raise RegistryError(f"nothing to roll back to in {self.path}: no previous version")
            rolled_back = labels["stable"]
            labels["stable"], labels["previous"] = labels["previous"], None
            version: str = labels["stable"]
        self._journal("rollback", version, reason=reason, rolled_back=rolled_back)
        return version

    # -- retention ------------------------------------------------------------------------
    def _retire(self) -> None:
        """Remove version folders beyond the latest ``keep``, never a labelled one."""
        labelled = {v for v in self.labels().values() if v is not None}
        names = sorted(
            p.name for p in (self.path / "versions").iterdir() if _VERSION_NAME.match(p.name)
        )
        for name in names[: max(len(names) - self.keep, 0)]:
            if name not in labelled:
                shutil.rmtree(self.path / "versions" / name, ignore_errors=True)
                self._journal("retire", name)
