"""A rich progress bar for a known number of steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["step_progress"]


@contextmanager
def step_progress(console: Console, label: str, total: int) -> Iterator[Callable[[str], None]]:
    """Yield ``advance(description)``, which moves the bar one step.

    ``label`` and the descriptions are shown as written (square brackets are not markup).

    Examples
    --------
    >>> from rich.console import Console
    >>> with step_progress(Console(quiet=True), "fitting", 2) as advance:
    ...     advance("model a"); advance("model b")
    """
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(escape(label), total=total)

        def advance(description: str) -> None:
            progress.update(task, advance=1, description=escape(f"{label}: {description}"))

        yield advance
