"""Optimizers for embedding tables, and the optimizers a torch model can be trained with.

torch's SGD, Adam, RMSprop and Adagrad keep one or two state values per parameter entry. For
large embedding tables two cheaper, sparser rules are common in production recommenders:

- :class:`RowWiseAdagrad`: one accumulator per *row* (the mean squared gradient of the
  row), as in TorchRec/FBGEMM's row-wise Adagrad; rows without gradient are not touched.
- :class:`FTRLProximal`: per-coordinate FTRL-Proximal (McMahan et al., KDD 2013) with L1
  and L2; L1 gives exact zeros, so rare ids can cost nothing.

:func:`make_optimizer` builds any of them by name (``sgd``, ``adam``, ``rmsprop``,
``adagrad``, ``rowwise-adagrad``, ``ftrl``). Their state tensors have the rows as first
dimension, so :meth:`~freshrec.models.torch.nn.GrowableEmbedding.grow` extends them for new ids.
:func:`step_settings` names the param-group entries that carry a step size and weight decay,
and :func:`apply_step_settings` writes them into a live optimizer, keeping its state, so a
model's changed ``lr``/``l2`` reaches its next update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

__all__ = [
    "OPTIMIZERS",
    "FTRLProximal",
    "RowWiseAdagrad",
    "apply_step_settings",
    "make_optimizer",
    "step_settings",
]


class RowWiseAdagrad(torch.optim.Optimizer):
    """Adagrad with one accumulator per row: ``G_r += mean(g_r^2)``, ``w_r -= lr g_r / sqrt(G_r)``.

    Rows whose gradient is all zero (ids absent from the batch) keep their values and
    accumulators. For 1-D parameters the accumulator is per entry.

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.ones(3, 2))
    >>> opt = RowWiseAdagrad([w], lr=0.5)
    >>> w.grad = torch.tensor([[1.0, 1.0], [0.0, 0.0], [2.0, 0.0]])
    >>> opt.step()
    >>> w.detach()[:, 0].tolist(), opt.state[w]["sum"].tolist()
    ([0.5, 1.0, 0.2928...], [1.0, 0.0, 2.0])
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, eps: float = 1e-10) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                rows = grad.reshape(len(grad), -1) if grad.dim() > 1 else grad[:, None]
                state = self.state[param]
                if "sum" not in state:
                    state["sum"] = grad.new_zeros(len(grad))
                touched = rows.abs().sum(1) > 0
                state["sum"][touched] += rows[touched].pow(2).mean(1)
                scale = group["lr"] / (state["sum"][touched].sqrt() + group["eps"])
                shape = (-1,) + (1,) * (grad.dim() - 1)
                param[touched] -= scale.reshape(shape) * grad[touched]
        return loss


