"""Run the embedded service under uvicorn until SIGINT or SIGTERM: in-flight requests finish,
the learner checkpoints and stops, then uvicorn ends the process by the signal it caught.

Examples
--------
>>> callable(serve_forever)
True
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from freshrec.serving.embedded import EmbeddedService
from freshrec.serving.settings import Settings

__all__ = ["serve_forever"]


def serve_forever(
    settings: Settings,
    data_dir: Path,
    model: str,
    strategy: str,
    *,
    say: Callable[[str], None] = print,
    **service: Any,
) -> None:
    """Serve ``model`` kept fresh by ``strategy`` from ``data_dir`` (``service``: the
    :class:`EmbeddedService` options) on ``settings.host:settings.port``.

    Examples
    --------
    >>> import inspect
    >>> "settings" in inspect.signature(serve_forever).parameters
    True
    """
    with EmbeddedService(data_dir, model, strategy, **service) as embedded:
        app = embedded.app(settings)
        where = f"http://{settings.host}:{settings.port}"
        say(f"freshrec serving on {where} (API docs at {where}/docs); log {embedded.log_url}")
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
