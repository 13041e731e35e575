"""Every script in examples/ runs (with --quick) and prints what its docstring promises."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script):
    result = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "an example prints what it shows"


def test_the_quick_mode_is_spelled_quick_everywhere():
    files = [
        *EXAMPLES,
        *(REPO_ROOT / "docs").rglob("*.md"),
        *(REPO_ROOT / "benchmarks").glob("*.py"),
    ]
    files += [REPO_ROOT / "README.md", REPO_ROOT / "BENCHMARKS.md"]
    spelled_small = [path.name for path in files if "--small" in path.read_text()]
    assert not spelled_small, f"use --quick, as `freshrec case --quick` does: {spelled_small}"
