"""``--set`` overrides for hyperparameters, parsed safely (``ast.literal_eval``, never ``eval``)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["model_params", "parse_overrides"]


def parse_overrides(pairs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Parse ``scope.param=value`` strings into ``{scope: {param: value}}``.

    ``scope`` is ``model`` (every model that has the parameter) or a model's short name.
    Values are Python literals; anything else is kept as a string.

    Examples
    --------
    >>> parse_overrides(["model.n_factors=32", "bpr.lr=0.01", "popular.half_life_s=None"])
    {'model': {'n_factors': 32}, 'bpr': {'lr': 0.01}, 'popular': {'half_life_s': None}}
    """
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        scope, dot, name = key.strip().rpartition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--set expects scope.param=value (e.g. model.lr=0.01), got {pair!r}")
        try:
            value: Any = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw.strip()
        out.setdefault(scope, {})[name] = value
    return out


def model_params(
    name: str, cls: type, overrides: dict[str, dict[str, Any]], base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Constructor arguments for model ``name``: ``base``, then ``model.*``, then ``name.*``.

    ``model.*`` entries apply only where ``cls`` has the parameter; ``name.*`` entries must
    exist. Values are checked against the type of the default (ints are accepted for floats).

    Examples
    --------
    >>> from freshrec.models import MostPopular
    >>> model_params("popular", MostPopular, {"model": {"half_life_s": 60.0, "lr": 1}})
    {'half_life_s': 60.0}
    >>> model_params("popular", MostPopular, {"popular": {"threshold": "high"}})
    Traceback (most recent call last):
    ...
    ValueError: popular.threshold: expected float, got 'high'
    """
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    params = dict(base or {})
    for key, value in overrides.get("model", {}).items():
        if key in defaults:
            params[key] = value
    for key, value in overrides.get(name, {}).items():
        if key not in defaults:
            raise ValueError(f"{name} has no parameter {key!r}; valid: {sorted(defaults)}")
        params[key] = value
    for key, value in params.items():
        params[key] = _coerce(f"{name}.{key}", value, defaults[key])
    return params


def _coerce(where: str, value: Any, default: Any) -> Any:
    if default is inspect.Parameter.empty or default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif (
        isinstance(default, float)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return float(value)
    elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif (
        isinstance(default, (tuple, list))
        and isinstance(value, Sequence)
        and not isinstance(value, str)
    ):
        return type(default)(value)
    elif isinstance(value, type(default)):
        return value
    raise ValueError(f"{where}: expected {type(default).__name__}, got {value!r}")
