"""Three end-to-end case studies, run by ``freshrec case ecommerce|news|social``.

Each case loads a real dataset, fits several models and a hybrid that blends them
(:class:`~freshrec.cases.common.Blend`, weights chosen on validation), evaluates them under
the protocol of its field, and writes ``results.json``, ``report.md`` and plots:

- ``ecommerce`` (:mod:`freshrec.cases.ecommerce`): Amazon Beauty, GRU4Rec + Caser + ItemKNN,
  leave-one-out full ranking;
- ``news`` (:mod:`freshrec.cases.news`): MIND impressions, a two-tower model over titles +
  content and CF models, per-impression AUC/MRR/nDCG;
- ``social`` (:mod:`freshrec.cases.social`): Last.fm 2K, CFGAN + Caser with friends'
  histories, against BPR.

Examples
--------
>>> sorted(CASES)
['ecommerce', 'news', 'social']
"""

from __future__ import annotations

from freshrec.cases.common import (
    CASES,
    Blend,
    WeightSearch,
    blend_scores,
    choose_weights,
    missing_data,
    run_case,
    search_weights,
    zscore_rows,
)

__all__ = [
    "CASES",
    "Blend",
    "WeightSearch",
    "blend_scores",
    "choose_weights",
    "missing_data",
    "run_case",
    "search_weights",
    "zscore_rows",
]
