"""A small Python client for the freshrec HTTP API (v1), on the standard library only.

:class:`Client` keeps one keep-alive connection (``http.client``) and reopens it once when the
server has closed it in the meantime. It is **not thread-safe**: use one client per thread (the
load generator in ``benchmarks/loadgen.py`` gives each worker its own).
"""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import numpy as np

from freshrec import __version__
from freshrec.data.batch import EventBatch
from freshrec.data.events import Event
from freshrec.typing import Context, ItemId, UserId

__all__ = ["Client", "ServiceError", "jsonable_events"]

# Errors that mean "the server closed this keep-alive connection before answering": the
# request is sent again, once, on a new connection (only when the old one had served before).
_STALE_CONNECTION = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


class ServiceError(RuntimeError):
    """The service answered with a non-2xx status.

    Parameters
    ----------
    status
        The HTTP status code.
    detail
        The ``detail`` field of the JSON error body (a string, or a list of validation errors
        for 422), else the body as text.

    Examples
    --------
    >>> error = ServiceError(404, "unknown version 'v9'")
    >>> error.status, str(error)
    (404, "HTTP 404: unknown version 'v9'")
    >>> str(ServiceError(422, [{"loc": ["body", "k"], "msg": "too large"}]))
    'HTTP 422: [{"loc": ["body", "k"], "msg": "too large"}]'
    """

    def __init__(self, status: int, detail: object) -> None:
        self.status = status
        self.detail = detail
        text = detail if isinstance(detail, str) else json.dumps(detail, default=str)
        super().__init__(f"HTTP {status}: {text}")

    def __reduce__(self) -> tuple[type[ServiceError], tuple[int, object]]:
        return type(self), (self.status, self.detail)


