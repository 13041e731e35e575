"""Option parsing shared by commands: the data folder, seeds, model lists, datasets by name.

This module and ``serving/settings.py`` are the only places that read environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from freshrec.data.dataset import Dataset
from freshrec.errors import FreshrecError

if TYPE_CHECKING:
    from freshrec.live.ope_gate import OffPolicyGate
    from freshrec.serving.settings import ExploreSettings

__all__ = [
    "MODEL_NAMES",
    "DataDir",
    "ExploreFloor",
    "ExploreTemperature",
    "FileOptions",
    "OffPolicy",
    "default_cache_dir",
    "default_data_dir",
    "explore_and_gate",
    "is_file_path",
    "load_named",
    "parse_ints",
    "parse_names",
]


def default_data_dir(given: Path | None) -> Path:
    """``--data-dir``, else ``$FRESHREC_DATA``, else ``~/.freshrec/data`` or ``../shared/data``."""
    if given is not None:
        return given
    if os.environ.get("FRESHREC_DATA"):
        return Path(os.environ["FRESHREC_DATA"])
    home = Path.home() / ".freshrec" / "data"
    shared = Path.cwd().parent / "shared" / "data"
    return shared if shared.is_dir() and not home.is_dir() else home


def default_cache_dir() -> Path:
    """``$FRESHREC_CACHE`` or ``~/.cache/freshrec``."""
    return Path(os.environ.get("FRESHREC_CACHE", Path.home() / ".cache" / "freshrec"))


def parse_ints(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``.

    Examples
    --------
    >>> parse_ints("0, 1,2")
    [0, 1, 2]
    """
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


def parse_names(text: str) -> list[str]:
    """``"bpr, als"`` -> ``["bpr", "als"]``.

    Examples
    --------
    >>> parse_names("bpr, als")
    ['bpr', 'als']
    """
    return [part.strip() for part in text.split(",") if part.strip()]


DataDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder of the catalogue datasets. Default: $FRESHREC_DATA when set, else "
        "../shared/data when it exists and ~/.freshrec/data does not, else ~/.freshrec/data."
    ),
]
"""``--data-dir``, with the lookup order of :func:`default_data_dir` in its help."""

ExploreTemperature = Annotated[
    float | None,
    typer.Option(min=1e-9, help="Softmax temperature of exploring requests (explore: true)."),
]
"""``--explore-temperature``; unset: ``$FRESHREC_EXPLORE_TEMPERATURE`` or 1.0."""

ExploreFloor = Annotated[
    float | None,
    typer.Option(min=0.0, help="Least propensity of any item of an exploring request's pool."),
]
"""``--explore-floor``; unset: ``$FRESHREC_EXPLORE_FLOOR`` or 0.0."""

OffPolicy = Annotated[
    bool,
    typer.Option(
        help="The learner's guard values each candidate off-policy on the exploring decisions "
        "the service logged beside the event log (--no-ope: it does not)."
    ),
]
"""``--ope/--no-ope``: whether the learner's guard has an off-policy gate."""


def explore_and_gate(
    temperature: float | None, floor: float | None, ope: bool
) -> tuple[ExploreSettings, OffPolicyGate | None]:
    """How exploring requests are answered (the options over ``FRESHREC_EXPLORE_*``), and the
    off-policy gate that values versions as those requests' policy (``None`` without ``ope``).

    Examples
    --------
    >>> explore, gate = explore_and_gate(0.5, None, ope=True)
    >>> explore.temperature, gate.temperature, gate.floor
    (0.5, 0.5, 0.0)
    >>> explore_and_gate(None, 0.5, ope=False)
    Traceback (most recent call last):
    ...
    freshrec.errors.FreshrecError: floor * pool must be <= 1 (every item keeps ...), got 0.5 * 200
    """
    from freshrec.live.ope_gate import OffPolicyGate
    from freshrec.serving.settings import ExploreSettings

    chosen = {"temperature": temperature, "floor": floor}
    try:
        explore = ExploreSettings.from_env(
            None, **{k: v for k, v in chosen.items() if v is not None}
        )
    except ValueError as err:
        raise FreshrecError(str(err)) from err
    gate = OffPolicyGate(temperature=explore.temperature, floor=explore.floor) if ope else None
    return explore, gate


MODEL_NAMES = (  # freshrec.models.REGISTRY's names, here so --help needs no model import
    "popular",
    "biased-mf",
    "item-knn",
    "user-knn",
    "bpr",
    "als",
    "content",
    "neumf",
    "sasrec",
    "hstu",
    "gru4rec",
    "caser",
    "fm",
    "deepfm",
    "cfgan",
    "irgan",
    "two-tower",
)


@dataclass(frozen=True)
class FileOptions:
    """How to read a user's own file: ``--sep``, ``--no-header`` and ``--columns``."""

    sep: str | None = None
    header: bool = True
    columns: str | None = None


def is_file_path(dataset: str) -> bool:
    """Whether ``--dataset`` names a file rather than a catalogue entry.

    Examples
    --------
    >>> is_file_path("ml-100k"), is_file_path("data/ratings.csv"), is_file_path("r.txt")
    (False, True, True)
    """
    from freshrec.data.registry import CATALOGUE, SYNTHETIC

    if dataset in CATALOGUE or dataset == SYNTHETIC:
        return False
    return Path(dataset).is_file() or os.sep in dataset or bool(Path(dataset).suffix)


def data_source(
    name: str, data_dir: Path, min_rating: float | None, file: FileOptions
) -> dict[str, Any]:
    """What :func:`load_named` read, as JSON a saved model keeps to find its data again.

    Examples
    --------
    >>> data_source("ml-100k", Path("/data"), 4.0, FileOptions())["min_rating"]
    4.0
    """
    dataset = str(Path(name).resolve()) if is_file_path(name) else name
    return {
        "dataset": dataset,
        "data_dir": str(Path(data_dir).resolve()),
        "min_rating": min_rating,
        "file": {"sep": file.sep, "header": file.header, "columns": file.columns},
    }


def load_source(source: Mapping[str, Any]) -> Dataset:
    """Load the data a :func:`data_source` record names again."""
    return load_named(
        source["dataset"],
        Path(source["data_dir"]),
        min_rating=source["min_rating"],
        file=FileOptions(**source["file"]),
    )


def load_named(
    name: str,
    data_dir: Path,
    *,
    min_rating: float | None = None,
    file: FileOptions | None = None,
) -> Dataset:
    """A catalogue dataset (or ``synthetic``), or a user's own file when ``name`` is a path.

    A catalogue dataset is read from ``data_dir`` through the cache of the environment; a file
    is read leniently (see :func:`freshrec.data.user_files.load_events_file`) as ``file`` says.
    """
    from freshrec.data.registry import clean_dataset, load_dataset
    from freshrec.data.user_files import load_events_file, parse_columns

    file = file or FileOptions()
    if not is_file_path(name):
        if file != FileOptions():
            raise ValueError(
                f"--sep, --no-header and --columns describe a file; {name!r} is a catalogue name"
            )
        return load_dataset(name, data_dir, min_rating=min_rating, cache_dir=default_cache_dir())
    loaded = load_events_file(
        name, sep=file.sep, header=file.header, columns=parse_columns(file.columns)
    )
    return clean_dataset(loaded, min_rating=min_rating)
