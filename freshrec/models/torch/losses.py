"""Full-softmax cross-entropy over an item table without materialising its gradient twice.

``F.cross_entropy(hidden @ weight.T, target)`` keeps the (M, n) logits for backward, then
builds a zero-filled (M, n) gradient and runs a log-softmax backward over it; on CPU these
took about half of a SASRec training step on ML-1M (M = 25,600 positions, n = 3,416 items).
:func:`linear_cross_entropy` computes the loss and its gradients in chunks of rows during the
forward pass: each chunk's softmax is formed in place, the one-hot target subtracted, and the
gradients of ``hidden``, ``weight`` and ``bias`` accumulated with two matrix products; backward
only scales them. Peak memory is one chunk of logits instead of all of them.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["linear_cross_entropy"]


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        target: torch.Tensor,
        chunk: int,
    ) -> torch.Tensor:
        n_rows = len(hidden)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight)
        grad_bias = torch.zeros_like(bias) if bias is not None else None
        total = torch.zeros((), dtype=torch.float64, device=hidden.device)
        for start in range(0, n_rows, chunk):
            rows = slice(start, min(start + chunk, n_rows))
            h, t = hidden[rows], target[rows]
            logits = h @ weight.T
            if bias is not None:
                logits += bias
            positions = torch.arange(len(t), device=t.device)
            shift = logits.max(dim=1, keepdim=True).values
            picked = logits[positions, t] - shift[:, 0]
            probs = logits.sub_(shift).exp_()
            norm = probs.sum(dim=1, keepdim=True)
            total += (norm[:, 0].log() - picked).sum(dtype=torch.float64)
            probs.div_(norm)
            probs[positions, t] -= 1.0  # d loss_row / d logits_row
            grad_hidden[rows] = probs @ weight
            grad_weight.addmm_(probs.T, h)
            if grad_bias is not None:
                grad_bias += probs.sum(dim=0)
        scale = 1.0 / max(n_rows, 1)
        ctx.save_for_backward(grad_hidden.mul_(scale), grad_weight.mul_(scale))
        ctx.grad_bias = grad_bias.mul_(scale) if grad_bias is not None else None
        return (total * scale).to(hidden.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_hidden, grad_weight = ctx.saved_tensors
        grad_bias = ctx.grad_bias * grad_output if ctx.grad_bias is not None else None
        return grad_hidden * grad_output, grad_weight * grad_output, grad_bias, None, None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    bias: torch.Tensor | None = None,
    chunk: int = 4096,
) -> torch.Tensor:
    """Mean cross-entropy of ``softmax(hidden @ weight.T + bias)`` at ``target``.

    Equal to ``F.cross_entropy(hidden @ weight.T + bias, target)`` in value and gradients,
    computed ``chunk`` rows at a time (see the module docstring). ``hidden`` is (M, d),
    ``weight`` (n, d), ``bias`` (n,) or None, ``target`` (M,) class indices in ``[0, n)``.

    Examples
    --------
    >>> import torch.nn.functional as F
    >>> h = torch.randn(5, 3, requires_grad=True)
    >>> w = torch.randn(4, 3, requires_grad=True)
    >>> t = torch.tensor([0, 3, 1, 1, 2])
    >>> fused = linear_cross_entropy(h, w, t, chunk=2)
    >>> torch.allclose(fused, F.cross_entropy(h @ w.T, t))
    True
    """
    loss: torch.Tensor = _LinearCrossEntropy.apply(  # type: ignore[no-untyped-call]
        hidden, weight, bias, target, chunk
    )
    return loss
