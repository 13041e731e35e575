"""``create_app(store, settings)``: the FastAPI application over a :class:`ModelStore`.

Routes live in :mod:`freshrec.serving.routes`; this module wires them, the API keys, the body
limit, the latency histogram, the store's background thread and the dashboard's history
sampler (both started and stopped with the app). OpenAPI at ``/docs`` and ``/openapi.json``;
a page for people at ``/dashboard``.

Examples
--------
>>> import tempfile
>>> from fastapi.testclient import TestClient
>>> from freshrec.live import Registry
>>> from freshrec.log import open_log
>>> store = ModelStore(Registry(tempfile.mkdtemp()), open_log("memory://"))
>>> with TestClient(create_app(store)) as client:
...     client.get("/healthz").json(), client.get("/readyz").status_code
({'status': 'ok'}, 503)
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freshrec.live.decisions import DecisionLog
from freshrec.log import open_log
from freshrec.serving.auth import ApiKeys
from freshrec.serving.deps import Context
from freshrec.serving.explore import Explorer
from freshrec.serving.history import Gauges
from freshrec.serving.ingest import UserRateLimit
from freshrec.serving.metrics import Metrics
from freshrec.serving.routes import dashboard, events, health, items, models, recommend
from freshrec.serving.settings import ExploreSettings, Settings
from freshrec.serving.store import ModelStore

__all__ = ["create_app"]


def create_app(
    store: ModelStore,
    settings: Settings | None = None,
    *,
    learner_lag: Callable[[], int | None] | None = None,
    poll_s: float = 0.2,
    on_stop: Callable[[], None] | None = None,
    explore: ExploreSettings | None = None,
    decisions: DecisionLog | None = None,
) -> FastAPI:
    """The service over ``store``: ``learner_lag`` reports the learner's lag for
    ``/metrics`` (``None``: not known here); the store refreshes every ``poll_s``;
    ``on_stop`` runs when the app shuts down, after the last request. Exploring
    recommendations draw with ``explore`` and are recorded in ``decisions`` (default: a
    decision log in memory, lost with the process; an
    :class:`~freshrec.serving.embedded.EmbeddedService` keeps one beside its event log).

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.live import Registry
    >>> from freshrec.log import open_log
    >>> app = create_app(ModelStore(Registry(tempfile.mkdtemp()), open_log("memory://")))
    >>> sorted(path for path in app.openapi()["paths"] if path.startswith("/v1/models"))
    ['/v1/models', '/v1/models/rollback', '/v1/models/{version}/promote']
    """
    settings = settings or Settings()
    keys = ApiKeys.load(settings.keys_file) if settings.keys_file is not None else None
    context = Context(
        store=store,
        settings=settings,
        metrics=Metrics(),
        keys=keys,
        rate_limit=UserRateLimit(settings.user_events_per_s, settings.user_burst),
        learner_lag=learner_lag or (lambda: None),
        explorer=Explorer(
            store,
            decisions if decisions is not None else DecisionLog(open_log("memory://")),
            explore,
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.refresh()
        # Everything imported and loaded so far lives as long as the process: a full
        # collection walks it all (about 110 ms with torch and FastAPI loaded, a stall of
        # every request); frozen, collections only walk what requests and swaps allocate.
        gc.collect()
        gc.freeze()
        # A swap loads a version on one thread while requests wait for the interpreter
        # lock: handing it over every 1 ms instead of 5 ms bounds how long they wait.
        sys.setswitchinterval(0.001)
        store.start(poll_s)
        context.metrics.history.start(lambda: _gauges(context))
        try:
            yield
        finally:
            context.metrics.history.stop()  # before on_stop closes the log it reads
            store.stop()
            if on_stop is not None:
                on_stop()

    app = FastAPI(
        title="freshrec",
        summary="Recommendations from models that learn while they serve.",
        version="1",
        lifespan=lifespan,
    )
    app.state.context = context
    for module in (events, recommend, items, models, health, dashboard):
        app.include_router(module.router)
    app.add_middleware(_Timed, metrics=context.metrics)
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)
    return app


class _BodyLimit:
    """Answers 413 to a body larger than ``max_bytes`` (by its Content-Length, or as it
    streams in)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, max_bytes: int) -> None:
    body = f'{{"detail":"the body is larger than {max_bytes} bytes"}}'.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Timed:
    """Observes each request's time in the latency histogram, by route template, and in
    the dashboard's history."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.latency.labels(
                method=scope["method"], route=path, status=str(status)
            ).observe(elapsed)
            self.metrics.history.observe(elapsed)


def _gauges(context: Context) -> Gauges:
    """The lags and the serving version now, for the dashboard's history (no users' state
    lag before a version serves: there is no users' state yet)."""
    store = context.store
    serving = store.current()
    if serving is None:
        return Gauges(learner_lag=context.learner_lag(), user_state_lag=None, version=None)
    return Gauges(
        learner_lag=context.learner_lag(),
        user_state_lag=store.user_state_lag(),
        version=serving.version,
    )
