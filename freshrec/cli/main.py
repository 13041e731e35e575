"""The ``freshrec`` command: one thin command per job.

Every command prints a rich table, shows a progress bar on long work and, where it produces
results, writes ``results.json``, ``report.md`` and PNG plots into ``--out``.
"""

from __future__ import annotations

import importlib
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from freshrec.cli.datasets import app as datasets_app
from freshrec.cli.models import app as models_app
from freshrec.cli.options import (
    MODEL_NAMES,
    DataDir,
    ExploreFloor,
    ExploreTemperature,
    FileOptions,
    OffPolicy,
    data_source,
    default_cache_dir,
    default_data_dir,
    explore_and_gate,
    load_named,
    parse_ints,
    parse_names,
)
from freshrec.cli.serve import keys_app, serve
from freshrec.errors import FreshrecError

if TYPE_CHECKING:
    from freshrec.data.dataset import Dataset

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="freshrec",
    help="Recommender systems that never go stale.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets_app, name="datasets")
app.add_typer(models_app, name="models")
app.add_typer(keys_app, name="keys")
app.command()(serve)
console = Console()
_INTERRUPTED = 130  # the shell's code for a process stopped by SIGINT

DatasetOption = Annotated[
    str,
    typer.Option(
        help="A catalogue name (see `freshrec datasets list`) or a file of your own: "
        ".csv, .tsv, .txt (with --sep), .jsonl or .parquet."
    ),
]
SepOption = Annotated[
    str | None,
    typer.Option(help="Field separator of --dataset FILE (' ', ',', '\\t' or tab, ...)."),
]
NoHeaderOption = Annotated[
    bool, typer.Option("--no-header", help="--dataset FILE has no header line.")
]
ColumnsOption = Annotated[
    str | None,
    typer.Option(
        help="Columns of --dataset FILE: without a header their names in order "
        "(user,item,rating); with one, a mapping (user=uid,item=movie,rating=stars,"
        "timestamp=ts). Default: guessed."
    ),
]
MinRating = Annotated[float | None, typer.Option(help="Keep ratings >= this value.")]
K = Annotated[int, typer.Option(min=1, help="Cut-off of the ranking metrics.")]
_MODELS_HELP = f"one of: {', '.join(MODEL_NAMES)}"
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Hyperparameter override, model.param=value or NAME.param=value."),
]


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for results.json, report.md and plots.")] = Path(
        "freshrec-demo"
    ),
    data_dir: DataDir = None,
) -> None:
    """The main job: train the classical models, evaluate them on a temporal split, report."""
    from freshrec.demo import run_demo

    results, written = run_demo(
        out, data_dir=default_data_dir(data_dir), cache_dir=default_cache_dir(), console=console
    )
    console.print(_wrote(written))


@app.command()
def evaluate(
    dataset: DatasetOption,
    model: Annotated[str, typer.Option(help=f"Model name(s), comma-separated; {_MODELS_HELP}.")],
    protocol: Annotated[
        str,
        typer.Option(
            help="random | temporal-user | temporal-global | loo-full | loo-sampled | loo-hstu"
        ),
    ] = "temporal-user",
    seeds: Annotated[str, typer.Option(help="Training seeds, comma-separated.")] = "0",
    split_seed: Annotated[int, typer.Option(help="Seed of the (fixed) split.")] = 0,
    k: K = 10,
    min_rating: MinRating = None,
    folds: Annotated[
        int, typer.Option(min=0, help="K-fold cross-validation (per-user random folds) instead.")
    ] = 0,
    set_: SetOption = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("freshrec-evaluate"),
    data_dir: DataDir = None,
    sep: SepOption = None,
    no_header: NoHeaderOption = False,
    columns: ColumnsOption = None,
) -> None:
    """Fit models on a split (over several seeds) and report ranking metrics with 95% CIs."""
    from freshrec.config import parse_overrides
    from freshrec.jobs.evaluate import run_evaluation
    from freshrec.jobs.report import rich_table
    from freshrec.progress import step_progress

    if folds == 1:
        raise FreshrecError("--folds must be 0 (a holdout split) or at least 2")
    names, seed_list = parse_names(model), parse_ints(seeds)
    overrides = parse_overrides(set_ or [])
    data = _load(
        dataset, data_dir, min_rating, FileOptions(sep, not no_header, columns), names, overrides
    )
    runs = len(names) * len(seed_list) * max(folds, 1)
    with step_progress(console, "fitting", runs) as advance:
        results = run_evaluation(
            data,
            names,
            protocol,
            seeds=seed_list,
            split_seed=split_seed,
            k=k,
            overrides=overrides,
            folds=folds,
            on_step=lambda name, seed: advance(f"{name} seed {seed}"),
        )
    console.print(rich_table(results))
    console.print(_wrote(results.write(out)))


