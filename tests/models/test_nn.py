"""Tests of the shared torch parts (freshrec.models.torch.nn); issue 3, item 1."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from freshrec.models.torch.nn import (
    GrowableEmbedding,
    extend_optimizer_state,
    grow_linear,
    in_batch_logits,
    load_module_state,
    load_optimizer_state,
    module_state_arrays,
    optimizer_state_arrays,
    pad_sequences,
    resolve_device,
    sample_by_popularity,
    sample_uniform,
    train_step,
)

OPTIMIZERS = {
    "adam": lambda p: torch.optim.Adam(p, lr=0.05),
    "adam-amsgrad": lambda p: torch.optim.Adam(p, lr=0.05, amsgrad=True),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.01),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.05, initial_accumulator_value=0.3),
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.9, centered=True),
}


def _step(emb: GrowableEmbedding, opt: torch.optim.Optimizer, idx: list[int]) -> float:
    target = torch.ones(len(idx), emb.dim)
    loss = (emb(torch.tensor(idx)) - target).pow(2).sum()
    return train_step(emb, opt, loss)


def _row_states(opt: torch.optim.Optimizer, param: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        k: v.clone()
        for k, v in opt.state[param].items()
        if isinstance(v, torch.Tensor) and v.dim() > 0
    }


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_growth_keeps_old_rows_and_their_optimizer_state(name):
    emb = GrowableEmbedding(4, 3, seed=0)
    opt = OPTIMIZERS[name](emb.parameters())
    for _ in range(3):
        _step(emb, opt, [0, 1, 2, 3, 1])
    weight_id = id(emb.weight)
    old_weight = emb.weight.detach().clone()
    old_state = _row_states(opt, emb.weight)
    assert old_state, "the optimizer should hold per-row state"
    old_scalars = {k: v for k, v in opt.state[emb.weight].items() if k not in old_state}

    emb.grow(7, optimizers=[opt])

    assert id(emb.weight) != weight_id  # a fresh autograd leaf (see GrowableEmbedding.grow)
    assert opt.param_groups[0]["params"][0] is emb.weight
    assert emb.weight.shape == (7, 3)
    assert torch.equal(emb.weight[:4], old_weight)
    state = opt.state[emb.weight]
    assert set(k for k in state if k not in old_scalars) == set(old_state)
    for key, old in old_state.items():
        assert state[key].shape == (7, 3), key
        assert torch.equal(state[key][:4], old), key
        fill = 0.3 if (name == "adagrad" and key == "sum") else 0.0
        assert torch.all(state[key][4:] == fill), key
    for key, old in old_scalars.items():
        assert torch.equal(torch.as_tensor(state[key]), torch.as_tensor(old)), key

    # The same optimizer keeps working and now trains the new rows too.
    new_before = emb.weight[4:].detach().clone()
    _step(emb, opt, [0, 4, 5, 6])
    assert not torch.equal(emb.weight[4:], new_before)
    assert torch.isfinite(emb.weight).all()


def test_adam_moments_of_new_rows_are_zero_and_step_unchanged():
    emb = GrowableEmbedding(2, 4, seed=1)
    opt = torch.optim.Adam(emb.parameters(), lr=0.1)
    _step(emb, opt, [0, 1])
    _step(emb, opt, [0])
    step = opt.state[emb.weight]["step"].clone()
    emb.grow(5, optimizers=[opt])
    state = opt.state[emb.weight]
    assert torch.equal(state["step"], step)
    assert torch.all(state["exp_avg"][2:] == 0) and torch.all(state["exp_avg_sq"][2:] == 0)


def test_growth_before_the_first_step_needs_no_state():
    emb = GrowableEmbedding(0, 2, seed=0)
    opt = torch.optim.Adam(emb.parameters(), lr=0.1)
    emb.grow(3, optimizers=[opt])
    _step(emb, opt, [0, 2])
    assert opt.state[emb.weight]["exp_avg"].shape == (3, 2)


def test_adagrad_new_rows_start_at_initial_accumulator():
    param = torch.nn.Parameter(torch.zeros(2, 2))
    opt = torch.optim.Adagrad([param], initial_accumulator_value=0.5)
    param.data = torch.cat([param.data, torch.zeros(3, 2)])
    extend_optimizer_state(opt, param, old_rows=2)
    assert opt.state[param]["sum"].shape == (5, 2)
    assert torch.all(opt.state[param]["sum"] == 0.5)


def test_grow_inits_and_noop():
    emb = GrowableEmbedding(3, 2, seed=0)
    emb.grow(2)  # smaller: nothing happens
    assert emb.num_embeddings == 3
    emb.grow(4, init="mean")
    assert torch.allclose(emb.weight[3], emb.weight[:3].mean(0))
    emb.grow(5, init="zero")
    assert torch.all(emb.weight[4] == 0)
    emb.grow(1000, init="normal", std=0.5)
    assert 0.4 < float(emb.weight[5:].detach().std()) < 0.6
    with pytest.raises(ValueError):
        emb.grow(1001, init="bogus")  # type: ignore[arg-type]


def test_seed_makes_tables_and_growth_reproducible():
    a, b = GrowableEmbedding(3, 2, seed=7), GrowableEmbedding(3, 2, seed=7)
    a.grow(6)
    b.grow(6)
    assert torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, GrowableEmbedding(6, 2, seed=8).weight)


def test_padding_row_stays_zero_and_gets_no_gradient():
    emb = GrowableEmbedding(3, 2, padding_idx=0, seed=0)
    opt = torch.optim.SGD(emb.parameters(), lr=0.5)
    _step(emb, opt, [0, 1, 0])
    assert torch.all(emb.weight[0] == 0)
    emb.grow(5, init="mean")
    assert torch.allclose(emb.weight[4], emb.weight[1:3].mean(0))


def test_grad_is_grown_with_the_weight():
    emb = GrowableEmbedding(2, 2, seed=0)
    emb(torch.tensor([1])).sum().backward()
    emb.grow(4)
    assert emb.weight.grad is not None and emb.weight.grad.shape == (4, 2)


# -- samplers -------------------------------------------------------------------------------
def test_uniform_sampler_is_seeded_and_in_range():
    draws = sample_uniform(50, (100, 5), torch.Generator().manual_seed(3))
    again = sample_uniform(50, (100, 5), torch.Generator().manual_seed(3))
    assert draws.dtype == torch.int64 and draws.shape == (100, 5)
    assert torch.equal(draws, again)
    assert int(draws.min()) >= 0 and int(draws.max()) < 50
    counts = torch.bincount(draws.view(-1), minlength=50).double()
    assert float(counts.std() / counts.mean()) < 0.35  # about uniform (500 draws / 50 items)


def test_uniform_sampler_excludes_each_users_items():
    rng = np.random.default_rng(0)
    seen = sp.csr_matrix((rng.random((6, 20)) < 0.5).astype(np.float32))
    users = np.arange(6)
    draws = sample_uniform(20, (6, 30), torch.Generator().manual_seed(0), exclude=seen, users=users)
    hits = np.asarray(seen[np.repeat(users, 30), np.array(draws.view(-1).tolist())]).ravel()
    assert not hits.any()
    with pytest.raises(ValueError):
        sample_uniform(20, (6, 3), exclude=seen)


def test_popularity_sampler_follows_counts_to_the_power():
    counts = np.array([1.0, 4.0, 16.0, 0.0])
    draws = sample_by_popularity(counts, 40_000, torch.Generator().manual_seed(0), power=0.5)
    freq = torch.bincount(draws, minlength=4).double() / 40_000
    expected = torch.tensor([1.0, 2.0, 4.0, 0.0], dtype=torch.float64) / 7
    assert torch.allclose(freq, expected, atol=0.01)
    again = sample_by_popularity(counts, 40_000, torch.Generator().manual_seed(0), power=0.5)
    assert torch.equal(draws, again)
    assert sample_by_popularity(counts, (3, 2), power=1.0).shape == (3, 2)
    uniform = sample_by_popularity(np.zeros(3), 3000, torch.Generator().manual_seed(1))
    assert set(uniform.tolist()) == {0, 1, 2}


def test_in_batch_logits_diagonal_positives_and_corrections():
    g = torch.Generator().manual_seed(0)
    users, items = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    logits = in_batch_logits(users, items)
    assert torch.allclose(logits, users @ items.T)
    log_q = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    corrected = in_batch_logits(users, items, temperature=0.5, item_log_q=log_q)
    assert torch.allclose(corrected, users @ items.T / 0.5 - log_q)
    masked = in_batch_logits(users, items, item_idx=torch.tensor([3, 9, 3, 1]))
    assert masked[0, 2] == float("-inf") and masked[2, 0] == float("-inf")
    assert torch.isfinite(masked.diagonal()).all()
    loss = F.cross_entropy(masked, torch.arange(4))
    assert torch.isfinite(loss)


# -- sequences, steps, devices, persistence --------------------------------------------------
def test_pad_sequences_keeps_the_most_recent_items():
    seqs = [np.array([1, 2, 3, 4, 5]), [7], torch.tensor([8, 9]), []]
    assert pad_sequences(seqs, max_len=3).tolist() == [[3, 4, 5], [0, 0, 7], [0, 8, 9], [0, 0, 0]]
    right = pad_sequences(seqs, max_len=3, left=False, pad_value=-1)
    assert right.tolist() == [[3, 4, 5], [7, -1, -1], [8, 9, -1], [-1, -1, -1]]
    assert pad_sequences(seqs).shape == (4, 5)
    assert pad_sequences(seqs, max_len=0).shape == (4, 0)
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences(seqs, max_len=2).dtype == torch.int64


def test_train_step_clips_and_refuses_non_finite_loss():
    layer = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    before = [p.detach().clone() for p in layer.parameters()]
    loss = (layer(torch.full((2, 3), 100.0)) - 1e4).pow(2).mean()
    train_step(layer, opt, loss, max_grad_norm=0.1)
    with torch.no_grad():
        moved = torch.cat(
            [(p - b).view(-1) for p, b in zip(layer.parameters(), before, strict=True)]
        )
    assert float(moved.norm()) <= 0.1 + 1e-6  # lr=1: the step is the clipped gradient
    snapshot = layer.weight.detach().clone()
    with pytest.raises(FloatingPointError):
        train_step(layer, opt, layer(torch.ones(1, 3)).sum() * float("nan"))
    assert torch.equal(layer.weight, snapshot)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError):
            resolve_device("cuda")


def test_state_helpers_round_trip_including_grown_tables():
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = GrowableEmbedding(2, 3, seed=0)
            self.head = torch.nn.Linear(3, 1)
            self.register_buffer("scale", torch.tensor([2.0]))

    source = Net()
    source.items.grow(5)
    arrays = module_state_arrays(source, prefix="net.")
    assert set(arrays) == {"net.items.weight", "net.head.weight", "net.head.bias", "net.scale"}
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    arrays["other"] = np.zeros(1)  # keys without the prefix are ignored
    target = Net()
    load_module_state(target, arrays, prefix="net.")
    assert target.items.num_embeddings == 5
    for (name, a), (_, b) in zip(
        source.state_dict().items(), target.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    # The arrays are copies: training the source does not change them.
    with torch.no_grad():
        source.head.weight.add_(1.0)
    assert not np.array_equal(arrays["net.head.weight"], source.head.weight.detach().numpy())


def test_load_module_state_accepts_read_only_arrays():
    # safetensors' numpy loader hands back read-only arrays
    source, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    arrays = module_state_arrays(source)
    for array in arrays.values():
        array.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_module_state(target, arrays)
    assert torch.equal(target.weight, source.weight)


def test_state_helpers_handle_bfloat16():
    layer = torch.nn.Linear(2, 2).to(torch.bfloat16)
    arrays = module_state_arrays(layer)
    assert arrays["weight"].dtype == np.float32
    target = torch.nn.Linear(2, 2).to(torch.bfloat16)
    load_module_state(target, arrays)
    assert torch.equal(target.weight, layer.weight)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_growth_on_cuda_keeps_adam_state():
    emb = GrowableEmbedding(3, 2, seed=0, device="cuda")
    opt = torch.optim.Adam(emb.parameters(), lr=0.1)
    loss = emb(torch.tensor([0, 2], device="cuda")).pow(2).sum()
    train_step(emb, opt, loss)
    old = opt.state[emb.weight]["exp_avg"].clone()
    emb.grow(6, optimizers=[opt])
    assert emb.weight.device.type == "cuda"
    assert torch.equal(opt.state[emb.weight]["exp_avg"][:3], old)
    train_step(emb, opt, emb(torch.tensor([5], device="cuda")).pow(2).sum())


# -- grow_linear and the optimizer-state helpers (issue 3: CFGAN/IRGAN) ----------------------
def _linear_step(layer: torch.nn.Linear, opt: torch.optim.Optimizer) -> float:
    x = torch.linspace(-1.0, 1.0, 4 * layer.in_features).reshape(4, layer.in_features)
    return train_step(layer, opt, (layer(x) - 1.0).pow(2).sum())


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_grow_linear_keeps_old_block_and_pads_optimizer_state(name):
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    opt = OPTIMIZERS[name](layer.parameters())
    for _ in range(3):
        _linear_step(layer, opt)
    old = {"weight": layer.weight.detach().clone(), "bias": layer.bias.detach().clone()}
    old_state = {
        "weight": _row_states(opt, layer.weight),
        "bias": _row_states(opt, layer.bias),
    }
    old_scalars = {k: v for k, v in opt.state[layer.weight].items() if k not in old_state["weight"]}

    grow_linear(layer, in_features=5, out_features=4, optimizers=[opt])

    assert (layer.in_features, layer.out_features) == (5, 4)
    assert layer.weight.shape == (4, 5) and layer.bias.shape == (4,)
    assert [p for p in opt.param_groups[0]["params"]] == [layer.weight, layer.bias]
    assert torch.equal(layer.weight[:2, :3], old["weight"])
    assert torch.equal(layer.bias[:2], old["bias"])
    assert not layer.weight[2:].any() and not layer.weight[:, 3:].any()
    fill = 0.3 if name == "adagrad" else 0.0
    for pname, param in (("weight", layer.weight), ("bias", layer.bias)):
        state = opt.state[param]
        assert set(old_state[pname]) <= set(state)
        for key, value in old_state[pname].items():
            assert state[key].shape == param.shape, (pname, key)
            block = state[key][:2, :3] if pname == "weight" else state[key][:2]
            assert torch.equal(block, value), (pname, key)
            extra = state[key][2:].flatten()
            if pname == "weight":
                extra = torch.cat([extra, state[key][:2, 3:].flatten()])
            assert torch.all(extra == fill), (pname, key)
    for key, value in old_scalars.items():
        assert torch.equal(torch.as_tensor(opt.state[layer.weight][key]), torch.as_tensor(value))
    # The same optimizer keeps training the grown layer.
    before = layer.weight.detach().clone()
    _linear_step(layer, opt)
    assert not torch.equal(layer.weight[2:], before[2:])


def test_grow_linear_zero_init_keeps_outputs_of_old_inputs():
    layer = torch.nn.Linear(3, 2)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    expected = layer(x).detach()
    grow_linear(layer, in_features=6)
    padded = torch.cat([x, torch.zeros(5, 3)], dim=1)
    assert torch.equal(layer(padded).detach(), expected)
    assert torch.equal(layer(torch.cat([x, torch.ones(5, 3)], 1)).detach(), expected)


def test_grow_linear_inits_and_noop():
    layer = torch.nn.Linear(2, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        layer.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
    grow_linear(layer, in_features=3, out_features=4, init="mean")
    assert layer.weight[:3, 2].tolist() == [1.5, 3.5, 5.5]
    assert layer.weight[3].tolist() == [3.0, 4.0, 3.5]
    assert layer.bias[3].item() == 2.0
    weight = layer.weight
    grow_linear(layer, in_features=2, out_features=None)  # smaller or None: nothing to do
    assert layer.weight is weight
    draws = []
    for _ in range(2):
        fresh = torch.nn.Linear(2, 2)
        grow_linear(fresh, 4, 3, init="normal", std=0.5, generator=torch.Generator().manual_seed(1))
        draws.append(torch.cat([fresh.weight[2:].flatten(), fresh.weight[:, 2:].flatten()]))
        assert not fresh.bias[2:].any()
    assert torch.equal(draws[0], draws[1]) and draws[0].abs().sum() > 0
    with pytest.raises(ValueError, match="init"):
        grow_linear(torch.nn.Linear(2, 2), 3, init="ones")  # type: ignore[arg-type]


def test_grow_linear_without_bias_and_with_grad():
    layer = torch.nn.Linear(2, 2, bias=False)
    layer(torch.ones(1, 2)).sum().backward()
    grow_linear(layer, in_features=3, out_features=3)
    assert layer.bias is None and layer.weight.grad.shape == (3, 3)
    assert torch.equal(layer.weight.grad[:2, :2], torch.ones(2, 2))
    assert not layer.weight.grad[2:].any() and not layer.weight.grad[:, 2:].any()


def test_optimizer_state_round_trip_with_two_optimizers():
    net = torch.nn.ModuleDict({"g": torch.nn.Linear(3, 2), "d": torch.nn.Linear(2, 1)})
    g_opt = torch.optim.Adam(net["g"].parameters(), lr=0.1)
    d_opt = torch.optim.Adam(net["d"].parameters(), lr=0.1)
    for _ in range(2):
        loss = net["d"](net["g"](torch.ones(4, 3))).pow(2).sum()
        g_opt.zero_grad()
        d_opt.zero_grad()
        loss.backward()
        g_opt.step()
    d_opt.step()
    arrays = optimizer_state_arrays(net, [g_opt, d_opt], prefix="optimizer.")
    assert arrays["optimizer.g.weight.step"].tolist() == [2.0]
    assert arrays["optimizer.d.bias.step"].tolist() == [1.0]
    assert arrays["optimizer.g.weight.exp_avg_sq"].shape == (2, 3)
    arrays["unrelated"] = np.zeros(1)
    g_new = torch.optim.Adam(net["g"].parameters(), lr=0.1)
    d_new = torch.optim.Adam(net["d"].parameters(), lr=0.1)
    load_optimizer_state(net, [g_new, d_new], arrays, prefix="optimizer.")
    for old, new in ((g_opt, g_new), (d_opt, d_new)):
        for group_old, group_new in zip(old.param_groups, new.param_groups, strict=True):
            for p_old, p_new in zip(group_old["params"], group_new["params"], strict=True):
                for key, value in old.state[p_old].items():
                    assert torch.equal(new.state[p_new][key], value), key
                assert new.state[p_new]["step"].shape == ()
    # A parameter no optimizer holds gets nothing; state is copied, not shared.
    only_g = torch.optim.Adam(net["g"].parameters())
    load_optimizer_state(net, [only_g], arrays, prefix="optimizer.")
    assert not any(p in only_g.state for p in net["d"].parameters())
    arrays["optimizer.g.bias.exp_avg"][:] = 99.0
    assert not (only_g.state[net["g"].bias]["exp_avg"] == 99.0).any()
