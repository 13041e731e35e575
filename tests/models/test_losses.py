"""The chunked full-softmax cross-entropy equals torch's in value and every gradient."""

import pytest
import torch
import torch.nn.functional as F

from freshrec.models.torch.losses import linear_cross_entropy


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_value_and_gradients_match_cross_entropy(with_bias: bool, chunk: int) -> None:
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(23, 6, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 6, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(11, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 11, (23,), generator=g)
    b = bias if with_bias else None

    fused = linear_cross_entropy(hidden, weight, target, b, chunk=chunk) * 3.0
    fused_grads = torch.autograd.grad(fused, [hidden, weight] + ([bias] if with_bias else []))
    logits = hidden @ weight.T + (bias if with_bias else 0.0)
    reference = F.cross_entropy(logits, target) * 3.0
    reference_grads = torch.autograd.grad(
        reference, [hidden, weight] + ([bias] if with_bias else [])
    )

    torch.testing.assert_close(fused, reference)
    for mine, theirs in zip(fused_grads, reference_grads, strict=True):
        torch.testing.assert_close(mine, theirs)


def test_large_logits_stay_finite() -> None:
    hidden = torch.full((2, 1), 100.0, requires_grad=True)
    weight = torch.tensor([[50.0], [-50.0]], requires_grad=True)
    loss = linear_cross_entropy(hidden, weight, torch.tensor([1, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(hidden.grad).all()
    torch.testing.assert_close(loss, F.cross_entropy(hidden @ weight.T, torch.tensor([1, 0])))


def test_sliced_table_passes_its_gradient_to_the_parameter() -> None:
    table = torch.nn.Parameter(torch.randn(5, 3))
    hidden = torch.randn(4, 3)
    linear_cross_entropy(hidden, table[1:], torch.tensor([0, 1, 2, 3])).backward()
    assert table.grad is not None
    assert torch.all(table.grad[0] == 0) and table.grad[1:].abs().sum() > 0
