"""``freshrec models list | promote | rollback``: the versions of a model registry, by hand.

Thin commands over :class:`~freshrec.live.registry.Registry`; each label move is one atomic
step of the registry and is recorded in its journal with ``--reason``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from freshrec.errors import FreshrecError

if TYPE_CHECKING:
    from freshrec.live.registry import Registry

__all__ = ["app"]

app = typer.Typer(
    help="List the versions of a model registry, promote one, roll back.", no_args_is_help=True
)
console = Console()

RegistryDir = Annotated[
    Path, typer.Option("--registry", help="The registry folder (versions/, registry.json).")
]
ReasonOption = Annotated[str, typer.Option(help="Why, recorded in the registry's journal.")]


@contextmanager
def _opened(path: Path) -> Iterator[Registry]:
    """The registry in ``path`` (never created here); its errors as :class:`FreshrecError`."""
    from freshrec.live.registry import Registry, RegistryError

    if not (path / "versions").is_dir():
        raise FreshrecError(f"no registry at {path}")
    try:
        yield Registry(path)
    except RegistryError as err:
        raise FreshrecError(str(err)) from err


def _created(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metrics(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{name}={value:.4g}" for name, value in sorted(metrics.items()))


@app.command("list")
def list_(registry: RegistryDir) -> None:
    """The complete versions, oldest first: labels, log cursor, events, time, metrics."""
    with _opened(registry) as opened:
        versions = opened.versions()
    table = Table(title=escape(f"versions in {registry}"))
    table.add_column("version", no_wrap=True)
    table.add_column("labels")
    table.add_column("cursor", overflow="fold")
    table.add_column("events", justify="right")
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("metrics", overflow="fold")
    for info in versions:
        table.add_row(
            info.version,
            ", ".join(info.labels),
            escape(info.cursor if info.cursor is not None else "-"),
            f"{info.n_events:,}",
            _created(info.created),
            escape(_metrics(info.metrics)),
        )
    console.print(table if versions else escape(f"no versions in {registry}"))


@app.command()
def promote(
    registry: RegistryDir,
    version: Annotated[
        str,
        typer.Argument(
            metavar="VERSION", help="A version name (v000003) or a label (candidate, previous)."
        ),
    ] = "candidate",
    reason: ReasonOption = "",
) -> None:
    """Make VERSION stable (default: the candidate); the stable version becomes previous."""
    with _opened(registry) as opened:
        before = opened.labels()["stable"]
        promoted = opened.promote(version, reason=reason)
    if before == promoted:
        console.print(escape(f"{promoted} is already stable; nothing moved"))
    else:
        console.print(escape(f"promoted {promoted} to stable (previous: {before or 'none'})"))


@app.command()
def rollback(registry: RegistryDir, reason: ReasonOption = "") -> None:
    """Make the previous version stable again; the rolled-back one loses its label."""
    with _opened(registry) as opened:
        before = opened.labels()["stable"]
        restored = opened.rollback(reason=reason)
    console.print(escape(f"rolled back {before} -> {restored}: {restored} is stable again"))