@app.command()
def tune(
    dataset: DatasetOption,
    model: Annotated[str, typer.Option(help=f"Model name; {_MODELS_HELP}.")],
    trials: Annotated[int, typer.Option(min=1, help="Number of settings to try.")] = 20,
    protocol: Annotated[str, typer.Option(help="Split whose training part is searched.")] = (
        "temporal-user"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the split and the sampler.")] = 0,
    min_rating: MinRating = None,
    set_: SetOption = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("freshrec-tune"),
    data_dir: DataDir = None,
    sep: SepOption = None,
    no_header: NoHeaderOption = False,
    columns: ColumnsOption = None,
) -> None:
    """Choose hyperparameters on a validation split (Optuna TPE; extra \\[tune])."""
    from freshrec.config import parse_overrides
    from freshrec.jobs.report import rich_table
    from freshrec.persist import atomic_write_bytes
    from freshrec.progress import step_progress
    from freshrec.tuning import tune as run_tune

    overrides = parse_overrides(set_ or [])
    data = _load(
        dataset, data_dir, min_rating, FileOptions(sep, not no_header, columns), [model], overrides
    )
    with step_progress(console, f"tuning {model}", trials) as advance:
        result = run_tune(
            data,
            model,
            protocol=protocol,
            n_trials=trials,
            seed=seed,
            fixed=overrides.get(model, {}),
            on_trial=lambda t: advance(f"trial {t.number}: {t.value:.4f}"),
        )
    results = result.to_results(data.name, protocol)
    console.print(rich_table(results))
    best = escape(str(dict(result.best_params)))
    console.print(f"best {result.metric} {result.best_value:.4f} with {best}")
    written = results.write(out)
    atomic_write_bytes(out / "tuning.png", result.plot())
    console.print(_wrote([*written, out / "tuning.png"]))


@app.command()
def fit(
    dataset: DatasetOption,
    model: Annotated[str, typer.Option(help=f"Model name; {_MODELS_HELP}.")],
    out: Annotated[Path, typer.Option(help="Model folder to write.")],
    min_rating: MinRating = None,
    set_: SetOption = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Write the model into an existing folder that holds other files, beside them."
        ),
    ] = False,
    data_dir: DataDir = None,
    sep: SepOption = None,
    no_header: NoHeaderOption = False,
    columns: ColumnsOption = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="Torch models: save the fit to this folder after every epoch and resume the "
            "fit saved there (run the same command again after a stopped process)."
        ),
    ] = None,
) -> None:
    """Fit a model on a whole dataset and save it (JSON + safetensors)."""
    from freshrec.config import model_params, parse_overrides
    from freshrec.models import REGISTRY
    from freshrec.persist import check_writable_model_dir

    if model not in REGISTRY:
        raise FreshrecError(f"unknown model {model!r}; choose from {', '.join(MODEL_NAMES)}")
    check_writable_model_dir(out, force=force)
    overrides = parse_overrides(set_ or [])
    data = _load(
        dataset, data_dir, min_rating, FileOptions(sep, not no_header, columns), [model], overrides
    )
    params = model_params(model, REGISTRY[model], overrides)
    instance = REGISTRY[model](**params)
    if checkpoint is not None:
        if not hasattr(instance, "checkpoint_to"):
            raise FreshrecError(f"--checkpoint: {model} is not a torch model; fit it without")
        instance.checkpoint_to(checkpoint)
    with console.status(f"fitting {escape(model)} on {len(data.events):,} events"):
        fitted = instance.fit(data.events)
    fitted.source_ = data_source(
        dataset, default_data_dir(data_dir), min_rating, FileOptions(sep, not no_header, columns)
    )
    fitted.save(out, force=force)
    console.print(
        escape(f"{fitted!r}: {fitted.n_users:,} users, {fitted.n_items:,} items -> {out}")
    )


