"""The service's settings: the only place environment variables are read.

:class:`Settings` says how the service runs and what it accepts; :class:`ExploreSettings`
how an exploring recommendation draws its answer (``FRESHREC_EXPLORE_*``).

Examples
--------
>>> Settings().host, Settings().max_batch_events
('127.0.0.1', 10000)
>>> Settings.from_env({"FRESHREC_PORT": "9000", "FRESHREC_INSECURE": "1"}).port
9000
>>> ExploreSettings.from_env({"FRESHREC_EXPLORE_TEMPERATURE": "0.5"}).temperature
0.5
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["ExploreSettings", "Settings"]


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
        values = _from_env(cls(), "FRESHREC_", environ, {"keys_file": Path})
        return replace(cls(), **{**values, **given})

    @property
    def is_loopback(self) -> bool:
        """Whether :attr:`host` is reachable only from this machine."""
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")


@dataclass(frozen=True)
class ExploreSettings:
    """How ``POST /v1/recommendations`` answers a request with ``explore: true``: a
    :class:`~freshrec.bandits.ScorePolicy` over the serving model's scores.

    Parameters
    ----------
    temperature
        Softmax temperature, in score units (> 0): low is nearly the model's ranking, high
        nearly uniform.
    floor
        Least probability of every item of the pool; ``floor * pool`` must not exceed 1.
    pool
        The policy chooses among the ``pool`` best-scored items of the candidates (all items
        the model knows when the request gives none), after seen and deleted items are left
        out: propensities are relative to that pool.
    draws
        Monte Carlo slates behind the propensities of positions after the first (a share
        ``q`` has standard error ``sqrt(q (1 - q) / draws)``; the first is exact).
    seed
        Seed of the generator that seeds each decision (``None``: fresh entropy).

    Examples
    --------
    >>> ExploreSettings().pool
    200
    >>> ExploreSettings(floor=0.01, pool=500)
    Traceback (most recent call last):
    ...
    ValueError: floor * pool must be <= 1 (every item keeps at least floor), got 0.01 * 500
    """

    temperature: float = 1.0
    floor: float = 0.0
    pool: int = 200
    draws: int = 1_000
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.pool < 1 or self.draws < 1:
            raise ValueError(f"pool and draws must be >= 1, got {self.pool}, {self.draws}")
        if self.floor < 0:
            raise ValueError(f"floor must be >= 0, got {self.floor}")
        if self.floor * self.pool > 1:
            raise ValueError(
                "floor * pool must be <= 1 (every item keeps at least floor), "
                f"got {self.floor} * {self.pool}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **given: Any) -> ExploreSettings:
        """Settings from ``FRESHREC_EXPLORE_<FIELD>`` variables
        (``FRESHREC_EXPLORE_TEMPERATURE``, ``FRESHREC_EXPLORE_FLOOR``, ...), then ``given``
        on top."""
        values = _from_env(cls(), "FRESHREC_EXPLORE_", environ, {"seed": int})
        return replace(cls(), **{**values, **given})


def _from_env(
    defaults: Any,
    prefix: str,
    environ: Mapping[str, str] | None,
    kinds: Mapping[str, Callable[[str], Any]],
) -> dict[str, Any]:
    """The fields of dataclass ``defaults`` that ``environ`` sets as ``<prefix><FIELD>``,
    parsed by ``kinds[name]`` or by the type of the default."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for spec in fields(defaults):
        name = f"{prefix}{spec.name.upper()}"
        text = environ.get(name)
        if text is None:
            continue
        kind = kinds.get(spec.name, type(getattr(defaults, spec.name)))
        if kind is bool:
            values[spec.name] = text.strip().lower() in {"1", "true", "yes", "on"}
            continue
        try:
            values[spec.name] = kind(text)
        except ValueError as err:
            raise ValueError(f"{name}={text!r}: {err}") from err
    return values
