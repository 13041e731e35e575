"""``freshrec serve`` (the HTTP service) and ``freshrec keys add`` (its API keys).

The service needs the ``serve`` extra (FastAPI, uvicorn, prometheus-client); it is imported
when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from freshrec.cli.options import ExploreFloor, ExploreTemperature, OffPolicy, explore_and_gate
from freshrec.errors import FreshrecError

__all__ = ["keys_app", "serve"]

console = Console()
keys_app = typer.Typer(help="API keys of the HTTP service (stored hashed).", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        Path, typer.Option(help="Folder of the event log (events.db) and the registry.")
    ] = Path("freshrec-data"),
    log: Annotated[
        str | None, typer.Option(help="Another event log (sqlite:///PATH or redis://...).")
    ] = None,
    registry: Annotated[Path | None, typer.Option(help="Another registry folder.")] = None,
    model: Annotated[str, typer.Option(help="The model the learner keeps fresh.")] = "bpr",
    strategy: Annotated[str, typer.Option(help="Its update strategy.")] = "streaming",
    learn: Annotated[
        bool, typer.Option(help="Run the learner in this process (--no-learn: a replica).")
    ] = True,
    candidate_every: Annotated[
        int, typer.Option(min=1, help="The learner publishes a candidate every N events.")
    ] = 2_000,
    guard_events: Annotated[
        int, typer.Option(min=1, help="Held-out events the guard checks a candidate on.")
    ] = 500,
    index: Annotated[
        str,
        typer.Option(
            help="Retrieval: exact (score every item), hnsw (approximate, then exact "
            "re-scoring; for large catalogues) or flat (an exact faiss index)."
        ),
    ] = "exact",
    ef_search: Annotated[
        int, typer.Option(min=1, help="HNSW search depth (larger: better recall, slower).")
    ] = 128,
    keys_file: Annotated[
        Path | None, typer.Option(help="API keys (freshrec keys add); default: none.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow a non-loopback --host without API keys.")
    ] = False,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Hyperparameter, model.param=value.")
    ] = None,
    explore_temperature: ExploreTemperature = None,
    explore_floor: ExploreFloor = None,
    ope: OffPolicy = True,
) -> None:
    """Serve recommendations over HTTP while learning from the events posted to it."""
    from freshrec.config import parse_overrides
    from freshrec.serving.settings import Settings

    try:
        from freshrec.serving.run import serve_forever
    except ModuleNotFoundError as err:  # fastapi, uvicorn or prometheus-client
        raise FreshrecError(
            f"freshrec serve needs the serve extra ({err.name} is missing): "
            "pip install 'freshrec[serve]'"
        ) from err

    given: dict[str, Any] = {"keys_file": keys_file} if keys_file is not None else {}
    settings = Settings.from_env(host=host, port=port, insecure=insecure, **given)
    if settings.keys_file is None and not settings.is_loopback and not settings.insecure:
        raise FreshrecError(
            f"--host {host} is reachable from other machines: give --keys-file (freshrec keys "
            "add), or --insecure to serve without keys"
        )
    if index not in ("exact", "flat", "hnsw"):
        raise FreshrecError(f"--index must be exact, flat or hnsw, got {index!r}")
    from freshrec.serving.retrieval import ItemIndex

    explore, gate = explore_and_gate(explore_temperature, explore_floor, ope)
    serve_forever(
        settings,
        data_dir,
        model,
        strategy,
        log_url=log,
        registry_dir=registry,
        learn=learn,
        overrides=parse_overrides(set_ or []),
        candidate_every=candidate_every,
        guard_events=guard_events,
        index=None if index == "exact" else ItemIndex(index, ef_search=ef_search),
        say=lambda line: console.print(escape(line)),
        explore=explore,
        ope=gate,
    )


@keys_app.command("add")
def add(
    file: Annotated[Path, typer.Option(help="The keys file (created when missing).")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, ingest, admin.")] = "read",
) -> None:
    """Make a new API key, store its hash in --file and print the key (shown only now)."""
    from freshrec.serving.auth import add_key

    try:
        key = add_key(file, [s.strip() for s in scopes.split(",") if s.strip()])
    except ValueError as err:
        raise FreshrecError(str(err)) from err
    console.print(escape(key), soft_wrap=True)
