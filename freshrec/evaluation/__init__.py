"""Evaluation: metrics (pure functions), protocols over fitted models, summaries over seeds.

It takes models and events and never builds models by name nor draws: :mod:`freshrec.jobs`
does, for the commands.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from freshrec.evaluation import recall_at_k
>>> recall_at_k(np.array([[1, 0]]), sp.csr_matrix(np.array([[0, 1, 1]])), k=2)
0.5
"""

from __future__ import annotations

from freshrec.evaluation.metrics import (
    gini_index,
    hit_rate_at_k,
    hits_at_k,
    intra_list_diversity,
    item_coverage,
    mae,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    rmse,
)
from freshrec.evaluation.protocols import (
    BEYOND_ACCURACY_METRICS,
    RANKING_METRICS,
    evaluate_ranking,
    evaluate_rating,
    summarize_seeds,
)
from freshrec.evaluation.results import ResultRow, rows_from_seeds

__all__ = [
    "BEYOND_ACCURACY_METRICS",
    "RANKING_METRICS",
    "ResultRow",
    "evaluate_rating",
    "evaluate_ranking",
    "gini_index",
    "hit_rate_at_k",
    "hits_at_k",
    "intra_list_diversity",
    "item_coverage",
    "mae",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "recall_at_k",
    "rmse",
    "rows_from_seeds",
    "summarize_seeds",
]
