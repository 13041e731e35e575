"""The service's settings: the only place environment variables are read.

Examples
--------
>>> Settings().host, Settings().max_batch_events
('127.0.0.1', 10000)
>>> Settings.from_env({"FRESHREC_PORT": "9000", "FRESHREC_INSECURE": "1"}).port
9000
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """How the service runs and what it accepts.

    Parameters
    ----------
    host, port
        Where it listens (loopback by default).
    keys_file
        JSON file of hashed API keys (``freshrec keys add``); ``None``: no keys, every route
        open (refused on a non-loopback host unless ``insecure``).
    insecure
        Allow a non-loopback bind without keys.
    max_body_bytes
        Largest request body (413 above).
    max_batch_events
        Most events in one ``POST /v1/events`` (413 above).
    user_events_per_s
        Per-user ingest rate (a token bucket holding ``user_burst`` events); events over it
        are rejected one by one with a reason.
    user_burst
        The bucket's size.
    max_future_s
        Events stamped further than this in the future are rejected.
    max_k
        Largest ``k`` of a recommendation request.

    Examples
    --------
    >>> Settings(port=0).port
    0
    """

    host: str = "127.0.0.1"
    port: int = 8000
    keys_file: Path | None = None
    insecure: bool = False
    max_body_bytes: int = 1_000_000
    max_batch_events: int = 10_000
    user_events_per_s: float = 100.0
    user_burst: int = 1_000
    max_future_s: float = 86_400.0
    max_k: int = 1_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **given: Any) -> Settings:
        """Settings from ``FRESHREC_<FIELD>`` variables (``FRESHREC_KEYS_FILE``,
        ``FRESHREC_MAX_BODY_BYTES``, ...), then ``given`` on top."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            text = environ.get(f"FRESHREC_{spec.name.upper()}")
            if text is None:
                continue
            kind = type(getattr(cls(), spec.name))
            if spec.name == "keys_file":
                values[spec.name] = Path(text)
            elif kind is bool:
                values[spec.name] = text.strip().lower() in {"1", "true", "yes", "on"}
            else:
                try:
                    values[spec.name] = kind(text)
                except ValueError as err:
                    raise ValueError(f"FRESHREC_{spec.name.upper()}={text!r}: {err}") from err
        return replace(cls(), **{**values, **given})

    @property
    def is_loopback(self) -> bool:
        """Whether :attr:`host` is reachable only from this machine."""
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")
