"""Top-K lists from a saved model, for the ``recommend`` command."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from freshrec.base import RecommenderBase
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
) -> None:
    """Print (one user) or write as TSV (``out``) the top-``k`` items of each user."""
    model = RecommenderBase.load(model_dir)
    lines = ["user\trank\titem\tscore"]
    table = Table("rank", "item", "score", title=f"top {k}")
    for raw in users:
        user = _as_model_id(model, raw)
        exclude = () if include_seen else model.seen_items(user)
        for rank, scored in enumerate(model.recommend(user, k=k, exclude=exclude), start=1):
            lines.append(f"{raw}\t{rank}\t{scored.item}\t{scored.score:.6g}")
            if len(users) == 1:
                table.add_row(str(rank), str(scored.item), f"{scored.score:.4f}")
    if out is not None:
        atomic_write_text(out, "\n".join(lines) + "\n")
        console.print(f"wrote {len(lines) - 1} rows to {out}")
    if len(users) == 1:
        console.print(table)


def _as_model_id(model: RecommenderBase, raw: str) -> int | str:
    """Command-line ids are text; use the int form when the model's ids are ints."""
    if raw not in model.user_map_ and raw.lstrip("-").isdigit() and int(raw) in model.user_map_:
        return int(raw)
    return raw