class Client:
    """Calls a freshrec service over one persistent HTTP/1.1 connection.

    Not thread-safe: one ``Client`` per thread. Each JSON method returns the parsed answer and
    raises :class:`ServiceError` on a non-2xx status; :meth:`request` never raises on a status.
    Connection errors and timeouts (``OSError``, ``TimeoutError``) propagate after the
    connection is closed; the next call opens a new one.

    When the server has closed an idle keep-alive connection, the request is sent again, once,
    on a new connection. The server never answered the first attempt, but it may have read
    it; ingestion is safe to resend (events are deduplicated by ``event_id``).

    Parameters
    ----------
    base_url
        ``http://host:port`` (or ``https://``), optionally with a path prefix.
    api_key
        Sent as ``Authorization: Bearer <api_key>`` when given.
    timeout_s
        Socket timeout for connecting and for each read, in seconds.

    Examples
    --------
    A stand-in server that echoes the path, and wants a key on ``/v1`` routes:

    >>> import json, threading
    >>> from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    >>> class Echo(BaseHTTPRequestHandler):
    ...     def do_GET(self):
    ...         allowed = not self.path.startswith("/v1") or self.headers["Authorization"]
    ...         answer = {"path": self.path} if allowed else {"detail": "missing API key"}
    ...         body = json.dumps(answer).encode()
    ...         self.send_response(200 if allowed else 401)
    ...         self.send_header("Content-Length", str(len(body)))
    ...         self.end_headers()
    ...         self.wfile.write(body)
    ...     def log_message(self, *args):
    ...         pass
    >>> server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    >>> threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    >>> url = f"http://127.0.0.1:{server.server_port}"
    >>> with Client(url, api_key="secret") as client:
    ...     print(client.health())
    ...     print(client.recommend("ann/b c", k=3)["path"])
    {'path': '/healthz'}
    /v1/users/ann%2Fb%20c/recommendations?k=3&exclude_seen=true
    >>> with Client(url) as anonymous:
    ...     try:
    ...         anonymous.models()
    ...     except ServiceError as error:
    ...         print(error.status, error.detail)
    401 missing API key
    >>> server.shutdown(); server.server_close()
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/prefix], got {base_url!r}")
        self.base_url = base_url
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._connection: http.client.HTTPConnection | None = None
        self._answered = 0  # responses read on the current connection

    # -- the service's routes -----------------------------------------------------------------
    def send_events(
        self, events: EventBatch | Iterable[Mapping[str, Any] | Event]
    ) -> dict[str, Any]:
        """``POST /v1/events``: append events; see :func:`jsonable_events` for the conversion.

        Returns ``{"accepted", "duplicate", "rejected", "rejections", "cursor"}``.
        """
        return self._json("POST", "/v1/events", {"events": jsonable_events(events)})

    def recommend(self, user: UserId, k: int = 10, *, exclude_seen: bool = True) -> dict[str, Any]:
        """``GET /v1/users/{user}/recommendations``: the top ``k`` items for ``user``.

        The user id is percent-quoted (``/`` too), so any id fits in the path.
        """
        query = urlencode({"k": k, "exclude_seen": "true" if exclude_seen else "false"})
        return self._json("GET", f"/v1/users/{quote(str(user), safe='')}/recommendations?{query}")

    def recommend_for(
        self,
        user: UserId,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[ItemId] | np.ndarray | None = None,
        context: Context | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/recommendations``: the top ``k`` (among ``candidates``), in ``context``."""
        body = {
            "user": _plain(user),
            "k": k,
            "exclude_seen": exclude_seen,
            "candidates": None if candidates is None else [_plain(c) for c in candidates],
            "context": None if context is None else {key: _plain(v) for key, v in context.items()},
        }
        return self._json("POST", "/v1/recommendations", body)

    def models(self) -> dict[str, Any]:
        """``GET /v1/models``: the serving version, the labels and every version."""
        return self._json("GET", "/v1/models")

    def promote(self, version: str) -> dict[str, Any]:
        """``POST /v1/models/{version}/promote``: serve ``version`` (404 if unknown)."""
        return self._json("POST", f"/v1/models/{quote(version, safe='')}/promote")

    def rollback(self) -> dict[str, Any]:
        """``POST /v1/models/rollback``: serve the previous version again (409 if none)."""
        return self._json("POST", "/v1/models/rollback")

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: ``{"status": "ok"}`` while the process is up."""
        return self._json("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        """``GET /readyz``: ``{"status": "ready", "version": ...}``; raises on 503 (not ready)."""
        return self._json("GET", "/readyz")

    def metrics(self) -> str:
        """``GET /metrics``: the Prometheus text exposition."""
        status, data = self.request("GET", "/metrics")
        if not 200 <= status < 300:
            raise ServiceError(status, _detail(data))
        return data.decode("utf-8")

    # -- plumbing -------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        """Send one request and return ``(status, body bytes)``; never raises on a status.

        ``path`` starts with ``/`` (and carries any query string). ``body`` is ``None``, raw
        ``bytes``, or a JSON-able value (sent as JSON; NaN is refused).
        """
        payload: bytes | None
        headers = {"User-Agent": f"freshrec-client/{__version__}"}
        if body is None or isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in (1, 2):
            reused = self._connection is not None and self._answered > 0
            connection = self._connect()
            try:
                connection.request(method, self._prefix + path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except _STALE_CONNECTION:
                self.close()
                if reused and attempt == 1:
                    continue  # the server closed the idle connection: reconnect once
                raise
            except BaseException:
                self.close()  # the connection's state is unknown (timeout, interrupt, ...)
                raise
            if response.will_close:
                self.close()
            else:
                self._answered += 1
            return response.status, data
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the connection (a later call opens a new one).

        Examples
        --------
        >>> client = Client(); client.close(); client.close()
        """
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._answered = 0

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = cls(self._host, self._port, timeout=self.timeout_s)
            self._answered = 0
        return self._connection

    def _json(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        status, data = self.request(method, path, body)
        if not 200 <= status < 300:
            raise ServiceError(status, _detail(data))
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ServiceError(status, f"expected a JSON object, got {data[:200]!r}")
        return answer


def jsonable_events(
    events: EventBatch | Iterable[Mapping[str, Any] | Event],
) -> list[dict[str, Any]]:
    """Events as the JSON objects ``POST /v1/events`` takes, with plain Python values.

    An :class:`~freshrec.data.EventBatch` gives ``event_id``, ``user``, ``item``, ``value``,
    ``timestamp``, ``context`` and ``propensity`` for the columns it has (numpy scalars become
    ``int``/``float``/``str``; a missing context value, NaN or ``None``, is left out). Mappings
    are copied with numpy values made plain; :class:`~freshrec.data.Event` objects lose their
    ``None`` fields.

    Examples
    --------
    >>> batch = EventBatch.from_events([Event(1, 7, 5.0, timestamp=3.0, event_id="e1")])
    >>> jsonable_events(batch)
    [{'event_id': 'e1', 'user': 1, 'item': 7, 'value': 5.0, 'timestamp': 3.0}]
    >>> jsonable_events([{"user": np.int64(2), "item": "a"}])
    [{'user': 2, 'item': 'a'}]
    """
    if isinstance(events, EventBatch):
        return _batch_events(events)
    out = []
    for event in events:
        if isinstance(event, Event):
            pairs = ((f.name, getattr(event, f.name)) for f in fields(event))
            out.append({name: _plain(value) for name, value in pairs if value is not None})
        else:
            out.append({str(name): _plain(value) for name, value in event.items()})
    return out


def _batch_events(batch: EventBatch) -> list[dict[str, Any]]:
    columns: dict[str, list[Any]] = {}
    for name in ("event_id", "user", "item", "value", "timestamp"):
        column = getattr(batch, name)
        if column is not None:
            columns[name] = [_plain(v) for v in column.tolist()]
    rows = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    for key, column in (batch.context or {}).items():
        for row, value in zip(rows, column.tolist(), strict=True):
            value = _plain(value)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                row.setdefault("context", {})[key] = value
    if batch.propensity is not None:
        for row, propensity in zip(rows, batch.propensity.tolist(), strict=True):
            row["propensity"] = propensity
    return rows


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays as Python values; mappings and sequences converted inside."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _detail(data: bytes) -> object:
    """The ``detail`` of a FastAPI-style error body, else the body as text."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")
    if isinstance(parsed, dict) and "detail" in parsed:
        return parsed["detail"]
    return parsed
