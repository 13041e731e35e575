"""What routes share: the app's state and the API-key check.

Examples
--------
>>> require("read").__name__
'require_read'
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from freshrec.serving.auth import SCOPES, ApiKeys
from freshrec.serving.explore import Explorer
from freshrec.serving.ingest import UserRateLimit
from freshrec.serving.metrics import Metrics
from freshrec.serving.settings import Settings
from freshrec.serving.store import ModelStore

__all__ = ["Context", "Ctx", "context", "require"]


@dataclass
class Context:
    """Everything a route may use, kept on ``app.state.context``.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.live import Registry
    >>> from freshrec.log import open_log
    >>> from freshrec.live import DecisionLog
    >>> store = ModelStore(Registry(tempfile.mkdtemp()), open_log("memory://"))
    >>> explorer = Explorer(store, DecisionLog(open_log("memory://")))
    >>> ctx = Context(store, Settings(), Metrics(), None, UserRateLimit(1.0, 5), lambda: None,
    ...               explorer)
    >>> ctx.learner_lag() is None
    True
    """

    store: ModelStore
    settings: Settings
    metrics: Metrics
    keys: ApiKeys | None
    rate_limit: UserRateLimit
    learner_lag: Callable[[], int | None]  # events the learner has not learned (None: unknown)
    explorer: Explorer  # exploring answers, recorded in its decision log


async def context(request: Request) -> Context:
    """The app's :class:`Context` (a FastAPI dependency; ``async``, as every dependency that
    does no I/O here: a plain ``def`` would cost each request a trip through the threadpool).

    Examples
    --------
    >>> import asyncio
    >>> from types import SimpleNamespace
    >>> request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(context="ctx")))
    >>> asyncio.run(context(request))
    'ctx'
    """
    found: Context = request.app.state.context
    return found


Ctx = Annotated[Context, Depends(context)]  # a route's parameter: the app's Context


def require(scope: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that lets a request through only with a key holding ``scope`` (every
    request when no keys are configured).

    Examples
    --------
    >>> require("admin").__name__
    'require_admin'
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def check(request: Request) -> None:
        keys = (await context(request)).keys
        if keys is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        scopes = keys.scopes(key.strip()) if scheme.lower() == "bearer" and key else None
        if scopes is None:
            raise HTTPException(
                401,
                "a valid API key is needed: Authorization: Bearer KEY",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope not in scopes:
            raise HTTPException(403, f"this key lacks the {scope!r} scope")

    check.__name__ = f"require_{scope}"
    return check
