"""Off-policy evaluation: what a new policy would have earned, estimated from a logged one.

A logging policy played ``n_rounds`` rounds and recorded, for each, the action, the reward
and the probability with which it chose that action
(:class:`~freshrec.data.logged.LoggedFeedback`). Given the evaluation policy's
``action_dist`` on the same rounds, shape (n_rounds, n_actions, len_list) as in Open Bandit
Pipeline, the estimators of :mod:`~freshrec.evaluation.ope.estimators` (IPS, SNIPS, DM, DR,
Switch-DR) and :mod:`~freshrec.evaluation.ope.replay` estimate its value with obp's
formulas; :func:`estimate` runs several with bootstrap intervals
(:mod:`~freshrec.evaluation.ope.intervals`), and :func:`fit_reward_model` gives the model
based ones a cross-fitted q̂. The concept page is ``docs/concepts/off-policy.md``.

Examples
--------
>>> from freshrec.data.synthetic_bandit import SyntheticBanditProblem
>>> from freshrec.evaluation.ope import estimate, fit_reward_model
>>> problem = SyntheticBanditProblem(seed=0)
>>> feedback = problem.log(5000, seed=1)
>>> target = problem.action_dist(feedback.context, "near")
>>> found = estimate(feedback, target, fit_reward_model(feedback), n_bootstrap=200)
>>> list(found)
['ips', 'snips', 'dm', 'dr', 'switch-dr']
>>> bool(found["dr"].low < problem.true_value("near") < found["dr"].high)
True
"""

from __future__ import annotations

from freshrec.evaluation.ope.estimators import (
    RoundTerms,
    check_action_dist,
    dm,
    dm_terms,
    dr,
    dr_terms,
    importance_weights,
    ips,
    ips_terms,
    snips,
    snips_terms,
    switch_dr,
    switch_dr_terms,
)
from freshrec.evaluation.ope.intervals import (
    DEFAULT_METHODS,
    METHODS,
    Estimate,
    bootstrap_interval,
    estimate,
)
from freshrec.evaluation.ope.replay import (
    ReplayEstimate,
    deterministic_policy,
    replay,
    replay_terms,
)
from freshrec.evaluation.ope.reward_model import fit_reward_model

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "Estimate",
    "ReplayEstimate",
    "RoundTerms",
    "bootstrap_interval",
    "check_action_dist",
    "deterministic_policy",
    "dm",
    "dm_terms",
    "dr",
    "dr_terms",
    "estimate",
    "fit_reward_model",
    "importance_weights",
    "ips",
    "ips_terms",
    "replay",
    "replay_terms",
    "snips",
    "snips_terms",
    "switch_dr",
    "switch_dr_terms",
]
