"""A small Python client for the freshrec HTTP API (v1), on the standard library only.

:class:`Client` keeps one keep-alive connection (``http.client``) and reopens it once when the
server has closed it in the meantime. It is **not thread-safe**: use one client per thread (the
load generator in ``benchmarks/loadgen.py`` gives each worker its own).

One logical client of several replicas (behind a load balancer, or one :class:`Client` per
replica) can ask for **monotonic reads**: a :class:`MonotonicReads` shared by its clients
remembers the highest model version any of them was answered with and sends it with each
recommendation request (header ``X-Freshrec-Min-Version``), so no later answer comes from an
older version, even from a replica that has not picked up the newest one yet.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
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

__all__ = ["Client", "MonotonicReads", "ServiceError", "jsonable_events"]

# Errors that mean "the server closed this keep-alive connection before answering": the
# request is sent again, once, on a new connection (only when the old one had served before).
_STALE_CONNECTION = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)
MIN_VERSION_HEADER = "X-Freshrec-Min-Version"


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


class MonotonicReads:
    """The highest model version one logical client has been answered with, shared by the
    :class:`Client` objects it talks through (one per replica, or per thread: it is
    thread-safe).

    Each of those clients sends it as ``X-Freshrec-Min-Version`` with every recommendation
    request and raises it with every answer's ``model_version``. A replica that serves an
    older version catches up before it answers (up to 1 s; else 503 with ``Retry-After``),
    so the versions this client sees never go backwards, except after a rollback in the
    registry: then the (older) stable version answers.

    Parameters
    ----------
    version
        The highest version seen so far (``None``: none yet).

    Examples
    --------
    >>> reads = MonotonicReads()
    >>> reads.observe("v000012"); reads.observe("v000009")
    >>> reads.version, reads.headers()
    ('v000012', {'X-Freshrec-Min-Version': 'v000012'})
    >>> MonotonicReads().headers()
    {}

    One client alternating between two replicas (here two stand-in servers that each
    answer with their own version, and record the header they were sent):

    >>> import json, threading
    >>> from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    >>> def replica(version):
    ...     class Replica(BaseHTTPRequestHandler):
    ...         def do_GET(self):
    ...             body = json.dumps({"model_version": version,
    ...                 "asked": self.headers[MIN_VERSION_HEADER]}).encode()
    ...             self.send_response(200)
    ...             self.send_header("Content-Length", str(len(body)))
    ...             self.end_headers()
    ...             self.wfile.write(body)
    ...         def log_message(self, *args):
    ...             pass
    ...     server = ThreadingHTTPServer(("127.0.0.1", 0), Replica)
    ...     threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    ...     return server
    >>> servers = [replica("v000003"), replica("v000002")]
    >>> reads = MonotonicReads()
    >>> clients = [Client(f"http://127.0.0.1:{s.server_port}", reads=reads) for s in servers]
    >>> [(a["model_version"], a["asked"]) for a in (c.recommend("ann") for c in clients)]
    [('v000003', None), ('v000002', 'v000003')]
    >>> reads.version
    'v000003'
    >>> for c, s in zip(clients, servers):
    ...     c.close(); s.shutdown(); s.server_close()
    """

    def __init__(self, version: str | None = None) -> None:
        self._version = version
        self._lock = threading.Lock()

    @property
    def version(self) -> str | None:
        """The highest version seen (``None``: none yet)."""
        return self._version

    def observe(self, version: object) -> None:
        """Raise the highest version seen to ``version`` when it is later (a value that is
        not a version name is ignored)."""
        number = _version_number(version) if isinstance(version, str) else None
        if number is None:
            return
        with self._lock:
            seen = _version_number(self._version) if self._version is not None else None
            if seen is None or number > seen:
                self._version = str(version)

    def headers(self) -> dict[str, str]:
        """The request header that asks for the highest version seen or a later one."""
        version = self._version
        return {} if version is None else {MIN_VERSION_HEADER: version}

    def __repr__(self) -> str:
        return f"MonotonicReads({self._version!r})"


def _version_number(version: str) -> int | None:
    """The number of a registry version name (``v000012``: 12), ``None`` for another text."""
    digits = version[1:]
    return int(digits) if version.startswith("v") and digits.isdigit() else None


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
    reads
        Ask for monotonic reads (see :class:`MonotonicReads`; share one between the clients
        of one logical client): recommendation requests send the highest version seen, and
        answers raise it.

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
        reads: MonotonicReads | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/prefix], got {base_url!r}")
        self.base_url = base_url
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.reads = reads
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
        path = f"/v1/users/{quote(str(user), safe='')}/recommendations?{query}"
        return self._read("GET", path)

    def recommend_for(
        self,
        user: UserId,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[ItemId] | np.ndarray | None = None,
        context: Context | None = None,
        explore: bool = False,
    ) -> dict[str, Any]:
        """``POST /v1/recommendations``: the top ``k`` (among ``candidates``), in ``context``;
        with ``explore``, ``k`` items drawn by the service's policy, with their propensities."""
        body = {
            "user": _plain(user),
            "k": k,
            "exclude_seen": exclude_seen,
            "candidates": None if candidates is None else [_plain(c) for c in candidates],
            "context": None if context is None else {key: _plain(v) for key, v in context.items()},
            "explore": explore,
        }
        return self._read("POST", "/v1/recommendations", body)

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
    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request and return ``(status, body bytes)``; never raises on a status.

        ``path`` starts with ``/`` (and carries any query string). ``body`` is ``None``, raw
        ``bytes``, or a JSON-able value (sent as JSON; NaN is refused). ``headers`` are sent
        besides the client's own.
        """
        payload: bytes | None
        sent = {"User-Agent": f"freshrec-client/{__version__}", **(headers or {})}
        if body is None or isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if payload is not None:
            sent["Content-Type"] = "application/json"
        if self.api_key is not None:
            sent["Authorization"] = f"Bearer {self.api_key}"
        for attempt in (1, 2):
            reused = self._connection is not None and self._answered > 0
            connection = self._connect()
            try:
                connection.request(method, self._prefix + path, body=payload, headers=sent)
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

    def _read(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        """A recommendation request: with :attr:`reads`, sent with the highest version seen,
        and its answer's version observed."""
        if self.reads is None:
            return self._json(method, path, body)
        answer = self._json(method, path, body, self.reads.headers())
        self.reads.observe(answer.get("model_version"))
        return answer

    def _json(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        status, data = self.request(method, path, body, headers=headers)
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
