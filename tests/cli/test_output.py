"""What commands print: tables keep every figure whole, square brackets survive rich markup."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import typer.main
from rich.console import Console
from typer.testing import CliRunner

from freshrec.cases.common import case_table
from freshrec.cli.main import app
from freshrec.evaluation.arena import ArenaRun, WindowRecord
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.arena_report import arena_results
from freshrec.jobs.report import Results, figures_table, rich_table
from freshrec.progress import step_progress

STRATEGIES = ("frozen", "full", "finetune-replay", "streaming", "adaptive")


def _piped(width: int = 80) -> Console:
    """A console as a command has when its output goes to a file: not a terminal."""
    console = Console(file=io.StringIO(), width=width)
    assert not console.is_terminal
    return console


def _printed(renderable: object, width: int = 80) -> str:
    console = _piped(width)
    console.print(renderable)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert all(len(line) <= width for line in text.splitlines())
    return text


@pytest.fixture
def arena() -> Results:
    """Five strategies over three seeds, with measures up to thousands (compute seconds)."""
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(3):
        records = [
            WindowRecord(
                w,
                s,
                {
                    "ndcg@10": rng.uniform(0.01, 0.3),
                    "recall@10 returning": rng.uniform(0.0, 0.5),
                    "forgetting": rng.uniform(-0.1, 0.1),
                },
                compute_s=rng.uniform(0.0, 5000.0),
                model_mb=rng.uniform(1.0, 300.0),
            )
            for w in range(4)
            for s in STRATEGIES
        ]
        runs.append(ArenaRun(windows=records))
    return arena_results(runs, [0, 1, 2], dataset="ml-100k", params={})


def test_a_wide_arena_table_prints_every_figure_whole_in_80_columns(arena: Results) -> None:
    text = _printed(rich_table(arena))
    assert "…" not in text
    words = set(text.split())
    for row in arena.rows:
        half = (row.ci95[1] - row.ci95[0]) / 2
        assert f"{row.value:.4f}" in words, (row.model, row.metric)
        assert f"{half:.4f}" in words, (row.model, row.metric)


def test_a_case_table_with_many_metrics_prints_every_figure_whole() -> None:
    metrics = [f"{name}@{k}" for name in ("recall", "ndcg", "hit") for k in (5, 10, 20)]
    rows = [
        ResultRow(model, metric, 0.1234 + 0.01 * i, (0.0, 0.0))
        for model in ("two-tower", "content", "content+cf", "hybrid")
        for i, metric in enumerate(metrics)
    ]
    results = Results("case news", "mind-small-sample", "impressions", rows=rows)
    text = _printed(case_table(results))
    assert "…" not in text
    for row in rows:
        assert f"{row.value:.4f}" in text.split()


def test_counts_print_as_whole_numbers() -> None:
    rows = [
        ResultRow("bpr", "convergence_events", 12000.0, (12000.0, 12000.0), (12000.0,)),
        ResultRow("bpr", "prequential", 0.25, (0.25, 0.25), (0.25,)),
    ]
    text = _printed(rich_table(Results("prequential", "toy", "prequential", rows=rows)))
    assert "12,000" in text.split() and "12000.0000" not in text and "0.2500" in text


def test_square_brackets_are_printed_as_written() -> None:
    table = figures_table("extra [online]", ["model", "[a]"], [["needs [text]", "1.0"]])
    text = _printed(table)
    assert "extra [online]" in text and "needs [text]" in text and "[a]" in text
    console = _piped()
    with step_progress(console, "fit [online]", 1) as advance:
        advance("river [online]")
    assert "fit [online]: river [online]" in console.file.getvalue()  # type: ignore[attr-defined]


def _commands(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "-" for p, _ in COMMANDS])
def test_help_texts_keep_their_square_brackets(path: tuple[str, ...], command: object) -> None:
    texts = [getattr(command, "help", None) or ""]
    texts += [getattr(param, "help", None) or "" for param in getattr(command, "params", [])]
    bracketed = {m.replace("\\[", "[") for t in texts for m in re.findall(r"\\?\[\w[^\]]*\]", t)}
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for words in bracketed:
        assert words in result.output, f"{' '.join(path)} --help lost {words}"