@app.command()
def recommend(
    model: Annotated[Path, typer.Option(help="Model folder written by `freshrec fit`.")],
    user: Annotated[str | None, typer.Option(help="One user id.")] = None,
    users: Annotated[Path | None, typer.Option(help="File with one user id per line.")] = None,
    k: Annotated[int, typer.Option(min=1, help="How many items.")] = 10,
    include_seen: Annotated[
        bool,
        typer.Option(
            help="Also recommend items the user has seen (read from the data the model was "
            "fitted on, or from --log)."
        ),
    ] = False,
    log: Annotated[
        str | None,
        typer.Option(help="Event log to read seen items from (sqlite:///PATH, redis://...)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write top-K as TSV (user, rank, item, score).")
    ] = None,
) -> None:
    """Top-K items for one user or for a file of users (printed, or written as TSV)."""
    from freshrec.cli.recommend import recommend_users

    if (user is None) == (users is None):
        raise FreshrecError("give exactly one of --user or --users")
    ids = [user] if user is not None else users.read_text().split()  # type: ignore[union-attr]
    recommend_users(
        model, ids, k=k, include_seen=include_seen, log_url=log, out=out, console=console
    )


@app.command()
def arena(
    dataset: DatasetOption,
    model: Annotated[str, typer.Option(help=f"Model name; {_MODELS_HELP}.")],
    strategies: Annotated[
        str,
        typer.Option(
            help="Comma-separated: frozen, full, finetune, finetune-replay, finetune-ewc, "
            "finetune-distill, streaming, hybrid, on-drift, adaptive."
        ),
    ] = "frozen,full,finetune,finetune-replay,streaming",
    windows: Annotated[int, typer.Option(min=1, help="Windows after the warm start.")] = 20,
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated.")] = "0",
    warm_fraction: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of events in the warm start.",
        ),
    ] = 0.5,
    k: K = 10,
    threads: Annotated[int, typer.Option(min=1, help="Threads for numba/torch (pinned).")] = 1,
    min_rating: MinRating = None,
    set_: SetOption = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("freshrec-arena"),
    data_dir: DataDir = None,
    sep: SepOption = None,
    no_header: NoHeaderOption = False,
    columns: ColumnsOption = None,
) -> None:
    """Update strategies side by side over time windows: quality, compute, churn, forgetting."""
    from freshrec.config import parse_overrides
    from freshrec.jobs.arena import run_arena_job
    from freshrec.jobs.arena_report import write_arena
    from freshrec.jobs.report import rich_table
    from freshrec.progress import step_progress
    from freshrec.threads import pin_threads

    if not 0.0 < warm_fraction < 1.0:
        raise FreshrecError(
            f"--warm-fraction must lie strictly between 0 and 1, got {warm_fraction}"
        )
    pin_threads(threads)
    names, seed_list = parse_names(strategies), parse_ints(seeds)
    overrides = parse_overrides(set_ or [])
    data = _load(
        dataset, data_dir, min_rating, FileOptions(sep, not no_header, columns), [model], overrides
    )
    steps = len(seed_list) * (1 + windows * len(names))
    with step_progress(console, f"arena: {model}", steps) as advance:
        results, runs = run_arena_job(
            data,
            model,
            names,
            n_windows=windows,
            seeds=seed_list,
            overrides=overrides,
            warm_fraction=warm_fraction,
            k=k,
            on_step=advance,
            on_seed=lambda done, runs: write_arena(out, done, runs),
        )
    console.print(rich_table(results))
    console.print(_wrote(write_arena(out, results, runs)))


