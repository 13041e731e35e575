"""Online boosting of Hoeffding trees for click prediction (river, a core dependency).

:class:`OnlineBoosting` predicts a click from categorical fields (the same ``user``,
``item``, ``context.<column>`` and ``item.<column>`` fields as
:class:`~freshrec.models.ftrl.FTRLFM`), with Oza and Russell's online boosting (river's
``ensemble.AdaBoostClassifier``) over Hoeffding trees that split on the fields' values.
Trees pick up interactions among a few low-cardinality fields (position, category) that a
linear model needs explicit pairs for; high-cardinality ids suit them poorly, so leave
``user`` and ``item`` to FTRL-FM. The per-event loop is river's (Python): expect thousands
of events per second, not millions.

Examples
--------
>>> from freshrec.data.batch import EventBatch
>>> from freshrec.evaluation.metrics import auc
>>> rng = np.random.default_rng(0)
>>> shown, slot = rng.integers(0, 6, 6000), rng.integers(1, 4, 6000)
>>> clicks = (rng.random(6000) < np.where((shown < 2) & (slot == 1), 0.7, 0.05)).astype(float)
>>> events = EventBatch(np.zeros(6000, int), shown, clicks, context={"slot": slot})
>>> model = OnlineBoosting(fields=("item", "context.slot"), n_models=3, grace_period=50)
>>> p = model.learn_predict(events)
>>> bool(auc(clicks[3000:], p[3000:]) > 0.75)  # the (item, slot) interaction, learned
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from freshrec.data.batch import Events, as_batch
from freshrec.data.dataset import SideTable
from freshrec.models.ftrl import ClickModel, field_values

__all__ = ["OnlineBoosting"]


class OnlineBoosting(ClickModel):
    """Click probability from online boosting of Hoeffding trees (river).

    ``learn_predict``, ``partial_fit`` and ``predict_proba`` come from
    :class:`~freshrec.models.ftrl.ClickModel`.

    Parameters
    ----------
    fields
        The categorical fields each event is described by.
    n_models
        Trees in the ensemble (at least 2).
    grace_period
        Events a leaf sees between split attempts.
    delta
        The Hoeffding bound's allowed error of a split decision.
    seed
        Seed of the boosting's Poisson weights.

    Attributes
    ----------
    model_
        The river ensemble (after the first event).

    Examples
    --------
    >>> from freshrec.data.batch import EventBatch
    >>> events = EventBatch(np.zeros(4, int), np.array([1, 2, 1, 2]), np.array([1.0, 0, 1, 0]))
    >>> OnlineBoosting(n_models=2).partial_fit(events).predict_proba(events).shape
    (4,)
    """

    def __init__(
        self,
        fields: tuple[str, ...] = ("item",),
        n_models: int = 10,
        grace_period: int = 200,
        delta: float = 1e-7,
        seed: int | None = 0,
    ) -> None:
        self.fields = fields
        self.n_models = n_models
        self.grace_period = grace_period
        self.delta = delta
        self.seed = seed

    def _run(self, events: Events, items: SideTable | None, *, learn: bool) -> np.ndarray:
        batch = as_batch(events)
        columns = [field_values(batch, field, items).astype(str) for field in self.fields]
        labels = (np.asarray(batch.value) > 0).tolist()
        model = self._model()
        out = np.empty(len(batch))
        for row, label in enumerate(labels):
            x = {field: column[row] for field, column in zip(self.fields, columns, strict=True)}
            out[row] = model.predict_proba_one(x).get(True, 0.0)
            if learn:
                model.learn_one(x, label)
        return out

    def _model(self) -> Any:
        if not hasattr(self, "model_"):
            from river import ensemble, tree

            self.model_ = ensemble.AdaBoostClassifier(
                model=tree.HoeffdingTreeClassifier(
                    grace_period=self.grace_period, delta=self.delta
                ),
                n_models=self.n_models,
                seed=self.seed,
            )
        return self.model_
