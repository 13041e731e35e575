"""HSTU: conformance, learning with both losses, causality, padding, time gaps, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import check_learns_checkerboard, checkerboard_events, yield_checks
from freshrec.data import Event
from freshrec.models.hstu import HSTU, HSTUModule, sampled_logits, time_buckets

SMALL = {"dim": 16, "max_len": 8, "n_epochs": 30, "lr": 0.005, "batch_size": 8, "dropout": 0.1}


def small(**params: object) -> HSTU:
    return HSTU(**{**SMALL, "n_negatives": 8, **params})  # type: ignore[arg-type]


def module(**params: object) -> HSTUModule:
    settings = {"max_len": 6, "dim": 8, "n_blocks": 2, "n_heads": 2, "dropout": 0.0, "seed": 0}
    built = HSTUModule(9, **{**settings, **params})  # type: ignore[arg-type]
    return built.eval()


@pytest.mark.parametrize("check", list(yield_checks(small())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(small())


@pytest.mark.parametrize("loss", ["sampled-softmax", "ce"])
def test_learns_with_both_losses(loss: str):
    torch.manual_seed(0)
    check_learns_checkerboard(small(loss=loss))


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(ValueError, match="loss must be"):
        small(loss="bce").fit(checkerboard_events())


def test_output_depends_only_on_the_past():
    net = module()
    times = torch.arange(5.0)[None] * 100
    a = net(torch.tensor([[1, 2, 3, 4, 5]]), times)
    b = net(torch.tensor([[1, 2, 3, 4, 8]]), times)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4], b[:, 4])


def test_left_padding_changes_no_output_and_is_zero():
    net = module()
    padded = net(torch.tensor([[0, 0, 0, 4, 2, 7]]), torch.tensor([[0, 0, 0, 5.0, 60, 4000]]))
    trimmed = net(torch.tensor([[4, 2, 7]]), torch.tensor([[5.0, 60, 4000]]))
    torch.testing.assert_close(padded[:, 3:], trimmed)
    assert not padded[:, :3].any()
    torch.testing.assert_close(trimmed.norm(dim=-1), torch.ones(1, 3))


def test_time_gaps_change_the_output_and_a_shift_does_not():
    net = module()
    items = torch.tensor([[3, 1, 4, 1, 5]])
    base = net(items, torch.tensor([[0.0, 10, 20, 30, 40]]))
    shifted = net(items, torch.tensor([[1e6, 1e6 + 10, 1e6 + 20, 1e6 + 30, 1e6 + 40]]))
    spread = net(items, torch.tensor([[0.0, 1e3, 1e5, 1e6, 1e7]]))
    torch.testing.assert_close(base, shifted)  # only gaps matter
    assert not torch.allclose(base[:, -1], spread[:, -1])


def test_time_buckets_grow_with_the_gap_and_stop_at_the_last():
    gaps = torch.tensor([0.0, 0.5, 1.0, 2.0, 100.0, 1e5, 1e30, -100.0])
    buckets = time_buckets(gaps, n_buckets=50).tolist()
    assert buckets[:3] == [0, 0, 0]
    assert buckets[3] < buckets[4] < buckets[5] <= buckets[6] == 50
    assert buckets[-1] == buckets[4]  # the sign of a gap does not matter


def test_the_history_keeps_timestamps_through_observe_and_saving(tmp_path):
    events = [Event("u", item, 1.0, t * 3600.0) for t, item in enumerate("abcdefg")]
    events += [Event("v", item, 1.0, t * 60.0) for t, item in enumerate("gfedcba")]
    model = HSTU(dim=8, max_len=5, n_epochs=2, n_negatives=4).fit(events)
    model.observe([Event("u", "a", 1.0, 99_999.0)])
    times = model._history_times()
    assert len(times) == len(model.sequence_log_) == 15 and times[-1] == 99_999.0
    _, latest = model._latest(np.array([model.user_map_.encode_one("u")]))
    assert latest is not None and latest[0].tolist() == [
        10800.0,
        14400.0,
        18000.0,
        21600.0,
        99999.0,
    ]
    model.save(tmp_path / "hstu")
    loaded = HSTU.load(tmp_path / "hstu")
    users = np.arange(model.n_users)
    np.testing.assert_allclose(loaded.score_batch(users), model.score_batch(users), atol=1e-5)
    np.testing.assert_array_equal(loaded._latest(users)[1], model._latest(users)[1])


def test_scores_are_cosines_over_the_temperature():
    model = small(n_epochs=2, threshold=3.0, temperature=0.5).fit(checkerboard_events())
    scores = model.score_batch(np.arange(model.n_users))
    assert np.abs(scores).max() <= 1 / 0.5 + 1e-5


def test_sampled_logits_are_the_same_gathered_or_from_every_item() -> None:
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(6, 4, generator=generator)
    positive = torch.randint(0, 9, (6,), generator=generator)
    negatives = torch.randint(0, 9, (6, 3), generator=generator)
    small = torch.randn(9, 4, generator=generator)  # 9 rows <= 3 x 4: every item's logit
    padded = torch.cat([small, torch.zeros(20, 4)])  # 29 rows > 12: gathered vectors
    np.testing.assert_allclose(
        sampled_logits(hidden, small, positive, negatives).numpy(),
        sampled_logits(hidden, padded, positive, negatives).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
