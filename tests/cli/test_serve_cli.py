"""`freshrec serve` and `freshrec keys add`: a real server process, stopped and killed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from freshrec.cli.main import main  # noqa: E402
from freshrec.log import open_log  # noqa: E402
from freshrec.serving.auth import ApiKeys  # noqa: E402


def test_keys_add_prints_a_key_the_file_knows(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.json"
    assert main(["keys", "add", "--file", str(path), "--scopes", "read,ingest"]) == 0
    key = capsys.readouterr().out.strip()
    assert ApiKeys.load(path).scopes(key) == frozenset({"read", "ingest"})
    assert main(["keys", "add", "--file", str(path), "--scopes", "root"]) != 0
    assert "scopes must be among" in capsys.readouterr().out


def test_serve_refuses_a_public_interface_without_keys(tmp_path: Path, capsys) -> None:
    code = main(["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert code != 0
    assert "--keys-file" in capsys.readouterr().out
    assert not (tmp_path / "events.db").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "freshrec", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    process.kill()
    raise AssertionError(process.stderr.read().decode() if process.stderr else "no answer")


def _wait_until_learned(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        if b"freshrec_learner_lag_events 0.0" in metrics:
            return
        time.sleep(0.1)
    raise AssertionError("the learner did not catch up in 60 s")


def _post(port: int, events: list[dict]) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/events",
        data=json.dumps({"events": events}).encode(),
        headers={"content-type": "application/json"},
    )
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_every_acknowledged_event_is_in_the_log_after_the_server_stops(
    tmp_path: Path, stop: signal.Signals
) -> None:
    port = _free_port()
    server = _start(tmp_path, port)
    acknowledged = 0
    try:
        for batch in range(8):
            events = [
                {"event_id": f"{batch}-{i}", "user": i % 13, "item": (i * 7) % 11}
                for i in range(200)
            ]
            acknowledged += _post(port, events)["accepted"]
        if stop == signal.SIGTERM:
            _wait_until_learned(port)
    finally:
        server.send_signal(stop)
        code = server.wait(timeout=30)
    assert acknowledged == 1_600
    if stop == signal.SIGTERM:  # a clean stop; uvicorn then ends by the signal it caught
        errors = server.stderr.read().decode() if server.stderr else ""
        assert code in {0, -signal.SIGTERM} and "Traceback" not in errors, errors
        newest = max(p.name for p in (tmp_path / "registry" / "checkpoints").iterdir())
        assert newest == f"c{1_600:012d}"  # written by the learner as it stopped
    with open_log(f"sqlite:///{tmp_path / 'events.db'}") as log:
        assert len(log) == 1_600
