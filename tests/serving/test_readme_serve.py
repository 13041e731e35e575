"""The README's "Serve" shell session runs as written against a real server on port 8000."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def _serve_block() -> str:
    section = REPO_ROOT.joinpath("README.md").read_text().split("\n## Serve\n", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_the_readme_serve_session_runs(tmp_path: Path) -> None:
    if not _port_free(8000):
        pytest.skip("port 8000 is taken on this machine")
    lines = _serve_block().splitlines()
    assert lines[0].startswith("pip install")  # already installed here: the test's own extra
    script = "set -e\n" + "\n".join(lines[1:])
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.replace("}{", "}\n{").splitlines()  # curl adds no newline
    answers = [json.loads(line) for line in printed if line.startswith("{")]
    health, ready, posted, recommended, models = answers[0], answers[-4], *answers[-3:]
    assert health == {"status": "ok"} and ready["status"] == "ready"
    assert (posted["accepted"], posted["rejected"]) == (1, 1)
    assert posted["rejections"][0]["field"] == "value"
    assert len(recommended["items"]) == 5 and recommended["model_version"] == ready["version"]
    assert models["labels"]["stable"] == ready["version"]
    assert (tmp_path / "serve-demo" / "events.db").exists()
