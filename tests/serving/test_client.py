"""The HTTP client against a stdlib stand-in server (not the real app)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest

from freshrec.data import EventBatch
from freshrec.data.events import Event
from freshrec.serving.client import Client, ServiceError


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which TCP connection (1, 2, ...) carried it

    def json(self) -> Any:
        return json.loads(self.body)


# respond(request) -> (status, JSON-able answer or raw bytes), or None to hang up unanswered
Responder = Callable[[Recorded], tuple[int, object] | None]


class FakeServer:
    """A keep-alive HTTP/1.1 server on a free port that records requests.

    ``delay_s`` is slept before each answer; ``close_after`` holds request numbers (0-based)
    after whose answer the server closes the connection without saying so.
    """

    def __init__(self, respond: Responder | None = None, *, delay_s: float = 0.0) -> None:
        self.respond: Responder = respond or (lambda request: (200, {"path": request.path}))
        self.delay_s = delay_s
        self.close_after: set[int] = set()
        self.requests: list[Recorded] = []
        self.connections = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with fake.lock:
                    fake.connections += 1
                    self.number = fake.connections

            def handle_request(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorded = Recorded(
                    self.command, self.path, dict(self.headers.items()), body, self.number
                )
                with fake.lock:
                    index = len(fake.requests)
                    fake.requests.append(recorded)
                answer = fake.respond(recorded)
                if answer is None:
                    self.close_connection = True  # hang up without answering
                    return
                time.sleep(fake.delay_s)
                status, payload = answer
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if index in fake.close_after:
                    self.close_connection = True

            do_GET = do_POST = handle_request

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and left: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeServer:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield server


def test_the_bearer_header_is_sent_only_with_an_api_key(fake):
    with Client(fake.url, api_key="s3cret") as client:
        client.models()
    with Client(fake.url) as client:
        client.models()
    assert fake.requests[0].headers["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in fake.requests[1].headers


def test_one_connection_is_kept_alive_across_requests(fake):
    with Client(fake.url) as client:
        for _ in range(5):
            assert client.health() == {"path": "/healthz"}
    assert fake.connections == 1


def test_an_event_batch_with_numpy_int_ids_becomes_json_ints(fake):
    batch = EventBatch(
        user=np.array([1, 2], dtype=np.int64),
        item=np.array([10, 20], dtype=np.int32),
        value=np.array([1.0, 0.5]),
        timestamp=np.array([100.0, 101.5]),
        context={
            "position": np.array([1.0, np.nan]),
            "device": np.array(["ios", None], dtype=object),
        },
        propensity=np.array([0.25, 0.5]),
        event_id=np.array([7, 8]),
    )
    with Client(fake.url) as client:
        client.send_events(batch)
    request = fake.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/events")
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "events": [
            {
                "event_id": 7,
                "user": 1,
                "item": 10,
                "value": 1.0,
                "timestamp": 100.0,
                "context": {"position": 1.0, "device": "ios"},
                "propensity": 0.25,
            },
            {
                "event_id": 8,
                "user": 2,
                "item": 20,
                "value": 0.5,
                "timestamp": 101.5,
                "propensity": 0.5,
            },
        ]
    }
    first = request.json()["events"][0]
    assert all(type(first[key]) is int for key in ("event_id", "user", "item"))
    assert b'"user":1,' in request.body  # an int, not "1" nor 1.0


def test_object_ids_stay_strings_and_missing_columns_are_left_out(fake):
    batch = EventBatch.from_events([Event("ann", "matrix"), Event("bob", 42, value=3.0)])
    with Client(fake.url) as client:
        client.send_events(batch)
    assert fake.requests[0].json()["events"] == [
        {"user": "ann", "item": "matrix", "value": 1.0},
        {"user": "bob", "item": 42, "value": 3.0},
    ]


def test_lists_of_dicts_and_events_are_made_plain(fake):
    events = [
        {"event_id": "e1", "user": np.int64(3), "item": np.str_("a"), "value": np.float32(2)},
        Event("ann", "b", timestamp=5.0),
    ]
    with Client(fake.url) as client:
        client.send_events(events)
    assert fake.requests[0].json()["events"] == [
        {"event_id": "e1", "user": 3, "item": "a", "value": 2.0},
        {"user": "ann", "item": "b", "value": 1.0, "timestamp": 5.0},
    ]


def test_recommend_for_posts_candidates_and_context(fake):
    with Client(fake.url) as client:
        client.recommend_for(
            np.int64(5), k=3, exclude_seen=False, candidates=np.array([1, 2]), context={"h": 9}
        )
    request = fake.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/recommendations")
    assert request.json() == {
        "user": 5,
        "k": 3,
        "exclude_seen": False,
        "candidates": [1, 2],
        "context": {"h": 9},
        "explore": False,
    }


@pytest.mark.parametrize("user", ["a/b c", "ann", 42, "100%/é?x#y"])
def test_user_ids_are_quoted_in_the_path(fake, user):
    with Client(fake.url) as client:
        client.recommend(user, k=5, exclude_seen=False)
    path, query = fake.requests[0].path.split("?")
    segment = path.removeprefix("/v1/users/").removesuffix("/recommendations")
    assert "/" not in segment and " " not in segment
    assert unquote(segment) == str(user)
    assert query == "k=5&exclude_seen=false"


def test_the_admin_routes_and_their_methods(fake):
    with Client(fake.url) as client:
        client.promote("v 1")
        client.rollback()
        client.ready()
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/v1/models/v%201/promote"),
        ("POST", "/v1/models/rollback"),
        ("GET", "/readyz"),
    ]


def test_a_base_url_path_prefix_is_kept():
    with FakeServer() as server, Client(server.url + "/api/") as client:
        assert client.health() == {"path": "/api/healthz"}


def test_errors_raise_service_error_with_the_status_and_detail():
    answers = {
        "/v1/models/v9/promote": (404, {"detail": "unknown version 'v9'"}),
        "/v1/models/rollback": (409, {"detail": "nothing to roll back to"}),
        "/readyz": (503, {"detail": "no model version is serving"}),
        "/v1/recommendations": (422, {"detail": [{"loc": ["body", "k"], "msg": "bad"}]}),
        "/metrics": (500, b"Internal Server Error"),
    }
    with FakeServer(lambda r: answers[r.path]) as server, Client(server.url) as client:
        calls = [
            lambda: client.promote("v9"),
            client.rollback,
            client.ready,
            lambda: client.recommend_for("ann"),
            client.metrics,
        ]
        caught = []
        for call in calls:
            with pytest.raises(ServiceError) as info:
                call()
            caught.append(info.value)
        assert [e.status for e in caught] == [404, 409, 503, 422, 500]
        assert caught[0].detail == "unknown version 'v9'"
        assert str(caught[0]) == "HTTP 404: unknown version 'v9'"
        assert caught[3].detail == [{"loc": ["body", "k"], "msg": "bad"}]
        assert caught[4].detail == "Internal Server Error"
        assert isinstance(caught[2], RuntimeError)
        # the low-level call reports the status instead of raising
        assert client.request("GET", "/readyz") == (
            503,
            b'{"detail": "no model version is serving"}',
        )
        assert server.connections == 1  # error answers keep the connection


def test_metrics_returns_text():
    with (
        FakeServer(lambda r: (200, b"# HELP up\nup 1\n")) as server,
        Client(server.url) as client,
    ):
        assert client.metrics() == "# HELP up\nup 1\n"


def test_a_connection_closed_by_the_server_is_reopened_once(fake):
    fake.close_after.add(0)  # the server closes the connection after its first answer
    with Client(fake.url) as client:
        assert client.health() == {"path": "/healthz"}
        time.sleep(0.05)  # let the close reach the client
        assert client.recommend("ann")["path"].startswith("/v1/users/ann/")
    assert fake.connections == 2
    assert [r.connection for r in fake.requests] == [1, 2]  # the second request, sent once


def test_reconnection_is_tried_once_only(fake):
    with Client(fake.url) as client:
        client.health()
        fake.respond = lambda request: None  # from now on, hang up on everything
        with pytest.raises(ConnectionError):
            client.health()
    assert fake.connections == 2
    assert len(fake.requests) == 3


def test_a_fresh_connection_that_fails_is_not_retried(fake):
    fake.respond = lambda request: None
    with Client(fake.url) as client, pytest.raises(ConnectionError):
        client.health()
    assert fake.connections == 1


def test_a_timeout_raises_and_the_next_call_reconnects():
    with FakeServer(delay_s=0.5) as server, Client(server.url, timeout_s=0.1) as client:
        with pytest.raises(TimeoutError):
            client.health()
        server.delay_s = 0.0
        client.timeout_s = 10.0  # the new connection's; 0.1 s failed on a loaded machine
        assert client.health() == {"path": "/healthz"}
        assert server.connections == 2


def test_a_bad_base_url_is_refused():
    with pytest.raises(ValueError, match="base_url"):
        Client("127.0.0.1:8000")
