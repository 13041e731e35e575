"""Update strategies, and partial_fit(..., replay=...) that fine-tuning with replay relies on."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from freshrec.checks import checkerboard_events
from freshrec.data.batch import EventBatch, as_batch
from freshrec.data.synthetic import synthetic_stream
from freshrec.models import BPR, MostPopular
from freshrec.models.sasrec import SASRec
from freshrec.update.replay import ReservoirReplay
from freshrec.update.strategies import (
    FineTune,
    Frozen,
    FullRetrain,
    Hybrid,
    Streaming,
    UpdateStrategy,
    make_strategy,
    overridden,
)


@pytest.fixture(scope="module")
def stream() -> EventBatch:
    return as_batch(synthetic_stream(n_users=60, n_items=50, n_events=2400, seed=1).events)


def _split(stream: EventBatch) -> tuple[EventBatch, list[EventBatch]]:
    ordered = stream.sort_by_time()
    return ordered[:1200], [ordered[i : i + 400] for i in range(1200, 2400, 400)]


# -- partial_fit with replay ------------------------------------------------------------------


def test_replay_is_learned_but_not_logged_or_counted(stream):
    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=3).fit(warm)
    plain = copy.deepcopy(model).partial_fit(windows[0])
    rehearsed = copy.deepcopy(model).partial_fit(windows[0], replay=warm[:300])
    assert len(rehearsed.history()) == len(plain.history()) == len(warm) + len(windows[0])
    assert np.array_equal(rehearsed.item_counts_, plain.item_counts_)
    assert rehearsed.n_events_ == plain.n_events_
    # the replayed events were trained on: the factors differ from the plain update
    assert not np.allclose(rehearsed.item_factors_, plain.item_factors_)


def test_replayed_rows_with_unknown_ids_are_dropped():
    events = as_batch(checkerboard_events())
    model = BPR(n_factors=4, n_epochs=2).fit(events[:100])
    unknown = EventBatch(np.array(["nobody"]), np.array(["nothing"]), np.ones(1))
    model.partial_fit(events[100:120], replay=EventBatch.concat([events[:10], unknown]))
    assert "nobody" not in model.user_map_ and "nothing" not in model.item_map_


def test_models_that_count_events_refuse_replay():
    events = as_batch(checkerboard_events())
    model = MostPopular().fit(events[:100])
    with pytest.raises(ValueError, match="cannot rehearse"):
        model.partial_fit(events[100:], replay=events[:10])


# -- strategies -------------------------------------------------------------------------------


def test_every_strategy_follows_the_protocol():
    for name in ("frozen", "full", "finetune", "finetune-replay", "streaming", "hybrid"):
        assert isinstance(make_strategy(name), UpdateStrategy)


def test_frozen_leaves_the_model_untouched(stream):
    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=3).fit(warm)
    before = model.item_factors_.copy()
    report = Frozen().step(model, windows[0])
    assert not report.trained and report.seconds == 0.0 and report.lag_s is None
    assert np.array_equal(model.item_factors_, before) and model.n_events_ == len(warm)


def test_full_retrain_refits_on_everything_on_schedule(stream):
    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=3, seed=0).fit(warm)
    strategy = FullRetrain(every=2)
    strategy.prime(warm)
    first = strategy.step(model, windows[0])
    assert not first.trained and model.n_events_ == len(warm)
    second = strategy.step(model, windows[1])
    assert second.trained and second.n_events == len(warm) + 800
    assert second.n_learned == 800  # both windows learned at this retrain
    reference = BPR(n_factors=8, n_epochs=3, seed=0).fit(EventBatch.concat([warm, *windows[:2]]))
    assert np.allclose(model.item_factors_, reference.item_factors_)  # a fit from scratch


def test_sliding_window_retrain_forgets_old_events(stream):
    warm, windows = _split(stream)
    model = MostPopular().fit(warm)
    strategy = FullRetrain(window=500)
    strategy.prime(warm)
    strategy.step(model, windows[0])
    assert model.n_events_ == 500 and len(model.history()) == 500


def test_finetune_overrides_epochs_only_during_the_update(stream):
    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=7).fit(warm)
    report = FineTune(epochs=2, lr=0.01).step(model, windows[0])
    assert report.trained and report.n_events == 400 and report.n_learned == 400
    assert len(model.history_.loss) == 2  # two epochs ran
    assert model.n_epochs == 7 and model.lr == 0.03  # restored


def test_finetune_with_replay_rehearses_a_share_of_the_past(stream):
    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=2).fit(warm)
    buffer = ReservoirReplay(capacity=1000, seed=0)
    strategy = FineTune(replay=buffer, replay_ratio=0.5)
    strategy.prime(warm)
    assert buffer.n_seen == len(warm)
    report = strategy.step(model, windows[0])
    assert report.n_events == 400 + 200
    assert buffer.n_seen == len(warm) + 400  # the window joined the buffer after the update


def test_finetune_replay_needs_a_model_that_rehearses(stream):
    warm, windows = _split(stream)
    strategy = make_strategy("finetune-replay")
    strategy.prime(warm)
    with pytest.raises(ValueError, match="cannot rehearse"):
        strategy.step(MostPopular().fit(warm), windows[0])


def test_streaming_learns_sooner_than_a_window_update(stream):
    warm, windows = _split(stream)
    base = BPR(n_factors=8, n_epochs=1).fit(warm)
    streamed = Streaming(micro_batch=50).step(copy.deepcopy(base), windows[0])
    windowed = FineTune(epochs=1).step(copy.deepcopy(base), windows[0])
    assert streamed.n_updates == 8 and windowed.n_updates == 1
    assert streamed.n_learned == windowed.n_learned == 400
    assert streamed.lag_s < windowed.lag_s  # each micro-batch is learned at its own end


def test_hybrid_streams_and_retrains_on_schedule(stream):
    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=2).fit(warm)
    strategy = Hybrid(Streaming(micro_batch=200), every=2)
    strategy.prime(warm)
    reports = [strategy.step(model, window) for window in windows[:2]]
    assert [r.n_updates for r in reports] == [2, 3]
    assert reports[1].n_events == 400 + len(warm) + 800


def test_overridden_rejects_unknown_parameters():
    with pytest.raises(ValueError, match="has no parameter lr"):
        with overridden(MostPopular(), lr=0.1):
            pass


def test_make_strategy_reports_bad_names_and_parameters():
    with pytest.raises(ValueError, match="unknown update strategy"):
        make_strategy("nightly")
    with pytest.raises(ValueError, match="bad parameters for update strategy 'full'"):
        make_strategy("full", {"epochs": 3})
    with pytest.raises(ValueError, match="every"):
        make_strategy("full", {"every": 0})


def test_frozen_sequential_model_observes_without_learning():
    events = as_batch(checkerboard_events())
    model = SASRec(dim=8, max_len=6, n_epochs=2, threshold=3.0).fit(events[:150])
    weights = {k: v.copy() for k, v in model._arrays().items() if k.startswith("module.")}
    user = events.user[150]
    Frozen().step(model, events[150:])
    assert model.user_sequence(user)[-1] in set(events[150:].take(events[150:].user == user).item)
    after = {k: v for k, v in model._arrays().items() if k.startswith("module.")}
    assert weights and all(np.array_equal(after[k], weights[k]) for k in weights)


class _Never:
    def update(self, x: float) -> None:
        pass

    @property
    def drift_detected(self) -> bool:
        return False


def test_on_drift_learns_only_when_its_detector_fires(stream):
    from freshrec.update.strategies import OnDrift, _AlwaysAlarm

    warm, windows = _split(stream)
    quiet, model = OnDrift(detector=_Never), BPR(n_factors=8, n_epochs=2).fit(warm)
    quiet.prime(warm)
    report = quiet.step(model, windows[0])
    assert not report.trained and model.n_events_ == len(warm) and quiet.alarms == 0
    eager = OnDrift(action="finetune", detector=_AlwaysAlarm)
    eager.prime(warm)
    eager.step(model, windows[0])
    report = eager.step(model, windows[1])
    assert report.trained and report.n_events == 400 and eager.alarms == 2
    assert model.n_events_ == len(warm) + 800  # both windows learned once each


def test_on_drift_full_retrain_refits_the_history(stream):
    from freshrec.update.strategies import OnDrift, _AlwaysAlarm

    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=2).fit(warm)
    strategy = OnDrift(action="full", detector=_AlwaysAlarm)
    strategy.prime(warm)
    report = strategy.step(model, windows[0])
    assert report.n_events == len(warm) + 400 and model.n_events_ == len(warm) + 400
    with pytest.raises(ValueError, match="action"):
        OnDrift(action="nightly")


class _AlarmOnce:
    """Alarms on the first value it reads, never again (a fresh one per alarm)."""

    fired = False

    def __init__(self) -> None:
        self.drift_detected = False

    def update(self, x: float) -> None:
        self.drift_detected = not _AlarmOnce.fired
        _AlarmOnce.fired = True


def test_on_drift_burst_keeps_updating_after_an_alarm_on_the_latest_events(stream):
    from freshrec.update.strategies import OnDrift

    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=2).fit(warm)
    _AlarmOnce.fired = False
    strategy = OnDrift(action="finetune", detector=_AlarmOnce, burst=2, max_events=300)
    strategy.prime(warm)
    reports = [strategy.step(model, window) for window in windows]
    assert [r.trained for r in reports] == [True, True, False]
    assert [r.n_events for r in reports[:2]] == [300, 300]  # the latest 300 of each backlog
    assert strategy.alarms == 1 and model.n_events_ == len(warm) + 600
    with pytest.raises(ValueError, match="burst"):
        OnDrift(burst=0)


def test_on_drift_spaces_the_updates_of_a_burst(stream):
    from freshrec.update.strategies import OnDrift

    warm, windows = _split(stream)
    model = MostPopular().fit(warm)
    _AlarmOnce.fired = False
    strategy = OnDrift(action="full", detector=_AlarmOnce, burst=2, spacing=2)
    strategy.prime(warm)
    reports = [strategy.step(model, window) for window in windows]
    assert [r.trained for r in reports] == [True, False, True]
    assert model.n_events_ == len(warm) + 1200


def test_full_retrain_offset_shifts_its_schedule(stream):
    warm, windows = _split(stream)
    strategy = FullRetrain(every=3, offset=1)
    model = MostPopular().fit(warm)
    strategy.prime(warm)
    assert [strategy.step(model, w).trained for w in windows] == [False, True, False]
    with pytest.raises(ValueError, match="offset"):
        FullRetrain(every=3, offset=3)


def test_finetune_on_a_schedule_learns_the_latest_gathered_events(stream):
    warm, windows = _split(stream)
    model = BPR(n_factors=8, n_epochs=2).fit(warm)
    strategy = FineTune(every=2, max_events=500)
    strategy.prime(warm)
    reports = [strategy.step(model, window) for window in windows]
    assert [r.trained for r in reports] == [False, True, False]
    assert reports[1].n_events == 500 and model.n_events_ == len(warm) + 500
    with pytest.raises(ValueError, match="every"):
        FineTune(every=0)
    with pytest.raises(ValueError, match="max_events"):
        FineTune(max_events=0)


@pytest.mark.parametrize("model", ["popular", "item-knn", "als", "biased-mf", "bpr"])
def test_every_strategy_updates_a_model_or_says_before_any_work_why_not(model: str) -> None:
    from freshrec.data.synthetic import synthetic_stream
    from freshrec.jobs.arena import run_arena_job
    from freshrec.models import REGISTRY
    from freshrec.update.strategies import STRATEGIES, does_not_apply, make_strategy

    data = synthetic_stream(n_users=60, n_items=50, n_events=1_500, seed=0)
    prototype = REGISTRY[model]()
    usable = [n for n in STRATEGIES if does_not_apply(make_strategy(n), prototype) is None]
    blocked = sorted(set(STRATEGIES) - set(usable))
    assert {"frozen", "full", "finetune", "streaming", "on-drift", "adaptive"} <= set(usable)
    results, _ = run_arena_job(data, model, usable, n_windows=2)
    assert set(results.models) >= set(usable)  # a row per strategy
    if blocked:
        with pytest.raises(ValueError, match="do not apply to") as refused:
            run_arena_job(data, model, ["frozen", *blocked], n_windows=2)
        assert all(name in str(refused.value) for name in blocked)


def test_a_setting_a_model_lacks_is_refused_and_a_default_is_not() -> None:
    from freshrec.models import MostPopular
    from freshrec.update.strategies import does_not_apply

    events = as_batch(checkerboard_events())
    model = MostPopular().fit(events[:100])
    before = model.item_counts_.sum()
    Streaming(micro_batch=20).step(model, events[100:150])  # one epoch where there are epochs
    assert model.item_counts_.sum() > before
    assert does_not_apply(Streaming(epochs=3), model) == (
        "epochs: MostPopular has no n_epochs (it learns each event once)"
    )
    with pytest.raises(ValueError, match="does not apply to it"):
        Streaming(micro_batch=20, epochs=3).step(model, events[150:170])
