"""Elastic weight consolidation for the torch recommenders: Fisher information and anchors.

:class:`Anchorable` gives a :class:`~freshrec.models.torch.torch_base.TorchRecommender` the two
methods :class:`freshrec.update.forgetting.EWC` calls: :meth:`~Anchorable.fisher` (the
empirical Fisher information of every parameter on some events) and
:meth:`~Anchorable.anchor` (pull the parameters toward their current values, entry by entry,
in later updates). The model's training loop adds :meth:`TorchRecommender._anchor_penalty
<freshrec.models.torch.torch_base.TorchRecommender._anchor_penalty>` to every mini-batch loss, and
its ``_loss_terms(batch)`` yields the losses the Fisher information is measured on.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models.neumf import NeuMF
>>> model = NeuMF(n_factors=4, hidden=(8,), n_epochs=2).fit(checkerboard_events())
>>> info = model.fisher(checkerboard_events())
>>> info["user_gmf.weight"].shape == tuple(model.module_.user_gmf.weight.shape)
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Self

import numpy as np
import torch

from freshrec.data.batch import EventBatch, Events, as_batch

__all__ = ["Anchorable"]


class Anchorable:
    """Mixin: ``fisher`` and ``anchor`` for a torch recommender (see the module doc).

    Examples
    --------
    >>> from freshrec.models.sasrec import SASRec
    >>> issubclass(SASRec, Anchorable)
    True
    """

    module_: torch.nn.Module

    if TYPE_CHECKING:  # provided by TorchRecommender, which comes after this mixin

        def _check_fitted(self) -> None: ...

        def encode(self, batch: EventBatch, *, grow: bool = False) -> EventBatch: ...

        def _loss_terms(self, batch: EventBatch) -> Iterator[tuple[torch.Tensor, int]]: ...

    def fisher(self, events: Events) -> dict[str, np.ndarray]:
        """Empirical Fisher information of every parameter on ``events``' positives.

        The sum over mini-batches of the batch size times the squared gradient of the
        batch's mean training loss (events of unknown users or items are skipped), per
        parameter entry, keyed by parameter name (``"item_gmf.weight"``). The module is in
        eval mode, so dropout plays no part.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.sasrec import SASRec
        >>> model = SASRec(dim=8, max_len=6, n_epochs=2).fit(checkerboard_events())
        >>> info = model.fisher(checkerboard_events())
        >>> bool(all((v >= 0).all() for v in info.values()))
        True
        >>> bool(info["item_embedding.weight"].sum() > 0)
        True
        """
        self._check_fitted()
        batch = self.encode(as_batch(events))
        user_idx, item_idx = batch.indices()
        batch = batch.take((user_idx >= 0) & (item_idx >= 0))
        params = dict(self.module_.named_parameters())
        info = {name: torch.zeros_like(param) for name, param in params.items()}
        self.module_.eval()
        for loss, size in self._loss_terms(batch):
            self.module_.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            for name, param in params.items():
                if param.grad is not None:
                    info[name] += size * param.grad.detach() ** 2
        self.module_.zero_grad(set_to_none=True)
        return {name: value.cpu().numpy() for name, value in info.items()}

    def anchor(self, weights: Mapping[str, np.ndarray] | None) -> Self:
        """Pull the parameters toward their current values in later updates (EWC).

        Every later mini-batch loss also pays ``sum w * (theta - theta_now)^2 / 2`` with
        per-entry ``weights`` keyed by parameter name (e.g. strength times :meth:`fisher`);
        rows that a table grows later have weight 0. ``None`` removes the anchor. Not saved
        with the model.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> import copy
        >>> from freshrec.models.neumf import NeuMF
        >>> events = checkerboard_events()
        >>> model = NeuMF(n_factors=4, hidden=(8,), n_epochs=10, lr=0.01).fit(events[:100])
        >>> before = model.module_.item_gmf.weight.detach().clone()
        >>> def moved(m):
        ...     after = m.partial_fit(events[100:]).module_.item_gmf.weight[: len(before)].detach()
        ...     return float((after - before).abs().mean())
        >>> heavy = {k: np.full_like(v, 100.0) for k, v in model.fisher(events[:100]).items()}
        >>> moved(copy.deepcopy(model).anchor(heavy)) < moved(copy.deepcopy(model)) / 2
        True
        """
        if weights is None:
            self.__dict__.pop("anchor_", None)
            return self
        self._check_fitted()
        anchor: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, param in self.module_.named_parameters():
            if name not in weights:
                continue
            weight = torch.as_tensor(np.asarray(weights[name]), dtype=param.dtype)
            if tuple(weight.shape) != tuple(param.shape):
                raise ValueError(
                    f"anchor weights {name!r} have shape {tuple(weight.shape)}, "
                    f"expected {tuple(param.shape)}"
                )
            anchor[name] = (param.detach().clone(), weight.to(param.device))
        self.anchor_ = anchor
        return self
