"""Step-size schedules over one training pass: constant, or a short warm-up and a decay to zero.

A model with ``lr_schedule`` other than ``"constant"`` scales its step size at every
mini-batch of a ``fit``/``partial_fit`` by :func:`step_size_factor`: a linear warm-up over the
first :data:`WARMUP` of the pass's steps, then a linear or cosine decay that reaches zero
after the last of its ``n_epochs`` epochs. A decayed step settles the parameters at the end
of the budget instead of leaving them wandering at the full step size, which is what lets a
fixed, short budget reach the quality a constant step reaches only after many more epochs.
Early stopping still ends a pass sooner when validation stops improving.
"""

from __future__ import annotations

import math

import torch

__all__ = ["SCHEDULES", "WARMUP", "apply_step_size", "check_schedule", "step_size_factor"]

SCHEDULES = ("constant", "linear", "cosine")
WARMUP = 0.05  # the share of a pass's steps spent warming up (linear and cosine)


def check_schedule(schedule: str) -> None:
    """Raise ``ValueError`` naming the choices when ``schedule`` is not one of :data:`SCHEDULES`.

    Examples
    --------
    >>> check_schedule("cosine")
    >>> check_schedule("step")
    Traceback (most recent call last):
    ...
    ValueError: lr_schedule must be one of constant, linear, cosine; got 'step'
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}")


def step_size_factor(schedule: str, step: int, total: int) -> float:
    """The multiple of ``lr`` for step ``step`` (from 0) of a pass of ``total`` steps.

    Examples
    --------
    >>> [round(step_size_factor("cosine", s, 100), 3) for s in (0, 4, 5, 52, 99)]
    [0.2, 1.0, 1.0, 0.508, 0.0]
    >>> step_size_factor("constant", 99, 100), round(step_size_factor("linear", 99, 100), 4)
    (1.0, 0.0105)
    """
    check_schedule(schedule)
    if schedule == "constant":
        return 1.0
    warmup = max(1, round(WARMUP * total))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)  # 0 at the first step after warm-up
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def apply_step_size(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the step size of every param group of ``optimizer`` (its state is kept).

    Examples
    --------
    >>> opt = torch.optim.Adam(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    >>> apply_step_size(opt, 0.05)
    >>> opt.param_groups[0]["lr"]
    0.05
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