@app.command()
def prequential(
    dataset: DatasetOption,
    model: Annotated[str, typer.Option(help=f"Model name; {_MODELS_HELP}.")],
    window: Annotated[int, typer.Option(min=1, help="Events per window (test, then learn).")] = (
        1000
    ),
    holdout: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share held out at the end of the stream."),
    ] = 0.1,
    delay: Annotated[int, typer.Option(min=0, help="Windows between a test and its learning.")] = 0,
    label_delay: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Seconds after its timestamp an event's label is known (not --delay)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the model and the churn sample.")] = 0,
    threads: Annotated[int, typer.Option(min=1, help="Threads for numba/torch (pinned).")] = 1,
    min_rating: MinRating = None,
    set_: SetOption = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("freshrec-prequential"),
    data_dir: DataDir = None,
    sep: SepOption = None,
    no_header: NoHeaderOption = False,
    columns: ColumnsOption = None,
) -> None:
    """Test-then-train over the stream: convergence, generalization and stability, plotted."""
    from freshrec.config import parse_overrides
    from freshrec.jobs.prequential import run_prequential_job, write_prequential
    from freshrec.jobs.report import rich_table
    from freshrec.threads import pin_threads

    if holdout >= 1.0:
        raise FreshrecError(f"--holdout must be below 1 (a share of the stream), got {holdout}")
    pin_threads(threads)
    overrides = parse_overrides(set_ or [])
    data = _load(
        dataset, data_dir, min_rating, FileOptions(sep, not no_header, columns), [model], overrides
    )
    with console.status(f"prequential {escape(model)} on {len(data.events):,} events") as status:
        results, run = run_prequential_job(
            data,
            model,
            overrides=overrides,
            window=window,
            holdout_fraction=holdout,
            delay=delay,
            label_delay_s=label_delay,
            seed=seed,
            on_window=lambda done, total: status.update(f"window {done}/{total}"),
        )
    console.print(rich_table(results))
    console.print(_wrote(write_prequential(out, results, run)))


