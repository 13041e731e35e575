"""``freshrec demo``: the main job, offline, a couple of minutes on 2 cores.

It loads ML-100K when the data folder has it (else the built-in synthetic stream), trains
every classical model on a per-user temporal split, evaluates them side by side and writes
``results.json``, ``report.md`` and ``comparison.png``. Then it keeps BPR fresh over the
stream with a small update arena (:data:`DEMO_STRATEGIES`, :data:`DEMO_WINDOWS` windows
after a warm start on the first half) and writes that report into ``arena/``. Last, with the
``serve`` extra, it starts the HTTP service (empty, learning in-process), replays the first
:data:`LIVE_EVENTS` events through the Python client while asking for recommendations, and
reports freshness and latency (``live/live.json``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from freshrec.data.batch import EventBatch
from freshrec.data.registry import SYNTHETIC, load_dataset
from freshrec.jobs.arena import run_arena_job
from freshrec.jobs.arena_report import write_arena
from freshrec.jobs.evaluate import run_evaluation
from freshrec.jobs.report import Results, rich_table
from freshrec.progress import step_progress

__all__ = ["DEMO_MODELS", "DEMO_STRATEGIES", "DEMO_WINDOWS", "LIVE_EVENTS", "run_demo"]

DEMO_MODELS = ("popular", "item-knn", "user-knn", "biased-mf", "bpr", "als")
DEMO_STRATEGIES = ("frozen", "full", "finetune-replay", "streaming", "adaptive")
DEMO_WINDOWS = 5
LIVE_EVENTS = 20_000


def run_demo(
    out: Path,
    *,
    data_dir: Path | None,
    cache_dir: Path | None = None,
    console: Console | None = None,
) -> tuple[Results, list[Path]]:
    """Run the demo and write its report into ``out``; return the results and written files.

    Examples
    --------
    >>> import tempfile
    >>> results, written = run_demo(Path(tempfile.mkdtemp()), data_dir=None)  # doctest: +SKIP
    >>> [p.name for p in written][:3]  # doctest: +SKIP
    ['results.json', 'report.md', 'comparison.png']

    (Skipped here for time; ``tests/cli/test_cli.py`` runs the demo end to end.)
    """
    console = console or Console()
    found = data_dir is not None and (data_dir / "ml-100k" / "u.data").is_file()
    name = "ml-100k" if found else SYNTHETIC
    data = load_dataset(name, data_dir or Path("."), cache_dir=cache_dir)
    console.print(
        f"[bold]freshrec demo[/bold] on {escape(name)}: {len(data.events):,} events, "
        f"{data.n_users:,} users, {data.n_items:,} items; "
        "protocol temporal-user (last 20% per user)"
    )
    from freshrec.models import REGISTRY

    models = [m for m in DEMO_MODELS if m in REGISTRY]
    with step_progress(console, "training", len(models)) as advance:
        results = run_evaluation(
            data,
            models,
            "temporal-user",
            seeds=[0],
            command="demo",
            on_step=lambda model, seed: advance(model),
        )
    console.print(rich_table(results))
    written = results.write(out)
    steps = 1 + DEMO_WINDOWS * len(DEMO_STRATEGIES)
    with step_progress(console, "arena: keeping bpr fresh", steps) as advance:
        arena, runs = run_arena_job(
            data, "bpr", DEMO_STRATEGIES, n_windows=DEMO_WINDOWS, on_step=advance
        )
    console.print(rich_table(arena))
    written += write_arena(out / "arena", arena, runs)
    return results, written + _live(data.events, out / "live", console)


def _live(events: EventBatch, out: Path, console: Console) -> list[Path]:
    """The live part (skipped, and said so, without the ``serve`` extra)."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        console.print("live service: skipped (pip install -e '.[serve]' to see it)")
        return []
    from freshrec.jobs.live_demo import run_live_demo

    n_events = min(LIVE_EVENTS, len(events))
    with step_progress(console, "live: serving while learning", n_events // 100) as advance:
        report = run_live_demo(
            events, out, n_events=n_events, on_batch=lambda sent: advance(f"{sent:,} events")
        )
    table = Table("live service (bpr, streaming, guarded versions)", "figure")
    for what, figure in report.rows():
        table.add_row(escape(what), escape(figure))
    console.print(table)
    return [out / "live.json"]