class FTRLProximal(torch.optim.Optimizer):
    """Per-coordinate FTRL-Proximal with L1 and L2 (McMahan et al., 2013, Algorithm 1).

    State per entry: ``z`` and ``n`` (sum of squared gradients). Each step:
    ``sigma = (sqrt(n + g^2) - sqrt(n)) / alpha``, ``z += g - sigma w``, ``n += g^2``, and
    ``w = 0`` where ``|z| <= l1``, else ``w = -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha
    + l2)``. Entries with zero gradient keep their state and value.

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.zeros(2, 2))
    >>> opt = FTRLProximal([w], alpha=0.1, l1=0.5)
    >>> w.grad = torch.tensor([[1.0, 0.1], [-2.0, 0.0]])
    >>> opt.step()
    >>> w.detach().tolist()  # |z| <= l1 stays exactly zero
    [[-0.025, 0.0], [0.05, 0.0]]
    """

    def __init__(
        self,
        params: Iterable[Any],
        alpha: float = 0.1,
        beta: float = 1.0,
        l1: float = 0.0,
        l2: float = 0.0,
    ) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        if min(beta, l1, l2) < 0:
            raise ValueError("beta, l1 and l2 must be >= 0")
        super().__init__(params, {"alpha": alpha, "beta": beta, "l1": l1, "l2": l2})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            alpha, beta, l1, l2 = group["alpha"], group["beta"], group["l1"], group["l2"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if "z" not in state:
                    state["z"] = torch.zeros_like(param)
                    state["n"] = torch.zeros_like(param)
                z, n = state["z"], state["n"]
                active = grad != 0
                g = grad[active]
                sigma = ((n[active] + g * g).sqrt() - n[active].sqrt()) / alpha
                z[active] += g - sigma * param[active]
                n[active] += g * g
                za = z[active]
                weight = -(za - za.sign() * l1) / ((beta + n[active].sqrt()) / alpha + l2)
                param[active] = torch.where(za.abs() <= l1, torch.zeros_like(za), weight)
        return loss


def _torch_optimizer(cls: Any) -> Callable[..., torch.optim.Optimizer]:
    return lambda params, lr, **kw: cls(params, lr=lr, **kw)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": _torch_optimizer(torch.optim.SGD),
    "adam": _torch_optimizer(torch.optim.Adam),
    "rmsprop": _torch_optimizer(torch.optim.RMSprop),
    "adagrad": _torch_optimizer(torch.optim.Adagrad),
    "rowwise-adagrad": lambda params, lr, **kw: RowWiseAdagrad(params, lr=lr, **kw),
    "ftrl": lambda params, lr, **kw: FTRLProximal(params, alpha=lr, **kw),
}


def make_optimizer(name: str, params: Iterable[Any], lr: float, **options: Any) -> Any:
    """The optimizer called ``name`` over ``params`` with step size ``lr`` (FTRL: ``alpha``).

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 1)
    >>> type(make_optimizer("rowwise-adagrad", layer.parameters(), lr=0.1)).__name__
    'RowWiseAdagrad'
    >>> make_optimizer("lion", layer.parameters(), lr=0.1)
    Traceback (most recent call last):
    ...
    ValueError: unknown optimizer 'lion'; choose from sgd, adam, rmsprop, adagrad, \
rowwise-adagrad, ftrl
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr, **options)


_WEIGHT_DECAY = ("sgd", "adam", "rmsprop", "adagrad")  # torch's own: a ``weight_decay`` entry


def step_settings(name: str, lr: float, weight_decay: float = 0.0) -> dict[str, float]:
    """The param-group entries that give optimizer ``name`` step size ``lr`` and weight decay.

    The step size is ``lr`` (FTRL: ``alpha``, as in :func:`make_optimizer`); torch's SGD,
    Adam, RMSprop and Adagrad also take ``weight_decay``, the row-wise Adagrad and FTRL have
    none (FTRL's own ``l1``/``l2`` are left alone).

    Examples
    --------
    >>> step_settings("adam", 0.01, weight_decay=1e-4)
    {'lr': 0.01, 'weight_decay': 0.0001}
    >>> step_settings("ftrl", 0.1, weight_decay=1e-4)
    {'alpha': 0.1}
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    settings = {"alpha" if name == "ftrl" else "lr": lr}
    if name in _WEIGHT_DECAY:
        settings["weight_decay"] = weight_decay
    return settings


def apply_step_settings(optimizer: torch.optim.Optimizer, settings: Mapping[str, float]) -> None:
    """Write ``settings`` into every param group of ``optimizer``; its state is kept.

    torch's optimizers read their groups' ``lr`` and ``weight_decay`` at every step, so the
    next step uses the new values and continues the old moments (Adam's ``exp_avg``...).

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    >>> apply_step_settings(opt, step_settings("adam", 0.01, weight_decay=0.5))
    >>> [(group["lr"], group["weight_decay"]) for group in opt.param_groups]
    [(0.01, 0.5)]
    """
    for group in optimizer.param_groups:
        group.update(settings)
