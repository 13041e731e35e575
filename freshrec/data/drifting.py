"""Synthetic rating streams with drifts injected at known times and sizes (the ground truth).

Three kinds of :class:`Drift`:

- ``"abrupt"``: at event ``at``, a share ``share`` of the users get new tastes at once;
- ``"gradual"``: the same users' tastes move linearly from old to new over ``span`` events;
- ``"popularity"``: at event ``at``, the item appeals (which items get picked) are re-drawn.

The generative process (one ``np.random.Generator(seed)``): item factors ``q_i ~ N(0, I/f)``,
user tastes ``p_u ~ N(0, I)``, user activity ``LogNormal(0, 0.6)``, item appeal
``N(0, 1)``. Event ``t`` draws its user by activity and its item by ``softmax(appeal)``,
or with ``taste_choice`` > 0 by ``softmax(appeal + taste_choice * z)`` so that tastes also
steer what users pick (repeats allowed: a stream of ratings, not a set), and its rating is
``clip(rint(3 + 1.2 z + N(0, 0.5^2)), 1, 5)`` with ``z = p_u(t) . q_i`` scaled to unit
variance. Timestamps are the event indices (seconds).

Examples
--------
>>> stream = drifting_stream(n_events=2000, drifts=[Drift("abrupt", at=1000, share=0.5)])
>>> len(stream.events), stream.drifts[0].at
(2000, 1000)
>>> bool(stream.events.value.min() >= 1 and stream.events.value.max() <= 5)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from freshrec.data.batch import EventBatch

__all__ = ["DRIFT_KINDS", "Drift", "DriftingStream", "drifting_stream"]

DRIFT_KINDS = ("abrupt", "gradual", "popularity")


@dataclass(frozen=True)
class Drift:
    """One injected change: its kind, first event, share of users and span (gradual).

    Examples
    --------
    >>> Drift("gradual", at=500, share=0.3, span=200).end
    700
    """

    kind: str
    at: int
    share: float = 0.5
    span: int = 0

    def __post_init__(self) -> None:
        if self.kind not in DRIFT_KINDS:
            raise ValueError(f"kind must be one of {DRIFT_KINDS}, got {self.kind!r}")
        if self.at < 0 or self.span < 0:
            raise ValueError(f"at and span must be >= 0, got {self.at}, {self.span}")
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {self.share}")

    @property
    def end(self) -> int:
        """The event from which the new state holds fully."""
        return self.at + self.span


@dataclass(frozen=True)
class DriftingStream:
    """The events and the drifts injected into them (ground truth), with affected users.

    Examples
    --------
    >>> stream = drifting_stream(n_users=10, n_events=100, drifts=[Drift("abrupt", 50, 0.5)])
    >>> len(stream.affected_users[0])
    5
    """

    events: EventBatch
    drifts: tuple[Drift, ...]
    affected_users: tuple[np.ndarray, ...]


def drifting_stream(
    n_users: int = 1000,
    n_items: int = 500,
    n_events: int = 100_000,
    drifts: Sequence[Drift] = (),
    n_factors: int = 8,
    taste_choice: float = 0.0,
    seed: int = 0,
) -> DriftingStream:
    """A rating stream with ``drifts`` injected (see the module doc).

    Examples
    --------
    >>> stream = drifting_stream(n_users=20, n_items=10, n_events=300,
    ...                          drifts=[Drift("popularity", at=150)])
    >>> len(stream.events), stream.drifts[0].kind
    (300, 'popularity')
    """
    if min(n_users, n_items, n_factors) < 1 or n_events < 0:
        raise ValueError("n_users, n_items and n_factors must be >= 1 and n_events >= 0")
    for drift in drifts:
        if drift.at > n_events:
            raise ValueError(f"a drift at event {drift.at} lies past the {n_events} events")
    rng = np.random.default_rng(seed)
    item_factors = rng.normal(size=(n_items, n_factors)) / np.sqrt(n_factors)
    tastes = rng.normal(size=(n_users, n_factors))
    activity = rng.lognormal(0.0, 0.6, size=n_users)
    appeal = rng.normal(size=n_items)
    users = rng.choice(n_users, size=n_events, p=activity / activity.sum())
    items = np.empty(n_events, dtype=np.int64)
    event_tastes = tastes[users].copy()
    affected: list[np.ndarray] = []
    cuts = sorted({0, n_events, *(d.at for d in drifts if d.kind == "popularity")})
    appeals = {0: appeal}
    for drift in sorted(drifts, key=lambda d: d.at):
        if drift.kind == "popularity":
            appeals[drift.at] = rng.normal(size=n_items)
            affected.append(np.zeros(0, np.int64))
            continue
        chosen = np.sort(rng.choice(n_users, size=int(round(drift.share * n_users)), replace=False))
        new = rng.normal(size=(len(chosen), n_factors))
        affected.append(chosen)
        after = np.arange(n_events) >= drift.at
        hit = after & np.isin(users, chosen)
        rows = np.searchsorted(chosen, users[hit])
        weight = np.ones(int(hit.sum()))
        if drift.kind == "gradual" and drift.span:
            weight = np.clip((np.flatnonzero(hit) - drift.at) / drift.span, 0.0, 1.0)
        event_tastes[hit] = (1 - weight[:, None]) * event_tastes[hit] + weight[:, None] * new[rows]
        if drift.kind == "abrupt":
            tastes[chosen] = new
    current = appeals[0]
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        current = appeals.get(start, current)
        if taste_choice:  # Gumbel-max over appeal + taste_choice * z, in chunks
            for lo in range(start, stop, 8192):
                hi = min(lo + 8192, stop)
                logits = current + taste_choice * (event_tastes[lo:hi] @ item_factors.T)
                logits += rng.gumbel(size=logits.shape)
                items[lo:hi] = logits.argmax(axis=1)
        else:
            chance = np.exp(current - current.max())
            items[start:stop] = rng.choice(n_items, size=stop - start, p=chance / chance.sum())
    z = np.einsum("nf,nf->n", event_tastes, item_factors[items])
    noise = rng.normal(scale=0.5, size=n_events)
    values = np.clip(np.rint(3.0 + 1.2 * z + noise), 1, 5).astype(np.float32)
    events = EventBatch(users, items, values, timestamp=np.arange(n_events, dtype=np.float64))
    ordered = tuple(sorted(drifts, key=lambda d: d.at))
    return DriftingStream(events, ordered, tuple(affected))
