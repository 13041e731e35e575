"""The compiled test-then-train pass behind :meth:`freshrec.models.bpr.BPR.learn_rank`.

One loop over the events in order: rank the event's item for its user among the items seen
so far (the user's earlier items masked, as the ranking protocols do), then take BPR steps
on it. Kept apart from :mod:`freshrec.models.bpr` (which it builds on) so that file stays
about batch training.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from freshrec.models.bpr import _pair_score, _pair_step

__all__ = ["UNSEEN_RANK", "prequential_rank_pass"]

UNSEEN_RANK = 2**62  # the rank of an item no one had taken yet: a miss at any cut-off


@njit(cache=True)
def prequential_rank_pass(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    positive: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    item_seen: np.ndarray,
    lr: float,
    l2: float,
    use_bias: bool,
    steps: int,
    exclude_seen: bool,
    seed: int,
    ranks: np.ndarray,
) -> None:
    """Rank, then learn, each event ``(users[t], items[t])`` in order; ranks into ``ranks``.

    ``ranks[t]``: how many items seen before event ``t`` outscore its item for its user,
    not counting the user's earlier positives when ``exclude_seen`` (from the CSR
    ``indptr``/``indices`` of the positives learned before this pass, and from this pass's
    earlier events); an item seen for the first time gets :data:`UNSEEN_RANK` (it could not
    have been recommended); ``-1`` for events that are not positives (not ranked, not
    learned).
    ``item_seen`` (bool per item row) is updated as items appear. Each positive then takes
    ``steps`` BPR steps, each against a negative drawn uniformly from the seen items the
    user has no positive for.
    """
    np.random.seed(seed)
    n_items, n_factors = item_factors.shape
    seen_list = np.empty(n_items, dtype=np.int64)
    n_seen = 0
    for j in range(n_items):
        if item_seen[j]:
            seen_list[n_seen] = j
            n_seen += 1
    last = np.full(user_factors.shape[0], -1, dtype=np.int64)  # latest event per user
    previous = np.full(len(users), -1, dtype=np.int64)  # the user's event before t
    masked = np.zeros(n_items, dtype=np.bool_)
    for t in range(len(users)):
        u, i = users[t], items[t]
        previous[t] = last[u]
        last[u] = t
        if not positive[t]:
            ranks[t] = -1
            continue
        # the user's positives so far, flagged in ``masked``
        start, stop = (indptr[u], indptr[u + 1]) if u + 1 < len(indptr) else (0, 0)
        for p in range(start, stop):
            masked[indices[p]] = True
        s = previous[t]
        while s >= 0:
            if positive[s]:
                masked[items[s]] = True
            s = previous[s]
        if not item_seen[i]:
            ranks[t] = UNSEEN_RANK
            item_seen[i] = True
            seen_list[n_seen] = i
            n_seen += 1
        else:
            target = item_bias[i]
            for f in range(n_factors):
                target += user_factors[u, f] * item_factors[i, f]
            above = 0
            for c in range(n_seen):
                j = seen_list[c]
                if j == i or (exclude_seen and masked[j]):
                    continue
                x = item_bias[j]
                for f in range(n_factors):
                    x += user_factors[u, f] * item_factors[j, f]
                if x > target:
                    above += 1
            ranks[t] = above
        for _ in range(steps):
            j = -1
            for _attempt in range(32):  # a user with almost every item may find none
                candidate = seen_list[np.random.randint(n_seen)]
                if candidate != i and not masked[candidate]:
                    j = candidate
                    break
            if j < 0:
                break
            x = _pair_score(user_factors, item_factors, item_bias, u, i, j)
            z = 1.0 / (1.0 + np.exp(x)) if x < 30.0 else 0.0  # sigmoid(-x)
            _pair_step(user_factors, item_factors, item_bias, u, i, j, lr * z, lr, l2, use_bias)
        # clear the flags
        for p in range(start, stop):
            masked[indices[p]] = False
        s = previous[t]
        while s >= 0:
            masked[items[s]] = False
            s = previous[s]
