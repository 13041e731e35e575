"""Run an app under uvicorn: :func:`serve_forever` until SIGINT or SIGTERM (in-flight requests
finish, the learner checkpoints and stops, then uvicorn ends the process by the signal it
caught), or :func:`serve_in_thread` beside other work (the demo, tests, benchmarks).

Examples
--------
>>> callable(serve_forever)
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from freshrec.live.ope_gate import OffPolicyGate
from freshrec.serving.embedded import EmbeddedService
from freshrec.serving.settings import ExploreSettings, Settings

__all__ = ["serve_forever", "serve_in_thread"]


@contextmanager
def serve_in_thread(app: Any, timeout_s: float = 60.0) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread of this process; yield its URL and
    shut it down (after the requests in flight) on leaving.

    Examples
    --------
    >>> import json, urllib.request
    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> _ = app.get("/ping")(lambda: {"pong": True})
    >>> with serve_in_thread(app) as url:
    ...     json.loads(urllib.request.urlopen(f"{url}/ping").read())
    {'pong': True}
    """
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="freshrec-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


def serve_forever(
    settings: Settings,
    data_dir: Path,
    model: str,
    strategy: str,
    *,
    say: Callable[[str], None] = print,
    explore: ExploreSettings | None = None,
    **service: Any,
) -> None:
    """Serve ``model`` kept fresh by ``strategy`` from ``data_dir`` (``service``: the
    :class:`EmbeddedService` options) on ``settings.host:settings.port``; exploring
    requests draw with ``explore`` (default: :meth:`ExploreSettings.from_env`), and the
    learner's off-policy gate values versions at its temperature and floor unless
    ``service`` gives an ``ope`` gate (or ``None``: none).

    Examples
    --------
    >>> import inspect
    >>> "settings" in inspect.signature(serve_forever).parameters
    True
    """
    explore = ExploreSettings.from_env() if explore is None else explore
    service.setdefault("ope", OffPolicyGate(temperature=explore.temperature, floor=explore.floor))
    with EmbeddedService(data_dir, model, strategy, **service) as embedded:
        app = embedded.app(settings, explore)
        where = f"http://{settings.host}:{settings.port}"
        say(f"freshrec serving on {where} (API docs at {where}/docs); log {embedded.log_url}")
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
