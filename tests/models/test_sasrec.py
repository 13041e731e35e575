"""SASRec and the sequential base: conformance, windows, growth, observe, losses, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.data import Event, EventBatch, as_batch
from freshrec.models.sasrec import SASRec, SASRecModule

SMALL = {"dim": 16, "max_len": 8, "n_epochs": 30, "lr": 0.005, "batch_size": 8, "dropout": 0.1}


def small(**params):
    return SASRec(**{**SMALL, **params})


def ordered(user, items, start=0.0):
    return [Event(user, item, 1.0, start + t) for t, item in enumerate(items)]


@pytest.mark.parametrize("check", list(yield_checks(small())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(small())


@pytest.mark.parametrize("loss", ["sampled-softmax", "bce"])
def test_learns_with_every_loss(loss):
    from freshrec.checks import check_learns_checkerboard

    check_learns_checkerboard(small(loss=loss, n_negatives=8))


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(ValueError, match="loss must be one of"):
        small(loss="hinge").fit(checkerboard_events())


def test_sequences_follow_timestamps_not_rows():
    events = [Event("u", "c", 1.0, 3.0), Event("u", "a", 1.0, 1.0), Event("u", "b", 1.0, 2.0)]
    model = small(n_epochs=1).fit(events)
    assert model.user_sequence("u") == ["a", "b", "c"]
    assert model.user_sequence("nobody") == []


def test_windows_cover_every_target_once_with_context():
    model = small(n_epochs=1, max_len=3).fit(ordered("u", list("abcdefg")))
    users, inputs, targets, _ = model._windows(np.ones(len(model.sequence_log_), bool))
    # 6 targets (b..g) in windows of 3 from the end: [e f g] and [b c d]
    shifted = {name: model.item_map_.encode_one(name) + 1 for name in "abcdefg"}
    as_names = {v: k for k, v in shifted.items()}
    assert [[as_names.get(v, "-") for v in row] for row in targets.tolist()] == [
        ["e", "f", "g"],
        ["b", "c", "d"],
    ]
    assert [[as_names.get(v, "-") for v in row] for row in inputs.tolist()] == [
        ["d", "e", "f"],
        ["a", "b", "c"],
    ]
    assert users.tolist() == [0, 0]


def test_partial_fit_trains_only_new_targets_with_old_context():
    model = small(n_epochs=1, max_len=4).fit(ordered("u", list("abc")))
    start = len(model.sequence_log_)
    model.partial_fit(ordered("u", list("de"), start=10.0))
    _, inputs, targets, _ = model._windows(np.arange(len(model.sequence_log_)) >= start)
    names = {model.item_map_.encode_one(n) + 1: n for n in "abcde"}
    assert [names.get(v, "-") for v in inputs[0].tolist()] == ["a", "b", "c", "d"]
    assert [names.get(v, "-") for v in targets[0].tolist()] == ["-", "-", "d", "e"]


def test_windows_skip_spans_without_a_flagged_target():
    model = small(n_epochs=0, max_len=2).fit(ordered("u", list("abcdefg")))
    flagged = np.zeros(len(model.sequence_log_), bool)
    flagged[[2, 6]] = True  # c and g
    _, inputs, targets, _ = model._windows(flagged)
    names = {model.item_map_.encode_one(n) + 1: n for n in "abcdefg"}
    assert [[names.get(v, "-") for v in row] for row in targets.tolist()] == [
        ["-", "g"],
        ["-", "c"],
    ]  # windows [f g], [d e] (no flagged target: skipped), [b c]
    assert [[names.get(v, "-") for v in row] for row in inputs.tolist()] == [
        ["e", "f"],
        ["a", "b"],
    ]


def test_replay_relearns_old_positions_without_growing_the_history():
    model = small(n_epochs=1, max_len=4).fit(ordered("u", list("abc")) + ordered("v", list("xy")))
    before = len(model.sequence_log_)
    seen = {}

    def spy(learnable, valid):
        seen["flags"] = learnable.copy()

    model._train = spy
    model.partial_fit(
        ordered("u", ["d"], start=10.0),
        replay=[Event("u", "b"), Event("v", "y"), Event("v", "nope")],
    )
    assert len(model.sequence_log_) == before + 1  # the replayed events are not appended
    users, items, _ = model.sequence_log_.arrays()
    names = [model.item_map_.decode(np.array([i]))[0] for i in items[seen["flags"]]]
    assert sorted(names) == ["b", "d", "y"]


def test_finetune_with_replay_runs_on_a_sequential_model():
    from freshrec.update.strategies import make_strategy

    model = small(n_epochs=1).fit(checkerboard_events())
    strategy = make_strategy("finetune-replay", {"seed": 0})
    strategy.prime(as_batch(checkerboard_events()))
    report = strategy.step(model, as_batch(checkerboard_events(seed=5, offset=50)))
    assert report.n_events > len(checkerboard_events(seed=5, offset=50))  # replay included


def test_growth_keeps_old_rows_and_adam_moments_and_the_padding_row():
    model = small(threshold=3.0, n_epochs=0).fit(checkerboard_events())
    model.set_params(n_epochs=1)
    model.partial_fit(checkerboard_events(seed=3))  # Adam moments now exist
    table = model.module_.item_embedding
    old = table.weight.detach().clone()
    moments = model.optimizer_.state[table.weight]["exp_avg_sq"].clone()
    model.set_params(n_epochs=0)  # grow only, no step
    model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    grown = model.module_.item_embedding
    assert grown.num_embeddings == 21
    assert torch.equal(grown.weight[:17], old) and not grown.weight[0].any()
    state = model.optimizer_.state[grown.weight]["exp_avg_sq"]
    assert torch.equal(state[:17], moments) and not state[17:].any()
    model.set_params(n_epochs=2)
    model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=200))
    assert not model.module_.item_embedding.weight[0].any()


def test_observe_extends_the_history_without_training():
    model = small(threshold=3.0).fit(checkerboard_events())
    weights = {k: v.clone() for k, v in model.module_.state_dict().items()}
    u0 = np.array([model.user_map_.encode_one("u0")])
    before = model.score_batch(u0)
    model.observe([Event("u0", "i15", 5.0), Event("u0", "i14", 1.0), Event("ghost", "i1", 5.0)])
    assert model.user_sequence("u0")[-1] == "i15"  # the low value and the unknown user: ignored
    assert "ghost" not in model.user_map_
    assert all(torch.equal(v, model.module_.state_dict()[k]) for k, v in weights.items())
    assert not np.allclose(model.score_batch(u0), before)


def test_a_user_without_positives_gets_the_fallback():
    events = checkerboard_events()
    extra = EventBatch.from_events([Event("shy", "i0", 1.0, 1e9)])
    model = small(threshold=3.0, n_epochs=2).fit(EventBatch.concat([events, extra]))
    shy = model.user_map_.encode_one("shy")
    np.testing.assert_array_equal(model.score_batch(np.array([shy]))[0], model.item_counts_)


def test_output_depends_only_on_the_past():
    module = SASRecModule(9, max_len=5, dim=8, n_blocks=2, n_heads=2, inner=8, dropout=0.0, seed=0)
    module.eval()
    a = module(torch.tensor([[0, 1, 2, 3, 4]]))
    b = module(torch.tensor([[0, 1, 2, 3, 9]]))
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4], b[:, 4])


def test_early_stopping_keeps_the_best_epoch():
    events = checkerboard_events()
    train, valid = events.take(np.arange(160)), events.take(np.arange(160, 192))
    model = small(threshold=3.0, n_epochs=40, patience=3).fit(train, valid=valid)
    scores = model.history_.valid_ndcg
    assert len(scores) < 40
    assert model.history_.best_epoch == int(np.argmax(scores)) + 1


def test_early_stopping_puts_back_the_weights_but_keeps_the_whole_history():
    events = checkerboard_events()
    train, valid = events.take(np.arange(160)), events.take(np.arange(160, 192))
    model = small(threshold=3.0, max_len=2, n_epochs=40, patience=3).fit(train, valid=valid)
    assert model.history_.best_epoch < len(model.history_.loss)  # an earlier epoch put back
    sequences = {user: model.user_sequence(user) for user in np.unique(train.user)}
    unstopped = small(threshold=3.0, max_len=2, n_epochs=1).fit(train)
    assert sequences == {user: unstopped.user_sequence(user) for user in sequences}
    assert max(len(items) for items in sequences.values()) > 2  # longer than max_len


def test_left_padding_changes_no_output_and_is_zero():
    module = SASRecModule(9, max_len=6, dim=8, n_blocks=2, n_heads=2, inner=8, dropout=0.0, seed=0)
    module.eval()
    padded = module(torch.tensor([[0, 0, 0, 4, 2, 7]]))
    trimmed = module(torch.tensor([[4, 2, 7]]))
    torch.testing.assert_close(padded[:, 3:], trimmed)
    assert not padded[:, :3].any()


def test_training_attention_products_match_scaled_dot_product_attention():
    module = SASRecModule(9, max_len=6, dim=8, n_blocks=1, n_heads=2, inner=8, dropout=0.3, seed=0)
    sequences = torch.tensor([[0, 0, 0, 4, 2, 7], [1, 5, 3, 8, 6, 2]])
    module.eval()
    reference = module(sequences)  # scaled_dot_product_attention
    module.train()  # the module's dropout rate (0.3) selects the explicit products ...
    for layer in module.modules():  # ... while no layer drops anything
        if isinstance(layer, torch.nn.Dropout):
            layer.eval()
    module.blocks[0].attention.dropout = 0.0
    torch.testing.assert_close(module(sequences), reference)
