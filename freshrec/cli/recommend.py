"""Top-K lists from a saved model, for the ``recommend`` command."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from freshrec.base import RecommenderBase
from freshrec.cli.options import load_source
from freshrec.log import open_log
from freshrec.persist import atomic_write_text

__all__ = ["recommend_users"]


def recommend_users(
    model_dir: Path,
    users: list[str],
    *,
    k: int,
    include_seen: bool,
    out: Path | None,
    console: Console,
    log_url: str | None = None,
) -> None:
    """Print the top-``k`` items of each user, or write them as TSV to ``out``.

    A saved model holds no events: unless ``include_seen``, the users' seen items are read
    from the event log at ``log_url``, else from the data the model was fitted on (loaded
    again), and left out. A user the model has never seen is served by its fallback (item
    popularity for most models), and the output says so.
    """
    model = RecommenderBase.load(model_dir)
    if not include_seen:
        _attach_history(model, log_url, console)
    lines = ["user\trank\titem\tscore"]
    unknown = []
    for raw in users:
        user = _as_model_id(model, raw)
        if user not in model.user_map_:
            unknown.append(raw)
        top = model.recommend(user, k=k, exclude_seen=not include_seen)
        lines += [f"{raw}\t{rank}\t{s.item}\t{s.score:.6g}" for rank, s in enumerate(top, 1)]
        if out is None:
            note = "unknown user: the model's fallback" if user not in model.user_map_ else None
            table = Table("rank", "item", "score", title=f"top {k} for {escape(raw)}", caption=note)
            for rank, scored in enumerate(top, start=1):
                table.add_row(str(rank), escape(str(scored.item)), f"{scored.score:.6g}")
            console.print(table)
    if unknown:
        shown = ", ".join(unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        console.print(
            f"{len(unknown):,} of {len(users):,} users unknown to the model ({escape(shown)}): "
            "served by its fallback"
        )
    if out is not None:
        atomic_write_text(out, "\n".join(lines) + "\n")
        console.print(f"wrote {len(lines) - 1} rows to {out}")


def _attach_history(model: RecommenderBase, log_url: str | None, console: Console) -> None:
    """Attach the log at ``log_url``, else a log of the data the model was fitted on."""
    if log_url is not None:
        model.attach(open_log(log_url))
        return
    source = getattr(model, "source_", None)
    if source is None:
        console.print("the model does not say what it was fitted on: seen items are kept")
        return
    with console.status(f"reading {escape(str(source['dataset']))} for the users' seen items"):
        log = open_log("memory://")
        log.append(load_source(source).events)
    model.attach(log)


def _as_model_id(model: RecommenderBase, raw: str) -> int | str:
    """Command-line ids are text; use the int form when the model's ids are ints."""
    if raw not in model.user_map_ and raw.lstrip("-").isdigit() and int(raw) in model.user_map_:
        return int(raw)
    return raw
