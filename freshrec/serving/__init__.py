"""The HTTP service: a FastAPI app over the live registry and event log, and its Python client.

:class:`Client` needs only the standard library; the service itself (:func:`create_app`,
:class:`ModelStore`, :class:`EmbeddedService`, :class:`Settings`) needs the ``serve`` extra
and is imported when first used.

Examples
--------
>>> from freshrec.serving import Client
>>> Client("http://127.0.0.1:8000").base_url
'http://127.0.0.1:8000'
"""

from __future__ import annotations

import importlib
from typing import Any

from freshrec.serving.client import Client, MonotonicReads, ServiceError

__all__ = [
    "Client",
    "EmbeddedService",
    "ModelStore",
    "MonotonicReads",
    "ServiceError",
    "Settings",
    "create_app",
]

_LAZY = {
    "create_app": "freshrec.serving.app",
    "EmbeddedService": "freshrec.serving.embedded",
    "ModelStore": "freshrec.serving.store",
    "Settings": "freshrec.serving.settings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
