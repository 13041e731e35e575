"""Forgetting control for fine-tuning: elastic weight consolidation and self-distillation.

A fine-tune on the newest window moves the parameters toward what that window says and can
lose what older events taught (catastrophic forgetting). Besides replay
(:class:`~freshrec.update.replay.ReservoirReplay`), two controls act on the update itself:

- :class:`EWC` (Kirkpatrick et al., PNAS 2017): before the update, measure each parameter's
  empirical Fisher information on the previous window and anchor the parameters there; the
  update then pays ``strength * F * (theta - theta_before)^2 / 2`` for moving the ones that
  mattered.
- :class:`Distillation` (Hinton et al., 2015, applied to model versions): the model before
  the update is the teacher; each training step also matches the teacher's preference
  between two random items for a random known user.

A control needs a model with the capability it uses: :class:`~freshrec.capabilities.Anchors`
(``fisher`` and ``anchor``, for EWC: BPR, NeuMF and the sequential models) or
:class:`~freshrec.capabilities.DistilsFromSelf` (``distil_from_self``, for distillation: BPR).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import Anchors, DistilsFromSelf
from freshrec.data.batch import EventBatch

__all__ = ["EWC", "Distillation", "ForgettingControl"]


@runtime_checkable
class ForgettingControl(Protocol):
    """Something that shapes one update so the model keeps what it knew.

    Examples
    --------
    >>> isinstance(EWC(), ForgettingControl)
    True
    """

    def before_update(self, model: RecommenderBase, previous: EventBatch) -> None:
        """Prepare ``model`` for the next update; ``previous`` is what it learned last."""

    def after_update(self, model: RecommenderBase) -> None:
        """Remove what :meth:`before_update` attached."""


class EWC:
    """Elastic weight consolidation with the Fisher information of the previous window.

    The Fisher information is scaled to mean 1 over the entries that have any, so
    ``strength`` reads like an L2 penalty on the important entries (and is comparable
    across window sizes).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> events = checkerboard_events()
    >>> model = BPR(n_factors=4, n_epochs=5).fit(events[:100])
    >>> control = EWC(strength=2.0)
    >>> control.before_update(model, events[:100])
    >>> round(float(model.anchor_["item_factors_weight"][model.anchor_["item_factors_weight"] > 0]
    ...            .mean()), 3) > 0
    True
    >>> control.after_update(model)
    >>> "anchor_" in vars(model)
    False
    """

    def __init__(self, strength: float = 1.0) -> None:
        if strength < 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        self.strength = strength

    def before_update(self, model: RecommenderBase, previous: EventBatch) -> None:
        anchored = _anchors(model)
        fisher = anchored.fisher(previous)
        touched = np.concatenate([v[v > 0].ravel() for v in fisher.values()])
        scale = float(touched.mean()) if len(touched) else 1.0
        weights = {name: self.strength * value / scale for name, value in fisher.items()}
        anchored.anchor(weights)

    def after_update(self, model: RecommenderBase) -> None:
        _anchors(model).anchor(None)


class Distillation:
    """Distil from the model as it was before the update (``weight`` scales the term).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> model = BPR(n_factors=4, n_epochs=5).fit(checkerboard_events())
    >>> control = Distillation(weight=0.5)
    >>> control.before_update(model, checkerboard_events())
    >>> model.teacher_weight_
    0.5
    """

    def __init__(self, weight: float = 1.0) -> None:
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = weight

    def before_update(self, model: RecommenderBase, previous: EventBatch) -> None:
        _distils(model).distil_from_self(self.weight)

    def after_update(self, model: RecommenderBase) -> None:
        _distils(model).distil_from_self(0.0)


def _anchors(model: RecommenderBase) -> Anchors:
    if not isinstance(model, Anchors):
        raise _unsupported(model, "Anchors (fisher and anchor)")
    return model


def _distils(model: RecommenderBase) -> DistilsFromSelf:
    if not isinstance(model, DistilsFromSelf):
        raise _unsupported(model, "DistilsFromSelf (distil_from_self)")
    return model


def _unsupported(model: RecommenderBase, needs: str) -> ValueError:
    return ValueError(
        f"{type(model).__name__} does not support this forgetting control: it is not {needs}; "
        "use replay instead"
    )
