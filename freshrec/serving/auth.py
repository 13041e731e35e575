"""API keys: stored hashed, compared in constant time, each with scopes.

A key is 32 random bytes in URL-safe base64, shown once when it is made; the keys file holds
only its SHA-256 and its scopes (``read``: recommendations; ``ingest``: events; ``admin``:
models and catalogue writes). Requests carry it as ``Authorization: Bearer KEY``.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "keys.json"
>>> key = add_key(path, {"read"})
>>> keys = ApiKeys.load(path)
>>> keys.scopes(key), keys.scopes("guess")
(frozenset({'read'}), None)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from freshrec.persist import atomic_write_text

__all__ = ["SCOPES", "ApiKeys", "add_key"]

SCOPES = frozenset({"read", "ingest", "admin"})


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKeys:
    """Hashed keys and their scopes.

    Examples
    --------
    >>> keys = ApiKeys(((_digest("k1"), frozenset({"admin"})),))
    >>> keys.scopes("k1")
    frozenset({'admin'})
    """

    entries: tuple[tuple[str, frozenset[str]], ...]

    @classmethod
    def load(cls, path: str | Path) -> ApiKeys:
        """The keys in ``path`` (written by :func:`add_key`)."""
        records = json.loads(Path(path).read_text(encoding="utf-8"))
        entries = []
        for i, record in enumerate(records):
            scopes = frozenset(record.get("scopes", ()))
            if not isinstance(record.get("sha256"), str) or not scopes <= SCOPES:
                raise ValueError(
                    f"{path}: key {i} needs a sha256 and scopes among {sorted(SCOPES)}"
                )
            entries.append((record["sha256"], scopes))
        return cls(tuple(entries))

    def scopes(self, key: str) -> frozenset[str] | None:
        """The scopes of ``key``, ``None`` when it is not one of the keys; every stored hash
        is compared, in constant time."""
        digest = _digest(key)
        found: frozenset[str] | None = None
        for stored, scopes in self.entries:
            if hmac.compare_digest(stored, digest):
                found = scopes
        return found


def add_key(path: str | Path, scopes: Iterable[str]) -> str:
    """Make a new key with ``scopes``, add its hash to the keys file ``path`` (created when
    missing) and return the key: the only time it is shown.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "keys.json"
    >>> key = add_key(path, ["read", "ingest"])
    >>> sorted(ApiKeys.load(path).scopes(key)), key in path.read_text()
    (['ingest', 'read'], False)
    """
    wanted = frozenset(scopes)
    if not wanted or not wanted <= SCOPES:
        raise ValueError(f"scopes must be among {sorted(SCOPES)}, got {sorted(wanted)}")
    path = Path(path)
    records = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    key = secrets.token_urlsafe(32)
    records.append({"sha256": _digest(key), "scopes": sorted(wanted)})
    atomic_write_text(path, json.dumps(records, indent=2))
    path.chmod(0o600)  # hashes only, but nobody else's business
    return key
