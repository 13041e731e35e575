"""LoggedFeedback: validation names the field and its first bad row; from_events maps items."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freshrec.data import Event
from freshrec.data.logged import LoggedFeedback
from freshrec.data.obd import load_open_bandit


def valid(**changes: Any) -> dict[str, Any]:
    """Arguments of a valid 4-round, 3-action, 2-slot log, with ``changes`` applied."""
    arguments: dict[str, Any] = {
        "actions": np.array([0, 2, 1, 2]),
        "rewards": np.array([1.0, 0.0, 0.0, 1.0]),
        "propensities": np.array([0.5, 0.25, 1.0, 0.25]),
        "n_actions": 3,
        "positions": np.array([0, 1, 1, 0]),
        "len_list": 2,
        "context": np.arange(8.0).reshape(4, 2),
        "candidates": np.ones((4, 3), dtype=bool),
    }
    arguments.update(changes)
    return arguments


def test_a_valid_log_keeps_its_arrays() -> None:
    feedback = LoggedFeedback(**valid())
    assert feedback.n_rounds == 4
    assert feedback.actions.dtype == np.int64
    assert feedback.positions.tolist() == [0, 1, 1, 0]
    assert feedback.context is not None and feedback.context.shape == (4, 2)


def test_positions_default_to_slot_zero_of_a_one_slot_list() -> None:
    feedback = LoggedFeedback(np.array([1, 0, 1]), np.ones(3), np.full(3, 0.5), n_actions=2)
    assert feedback.positions.tolist() == [0, 0, 0]
    assert feedback.len_list == 1
    assert feedback.context is None and feedback.candidates is None


def test_it_is_frozen() -> None:
    feedback = LoggedFeedback(**valid())
    with pytest.raises(dataclasses.FrozenInstanceError):
        feedback.n_actions = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"propensities": np.array([0.5, 0.0, 1.0, 0.25])}, r"propensities\[1\] = 0.0 is not in"),
        ({"propensities": np.array([0.5, 0.25, 1.5, 0.0])}, r"propensities\[2\] = 1.5 is not in"),
        ({"propensities": np.array([-0.1, 0.25, 1.0, 0.25])}, r"propensities\[0\]"),
        ({"propensities": np.array([0.5, np.inf, 1.0, 0.25])}, r"propensities\[1\] = inf"),
        ({"rewards": np.array([1.0, 0.0, np.nan, 1.0])}, r"rewards\[2\] = nan is not finite"),
        (
            {"actions": np.array([0, 3, 1, 2])},
            r"actions\[1\] = 3 is not an action index in \[0, 3\)",
        ),
        ({"actions": np.array([0, 2, -1, 2])}, r"actions\[2\] = -1"),
        ({"actions": np.array([0.0, 2.0, 1.0, 2.0])}, "actions must hold integers"),
        ({"actions": np.zeros((4, 1), dtype=int)}, "actions must be one-dimensional"),
        ({"rewards": np.zeros(3)}, "rewards has 3 rows, actions has 4"),
        ({"propensities": np.full(5, 0.5)}, "propensities has 5 rows, actions has 4"),
        ({"positions": np.array([0, 1, 0])}, "positions has 3 rows, actions has 4"),
        ({"positions": np.array([0, 1, 2, 0])}, r"positions\[2\] = 2 is not a slot in \[0, 2\)"),
        ({"context": np.zeros((3, 2))}, "context has 3 rows, actions has 4"),
        ({"context": np.zeros(4)}, "context must be 2-dimensional"),
        ({"context": np.array([[0.0, 1.0]] * 3 + [[np.nan, 1.0]])}, r"context\[3, 0\] = nan"),
        ({"n_actions": 0}, "n_actions must be a positive integer"),
        ({"len_list": 0}, "len_list must be a positive integer"),
        ({"candidates": np.ones((4, 2), dtype=bool)}, r"candidates has shape \(4, 2\)"),
        ({"candidates": np.ones((4, 3))}, "candidates must be a boolean mask"),
    ],
)
def test_bad_fields_are_named_with_their_first_bad_row(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LoggedFeedback(**valid(**changes))


def test_a_logged_action_must_be_among_its_rounds_candidates() -> None:
    candidates = np.ones((4, 3), dtype=bool)
    candidates[3, 2] = False  # round 3 logged action 2
    candidates[0, 1] = False  # an action not logged may be left out
    with pytest.raises(
        ValueError, match=r"actions\[3\] = 2 is not among the candidates of round 3"
    ):
        LoggedFeedback(**valid(candidates=candidates))


def test_from_events_maps_items_positions_and_context() -> None:
    events = [
        Event(0, "c", 1.0, context={"position": 3, "age": 30.0}, propensity=0.2),
        Event(1, "a", 0.0, context={"position": 1, "age": 20.0}, propensity=0.4),
        Event(2, "c", 0.0, context={"position": 2, "age": 25.0}, propensity=0.2),
    ]
    feedback = LoggedFeedback.from_events(events, ["a", "b", "c"], context_keys=["age"])
    assert feedback.actions.tolist() == [2, 0, 2]
    assert feedback.positions.tolist() == [2, 0, 1]
    assert feedback.len_list == 3 and feedback.n_actions == 3
    assert feedback.rewards.tolist() == [1.0, 0.0, 0.0]
    assert feedback.propensities.tolist() == [0.2, 0.4, 0.2]
    assert feedback.context is not None and feedback.context[:, 0].tolist() == [30.0, 20.0, 25.0]


def test_from_events_without_positions_puts_every_round_at_slot_zero() -> None:
    events = [Event(0, 5, 1.0, propensity=0.5), Event(1, 7, 0.0, propensity=0.5)]
    feedback = LoggedFeedback.from_events(events, [7, 5], len_list=2)
    assert feedback.actions.tolist() == [1, 0]
    assert feedback.positions.tolist() == [0, 0] and feedback.len_list == 2


@pytest.mark.parametrize(
    ("events", "keys", "message"),
    [
        ([Event(0, "a", 1.0)], (), "carry no propensities"),
        ([Event(0, "z", 1.0, propensity=0.5)], (), "event 0: item 'z' is not in the item list"),
        ([Event(0, "a", 1.0, context={"position": 1.5}, propensity=0.5)], (), "not an integer"),
        ([Event(0, "a", 1.0, context={"device": "ios"}, propensity=0.5)], ["device"], "numeric"),
        ([Event(0, "a", 1.0, propensity=0.5)], ["age"], "no column 'age'"),
    ],
)
def test_from_events_rejects_what_it_cannot_map(
    events: list[Event], keys: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LoggedFeedback.from_events(events, ["a", "b"], context_keys=keys)


def test_from_events_reads_an_open_bandit_log(tmp_path: Path) -> None:
    folder = tmp_path / "random" / "men"
    folder.mkdir(parents=True)
    (folder / "men.csv").write_text(
        ",timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0\n"
        "0,2019-11-24 00:00:00.1+00:00,3,1,0,0.25,abc,0.5\n"
        "1,2019-11-24 00:00:01.2+00:00,1,3,1,0.25,def,0.0\n"
        "2,2019-11-24 00:00:02.3+00:00,0,2,0,0.25,abc,1.5\n"
    )
    (folder / "item_context.csv").write_text(
        ",item_id,item_feature_0\n0,0,0.1\n1,1,0.2\n2,2,0.3\n3,3,0.4\n"
    )
    events = load_open_bandit(tmp_path, "random", "men").events
    feedback = LoggedFeedback.from_events(
        events, [0, 1, 2, 3], context_keys=["user-item_affinity_0"]
    )
    assert feedback.actions.tolist() == [3, 1, 0]
    assert feedback.positions.tolist() == [0, 2, 1] and feedback.len_list == 3
    assert feedback.rewards.tolist() == [0.0, 1.0, 0.0]
    assert feedback.context is not None and feedback.context[:, 0].tolist() == [0.5, 0.0, 1.5]
