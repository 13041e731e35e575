"""Off-policy estimates on the Open Bandit Dataset: freshrec's estimators against obp's.

Usage::

    python benchmarks/ope_obp.py [--data-dir DIR] [--venv DIR] [--n-sim 100000] [--out FILE]

What it does, in one run:

1. **Peer in its own virtualenv**: ``benchmarks/.venv-obp`` (``--venv``, created when
   missing) with ``obp==0.5.7`` installed ``--no-deps --ignore-requires-python`` (it pins
   torch 1.12 and Python < 3.11) and the libraries it imports. obp's dataset loader fails
   under pandas 3, so obp is fed arrays.
2. **Logged data**: the Open Bandit Dataset sample, campaign ``all``, the uniformly random
   policy's log (10,000 rounds, 80 items, 3 positions), read by freshrec's loader: action =
   item id, position 1-3 -> slot 0-2, reward = click, pscore = the logged propensity.
3. **Evaluation policy**: obp's ``BernoulliTS(n_actions=80, len_list=3,
   is_zozotown_prior=True, campaign="all", random_state=12345)``; its action distribution
   by ``compute_batch_action_dist(n_rounds, n_sim)`` (Monte Carlo, ``--n-sim`` draws), computed
   once in obp's environment and given to both sides.
4. **Reward model**: freshrec's ``fit_reward_model`` (per-action ridge on the slot,
   cross-fitted over 5 folds, seed 0), the same predictions given to both.
5. **Estimates**: IPS, SNIPS, DM and DR by both libraries on identical arrays; the largest
   absolute difference is the cross-check (bar: 1e-6). Relative errors are reported against
   the Bernoulli-TS log's own click rate (its on-policy value, same campaign) with that
   rate's binomial 95% interval; no bar (about 40 clicks per log).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "ope_obp.json"
DEFAULT_VENV = REPO_ROOT / "benchmarks" / ".venv-obp"
OBP_VERSION = "0.5.7"
OBP_IMPORTS = ("numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "seaborn", "tqdm")
OBP_IMPORTS += ("pyyaml", "torch==2.13.0")
N_ACTIONS, LEN_LIST, CAMPAIGN, BTS_SEED = 80, 3, "all", 12345
METHODS = ("ips", "snips", "dm", "dr")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--n-sim", type=int, default=100_000)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--inner-obp", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner_obp:
        return run_obp(Path(args.inner_obp), args.n_sim)

    from freshrec.cli.options import default_data_dir
    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text

    root = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    python = ensure_venv(args.venv)
    logged, on_policy = load_logs(root / "open-bandit-dataset")
    estimated = freshrec_reward_model(logged)
    with tempfile.TemporaryDirectory() as folder:
        arrays = Path(folder) / "arrays.npz"
        np.savez(arrays, estimated_rewards=estimated, **logged)
        command = [str(python), __file__, "--inner-obp", str(arrays), "--n-sim", str(args.n_sim)]
        subprocess.run(command, check=True)
        with np.load(arrays.with_suffix(".out.npz")) as out:
            action_dist = out["action_dist"]
            theirs = {m: float(out[m]) for m in METHODS}
    ours = freshrec_estimates(logged, action_dist, estimated)
    clicks, rounds = on_policy
    truth = clicks / rounds
    half = 1.96 * math.sqrt(truth * (1 - truth) / rounds)
    result: dict[str, Any] = {
        "command": "python benchmarks/ope_obp.py " + " ".join(argv or sys.argv[1:]),
        "logged": f"open-bandit-dataset random/{CAMPAIGN}",
        "rounds": int(len(logged["action"])),
        "evaluation_policy": f"obp BernoulliTS zozotown prior, campaign {CAMPAIGN}, "
        f"random_state {BTS_SEED}, n_sim {args.n_sim}",
        "obp_version": OBP_VERSION,
        "estimates": {m: {"freshrec": ours[m], "obp": theirs[m]} for m in METHODS},
        "max_abs_difference": max(abs(ours[m] - theirs[m]) for m in METHODS),
        "bts_on_policy": {
            "click_rate": truth,
            "ci95": [truth - half, truth + half],
            "clicks": clicks,
            "rounds": rounds,
        },
        "relative_error_vs_bts_log": {m: (ours[m] - truth) / truth for m in METHODS},
        "machine": machine_summary(),
    }
    atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["max_abs_difference"] <= 1e-6 else 1


def load_logs(folder: Path) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """The random log as obp's arrays, and the Bernoulli-TS log's clicks and rounds."""
    from freshrec.data.logged import LoggedFeedback
    from freshrec.data.obd import load_open_bandit

    random_log = load_open_bandit(folder, "random", CAMPAIGN).events
    feedback = LoggedFeedback.from_events(random_log, list(range(N_ACTIONS)), len_list=LEN_LIST)
    logged = {
        "action": feedback.actions,
        "reward": feedback.rewards,
        "position": feedback.positions,
        "pscore": feedback.propensities,
    }
    bts_log = load_open_bandit(folder, "bts", CAMPAIGN).events
    return logged, (int(bts_log.value.sum()), len(bts_log))


def _feedback(logged: dict[str, np.ndarray]) -> Any:
    from freshrec.data.logged import LoggedFeedback

    return LoggedFeedback(
        logged["action"],
        logged["reward"],
        logged["pscore"],
        N_ACTIONS,
        positions=logged["position"],
        len_list=LEN_LIST,
    )


def freshrec_reward_model(logged: dict[str, np.ndarray]) -> np.ndarray:
    from freshrec.evaluation.ope import fit_reward_model

    return fit_reward_model(_feedback(logged), n_folds=5, seed=0)


def freshrec_estimates(
    logged: dict[str, np.ndarray], action_dist: np.ndarray, estimated: np.ndarray
) -> dict[str, float]:
    from freshrec.evaluation import ope

    feedback = _feedback(logged)
    return {
        "ips": ope.ips(feedback, action_dist),
        "snips": ope.snips(feedback, action_dist),
        "dm": ope.dm(feedback, action_dist, estimated),
        "dr": ope.dr(feedback, action_dist, estimated),
    }


def run_obp(arrays: Path, n_sim: int) -> int:
    """In obp's environment: the Bernoulli-TS action distribution and obp's four estimates."""
    from obp.ope import (
        DirectMethod,
        DoublyRobust,
        InverseProbabilityWeighting,
        SelfNormalizedInverseProbabilityWeighting,
    )
    from obp.policy import BernoulliTS

    with np.load(arrays) as data:
        logged = {name: data[name] for name in data.files}
    n_rounds = len(logged["action"])
    policy = BernoulliTS(
        n_actions=N_ACTIONS,
        len_list=LEN_LIST,
        is_zozotown_prior=True,
        campaign=CAMPAIGN,
        random_state=BTS_SEED,
    )
    action_dist = policy.compute_batch_action_dist(n_rounds=n_rounds, n_sim=n_sim)
    inputs = {
        "reward": logged["reward"],
        "action": logged["action"],
        "position": logged["position"],
        "pscore": logged["pscore"],
        "action_dist": action_dist,
    }
    estimators = {
        "ips": InverseProbabilityWeighting(),
        "snips": SelfNormalizedInverseProbabilityWeighting(),
        "dm": DirectMethod(),
        "dr": DoublyRobust(),
    }
    estimates = {
        name: estimator.estimate_policy_value(
            estimated_rewards_by_reg_model=logged["estimated_rewards"], **inputs
        )
        for name, estimator in estimators.items()
    }
    np.savez(arrays.with_suffix(".out.npz"), action_dist=action_dist, **estimates)
    return 0


def ensure_venv(venv: Path) -> Path:
    """The venv's Python, after creating it and installing obp when needed."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import obp; print(obp.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == OBP_VERSION:
            return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *OBP_IMPORTS], check=True)
    subprocess.run(
        [*pip, "--no-deps", "--ignore-requires-python", f"obp=={OBP_VERSION}"], check=True
    )
    subprocess.run(probe, check=True)
    return python


if __name__ == "__main__":
    sys.exit(main())
