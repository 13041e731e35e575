"""``freshrec datasets list | info | download | export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from freshrec.cli.options import DataDir, default_data_dir, load_named
from freshrec.data.registry import SYNTHETIC, DatasetInfo

__all__ = ["app", "presence"]

app = typer.Typer(help="List, describe, download and export datasets.", no_args_is_help=True)
console = Console()


def presence(info: DatasetInfo, data_dir: Path) -> str:
    """Whether the files ``info`` reads are in ``data_dir``: ``yes``, ``no`` or ``partial``.

    Only that the files exist is checked (``datasets download`` verifies checksums).

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.data.registry import dataset_info
    >>> root = Path(tempfile.mkdtemp())
    >>> presence(dataset_info("ml-100k"), root)
    'no'
    >>> (root / "ml-100k").mkdir(); _ = (root / "ml-100k" / "u.data").write_text("")
    >>> presence(dataset_info("ml-100k"), root)
    'partial (missing u.item, u.user)'
    """
    folder = data_dir / info.folder
    missing = [name for name in info.files if not (folder / name).is_file()]
    if not missing:
        return "yes"
    if len(missing) == len(info.files):
        return "no"
    return f"partial (missing {', '.join(missing)})"


@app.command("list")
def list_(data_dir: DataDir = None) -> None:
    """The datasets freshrec knows, and whether each is present in the data folder."""
    from freshrec.data.registry import list_datasets

    folder = default_data_dir(data_dir)
    rows = [(SYNTHETIC, "built in", "built-in seeded drifting stream (no download)", "generated")]
    rows += [
        (info.name, presence(info, folder), info.description, info.license)
        for info in list_datasets()
    ]
    table = Table(title=escape(f"datasets in {folder}"))
    table.add_column("name", no_wrap=True, min_width=max(len(row[0]) for row in rows))
    table.add_column("present", min_width=len("built in"))
    table.add_column("description", ratio=3, overflow="fold")
    table.add_column("license", ratio=2, overflow="fold")
    for row in rows:
        table.add_row(*map(escape, row))
    console.print(table)


@app.command()
def info(
    name: str,
    data_dir: DataDir = None,
    min_rating: Annotated[float | None, typer.Option(help="Keep ratings >= this value.")] = None,
) -> None:
    """Rows, users, items and time span of a dataset."""
    from freshrec.data.registry import summarize

    data = load_named(name, default_data_dir(data_dir), min_rating=min_rating)
    summary = summarize(data)
    explicit = bool(len(data.events)) and not set(map(float, data.events.value[:1000])) <= {
        0.0,
        1.0,
    }
    table = Table("field", "value", title=escape(name))
    for key, value in summary.items():
        label = ("ratings" if explicit else "events") if key == "rows" else key
        table.add_row(label, escape(f"{value:,}" if isinstance(value, int) else str(value)))
    console.print(table)


@app.command()
def download(
    name: str,
    data_dir: DataDir = None,
    url: Annotated[
        str | None, typer.Option(help="Override the source URL (e.g. a mirror or file://).")
    ] = None,
) -> None:
    """Fetch a dataset's public archive, verify checksums and unpack it atomically."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from freshrec.data.registry import download_dataset

    with Progress(
        *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=console
    ) as progress:
        task = progress.add_task(escape(f"downloading {name}"), total=None)
        target = download_dataset(
            name,
            default_data_dir(data_dir),
            url=url,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(escape(f"{name}: verified and ready in {target}"))


@app.command()
def export(
    name: str,
    protocol: Annotated[
        str,
        typer.Option(
            help="random | temporal-user | temporal-global | loo-full | loo-sampled | loo-hstu"
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for train.tsv / valid.tsv / test.tsv.")],
    seed: Annotated[int, typer.Option(help="Split seed.")] = 0,
    min_rating: Annotated[float | None, typer.Option(help="Keep ratings >= this value.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write a split as plain files so peers can be run on identical data."""
    from freshrec.data.export import export_split
    from freshrec.data.splits import split_by_name

    data = load_named(name, default_data_dir(data_dir), min_rating=min_rating)
    written = export_split(split_by_name(data.events, protocol, seed=seed), out)
    console.print(escape(f"wrote {', '.join(str(p) for p in written)}"))