@app.command()
def ope(
    dataset: DatasetOption,
    policy: Annotated[
        str,
        typer.Option(
            help="Policy to judge: uniform, epsilon-greedy, ucb1, thompson, "
            "gaussian-ts, exp3 or softmax."
        ),
    ] = "thompson",
    learn_share: Annotated[
        float,
        typer.Option(min=0.0, max=0.99, help="Share of the rounds (time order) it learns from."),
    ] = 0.5,
    methods: Annotated[
        str,
        typer.Option(help="Estimators, comma-separated: ips, snips, dm, dr, switch-dr, replay."),
    ] = "ips,snips,dm,dr,switch-dr",
    n_bootstrap: Annotated[int, typer.Option(min=10, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the reward model.")] = 0,
    set_: SetOption = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("freshrec-ope"),
    data_dir: DataDir = None,
) -> None:
    """Off-policy evaluation: a policy's value on logged rounds with propensities."""
    from freshrec.config import parse_overrides
    from freshrec.jobs.ope import run_ope_job
    from freshrec.jobs.report import rich_table

    overrides = parse_overrides(set_ or [])
    data = load_named(dataset, default_data_dir(data_dir))
    if data.events.propensity is None:
        raise FreshrecError(
            f"{dataset} has no propensities: off-policy evaluation needs logged bandit data "
            "(e.g. obd-random-all)"
        )
    with console.status(
        f"off-policy evaluation of {escape(policy)} on {len(data.events):,} rounds"
    ):
        results = run_ope_job(
            data,
            policy,
            overrides=overrides,
            learn_share=learn_share,
            methods=[m.strip() for m in methods.split(",") if m.strip()],
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
    console.print(rich_table(results))
    console.print(_wrote(results.write(out)))


@app.command()
def learn(
    log: Annotated[
        str, typer.Option(help="Event log to learn from (sqlite:///PATH, redis://..., memory://).")
    ],
    registry: Annotated[Path, typer.Option(help="Registry folder: versions and checkpoints.")],
    model: Annotated[str, typer.Option(help=f"Model name; {_MODELS_HELP}.")],
    strategy: Annotated[
        str, typer.Option(help="Update strategy (streaming, finetune, ...).")
    ] = "streaming",
    micro_batch: Annotated[int, typer.Option(min=1, help="Events per learning step.")] = 1000,
    candidate_every: Annotated[
        int, typer.Option(min=1, help="Publish a candidate every N events.")
    ] = 100_000,
    guard_events: Annotated[
        int, typer.Option(min=1, help="Held-out events the guard checks a candidate on.")
    ] = 25_000,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N events.")] = (
        10_000
    ),
    margin: Annotated[
        float, typer.Option(min=0.0, help="Largest relative metric loss a candidate may show.")
    ] = 0.02,
    max_user_events: Annotated[
        int | None,
        typer.Option(min=1, help="Learn at most N events of one user per candidate window."),
    ] = None,
    max_events: Annotated[
        int | None, typer.Option(min=1, help="Stop after learning this many events.")
    ] = None,
    follow: Annotated[
        bool, typer.Option(help="Keep waiting for new events at the head of the log.")
    ] = False,
    consumer: Annotated[
        str | None,
        typer.Option(
            help="Redis logs: join the model's group as NAME and learn only while holding its "
            "lease (active); started twice, the second waits as a standby."
        ),
    ] = None,
    lease_ms: Annotated[
        int, typer.Option(min=100, help="With --consumer: the lease's time to live, in ms.")
    ] = 5_000,
    stall_ms: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --consumer: a learner that neither finishes a micro-batch nor polls the "
            "log's head for this long counts as hung and lets its lease go "
            "(default: 12 x --lease-ms).",
        ),
    ] = None,
    explore_temperature: ExploreTemperature = None,
    explore_floor: ExploreFloor = None,
    ope: OffPolicy = True,
    set_: SetOption = None,
) -> None:
    """Learn from the event log, checkpoint, and publish guarded versions to the registry.

    With --ope (the default, as in freshrec serve) the guard also values each candidate
    off-policy on the exploring decisions a service logged beside the event log; give the
    service's --explore-temperature and --explore-floor. SIGTERM stops it as Ctrl-C does (a
    container's stop): it gives its lease up at once, and whichever learner runs next resumes
    from the latest checkpoint.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from freshrec.config import parse_overrides
    from freshrec.jobs.learn import run_learner
    from freshrec.live.decisions import DecisionLog
    from freshrec.live.learner import LearnerStatus

    _, gate = explore_and_gate(explore_temperature, explore_floor, ope)
    decisions = DecisionLog.beside(log) if gate is not None else None

    columns = (
        TextColumn("[bold]learning"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.fields[head]:,} events"),
        TextColumn(
            "lag {task.fields[lag]:,} | {task.fields[rate]:,.0f} events/s | {task.fields[version]}"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(
            "learn", total=None, head=0, lag=0, rate=0.0, version="no version yet"
        )

        def show(status: LearnerStatus) -> None:
            progress.update(
                task,
                completed=status.position,
                total=status.head,
                head=status.head,
                lag=status.lag,
                rate=status.events_per_s,
                version=f"last published {status.last_version or '-'}",
            )

        if consumer is not None:
            progress.console.print(escape(f"{consumer}: standby until it holds the lease"))
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            learner, status = run_learner(
                log,
                registry,
                model,
                strategy,
                overrides=parse_overrides(set_ or []),
                micro_batch=micro_batch,
                candidate_every=candidate_every,
                guard_events=guard_events,
                checkpoint_every=checkpoint_every,
                margin=margin,
                max_user_events=max_user_events,
                max_events=max_events,
                follow=follow,
                on_status=show,
                consumer=consumer,
                lease_ms=lease_ms,
                stall_ms=stall_ms,
                on_active=lambda active: progress.console.print(
                    escape(f"active: {consumer or 'learner'} from event {active.cursor()}")
                ),
                ope=gate,
                decisions=decisions,
            )
        finally:
            signal.signal(signal.SIGTERM, previous)
            if decisions is not None:
                decisions.close()
        show(status)
    labels = learner.registry.labels()
    console.print(
        escape(
            f"learned up to event {status.position:,} of {status.head:,} "
            f"({status.events_per_s:,.0f} events/s, {status.capped:,} passed over by the "
            f"per-user cap); promoted {status.promoted}, rejected {status.rejected}; "
            f"stable {labels['stable'] or '-'}, candidate {labels['candidate'] or '-'}"
        )
    )


@app.command()
def case(
    name: Annotated[str, typer.Argument(metavar="NAME", help="ecommerce | news | social")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: case-NAME).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, the subset and the models.")] = 0,
    quick: Annotated[bool, typer.Option(help="A small subset and few epochs (a smoke run).")] = (
        False
    ),
    data_dir: DataDir = None,
) -> None:
    """An end-to-end case study: models, a hybrid with weights chosen on validation, report."""
    from freshrec.cases import run_case

    _, written = run_case(
        name,
        out or Path(f"case-{name}"),
        data_dir=default_data_dir(data_dir),
        seed=seed,
        quick=quick,
        cache_dir=default_cache_dir(),
        console=console,
    )
    console.print(_wrote(written))


def _wrote(paths: list[Path]) -> str:
    """The ``wrote ...`` line, paths shown literally (a ``[`` in a path is not markup)."""
    return escape(f"wrote {', '.join(str(p) for p in paths)}")


def _load(
    dataset: str,
    data_dir: Path | None,
    min_rating: float | None,
    file: FileOptions,
    models: list[str],
    overrides: dict[str, dict[str, Any]],
) -> Dataset:
    """Load ``--dataset`` (a catalogue name or a file) and say what was read and what counts."""
    from freshrec.cli.summary import describe_events, model_thresholds

    data = load_named(dataset, default_data_dir(data_dir), min_rating=min_rating, file=file)
    describe_events(console, data, model_thresholds(models, overrides))
    return data


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: unwinds through the ``finally`` blocks (a lease is released)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (for tests and ``run``).

    Ctrl-C exits 130 with one line on stderr (the parser turns it into ``Exit(130)``).
    """
    interrupted: tuple[type[BaseException], ...] = (KeyboardInterrupt, *_parser_classes("Abort"))
    usage_errors = _parser_classes("ClickException")
    try:
        code = app(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)
    except interrupted:
        code = _INTERRUPTED
    except (FreshrecError, ValueError, FileNotFoundError, FileExistsError, KeyError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}")
        return 2
    except typer.Exit as exit_:
        code = int(exit_.exit_code)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    except usage_errors as err:  # a bad option or argument: typer's parser says which
        usage: Any = err  # a ClickException: show() and exit_code
        usage.show()
        return int(usage.exit_code)
    if code == _INTERRUPTED:
        Console(stderr=True).print("interrupted: stopped before the end, nothing more written")
    return code if isinstance(code, int) else 0


def _parser_classes(name: str) -> tuple[type[Exception], ...]:
    """Class ``name`` of the parser's exceptions: recent typer vendors click (typer._click)."""
    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
