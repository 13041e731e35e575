"""Supervised-to-bandit on MovieLens 1M: contextual policies against context-free ones.

Usage::

    python benchmarks/bandits_ml1m.py [--data-dir DIR] [--seeds 0,1,2,3,4] [--rounds 20000]
        [--out FILE] [--plot FILE]

Protocol (issue 20), per seed:

1. **Item features** from the first 50% of ratings by time (ties in file order):
   ``BiasedMF(n_factors=16, seed=0)`` on those ratings; an item's features are its vector
   ``q_i``, its bias ``b_i`` and a flag for items the first half never saw (vector and bias 0).
2. **Rounds** from the later 50%, among the users with >= 20 ratings there: ``--rounds``
   arrivals drawn at random from those users' later ratings (seeded), kept in time order. At
   an arrival the user's context is their demographics (``users.dat``: gender, age group,
   occupation, one-hot, 30 values) and the mean ``q_i`` of the items they rated earlier in
   the stream (zeros before their first rating); the 20 candidates are movies the user
   rated in the later half, drawn at random; the reward of a candidate is 1 when its rating
   is >= 4. Every candidate's reward is known, so each policy plays the same rounds.
3. **Policies**, settings fixed here, nothing tuned: uniform random (its expected reward:
   the mean over candidates), ``EpsilonGreedy(epsilon=0.1, decay=True)`` and
   ``BernoulliTS()`` with arms = movies (context-free), and on one row per candidate
   ``phi = [1, b_i, new_i, q_i, m_u * q_i, m_u . q_i, demographics * b_i]`` (68 values;
   ``m_u`` the user's mean vector): ``LinUCB(alpha=1, shared=True)``,
   ``LinearTS(v=0.5, shared=True)`` and ``NeuralLinear(shared=True)`` on the hidden layer
   of a 68-32-1 MLP trained on the first half's ratings (the same rows, 3 epochs, Adam
   1e-3, rating >= 4 as the label). Monte Carlo policies use ``n_draws=100`` (the choice is
   one posterior draw, exact Thompson sampling; only its reported propensity is estimated).
4. **Measures**: cumulative reward, its ratio to random's, and regret against the best
   candidate of each round (1 when any candidate is liked); regret curves, mean over
   seeds, in ``--plot``. Bars: LinUCB and LinTS each >= 1.2x random, above Thompson sampling
   and above decaying epsilon-greedy, on the mean over 5 seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "bandits_ml1m.json"
N_CANDIDATES, MIN_LATER, LIKED = 20, 20, 4.0
AGES = (1, 18, 25, 35, 45, 50, 56)
POLICIES = ("random", "epsilon-greedy", "thompson", "linucb", "lints", "neural-linear")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--rounds", type=int, default=20_000)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--plot", default=None)
    args = parser.parse_args(argv)
    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    data = load_dataset("ml-1m", default_data_dir(Path(args.data_dir) if args.data_dir else None))
    world = World(data)
    embed = world.train_embedding(seed=0)
    per_seed = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rounds = world.rounds(args.rounds, seed)
        per_seed.append(play_all(world, rounds, embed, seed))
        found = per_seed[-1]
        print(f"seed {seed}: " + ", ".join(f"{p} {found[p]['reward']:.0f}" for p in POLICIES))
    result = summarise(per_seed, args, world)
    result["machine"] = machine_summary()
    atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    if args.plot:
        plot(per_seed, Path(args.plot))
    print(json.dumps(result["summary"], indent=2))
    return 0


class World:
    """ML-1M split in time: item features from the first half, arrivals from the second."""

    def __init__(self, data: Any) -> None:
        from freshrec.models import BiasedMF

        events = data.events.sort_by_time()
        half = len(events) // 2
        first = events[:half]
        model = BiasedMF(n_factors=16, seed=0).fit(first)
        items = np.unique(events.item)
        self.item_index = {item: j for j, item in enumerate(items.tolist())}
        rows = model.item_map_.encode(items)
        known = rows >= 0
        self.q = np.zeros((len(items), 16))
        self.q[known] = model.item_factors_[rows[known]]
        self.b = np.zeros(len(items))
        self.b[known] = model.item_bias_[rows[known]]
        self.new = (~known).astype(np.float64)
        self.users = events.user
        self.item_of = np.array([self.item_index[i] for i in events.item.tolist()])
        self.value = events.value
        self.half = half
        self.demographics = _demographics(data.users)
        later_users, counts = np.unique(events.user[half:], return_counts=True)
        self.eligible = set(later_users[counts >= MIN_LATER].tolist())
        self.first_half_users = set(np.unique(events.user[:half]).tolist())
        # per user: stream positions and running sums of their items' vectors
        order = np.argsort(self.users, kind="stable")
        sorted_users = self.users[order]
        starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
        self.positions: dict[Any, np.ndarray] = {}
        self.prefix: dict[Any, np.ndarray] = {}
        for start, stop in zip(starts, np.r_[starts[1:], len(order)], strict=True):
            user = sorted_users[start]
            where = order[start:stop]
            self.positions[user] = where
            sums = np.cumsum(self.q[self.item_of[where]], axis=0)
            self.prefix[user] = np.vstack([np.zeros(16), sums])

    def mean_vector(self, user: Any, position: int) -> np.ndarray:
        """The mean ``q_i`` of the items ``user`` rated before stream ``position``."""
        n = int(np.searchsorted(self.positions[user], position))
        return self.prefix[user][n] / n if n else np.zeros(16)

    def rows(self, user: Any, position: int, candidates: np.ndarray) -> np.ndarray:
        """``phi`` of each candidate item index for ``user`` arriving at ``position``."""
        m = self.mean_vector(user, position)
        q, b = self.q[candidates], self.b[candidates]
        demo = self.demographics[user]
        return np.hstack(
            [
                np.ones((len(candidates), 1)),
                b[:, None],
                self.new[candidates][:, None],
                q,
                q * m,
                (q @ m)[:, None],
                b[:, None] * demo[None, :],
            ]
        )

    def rounds(self, n_rounds: int, seed: int) -> list[dict[str, Any]]:
        """``n_rounds`` arrivals (time order) with their candidates and rewards."""
        rng = np.random.default_rng(seed)
        later = np.arange(self.half, len(self.users))
        arrivals = later[np.isin(self.users[later], list(self.eligible))]
        picked = np.sort(rng.choice(arrivals, size=n_rounds, replace=False))
        out = []
        for position in picked.tolist():
            user = self.users[position]
            mine = self.positions[user]
            mine = mine[mine >= self.half]
            chosen = rng.choice(mine, size=N_CANDIDATES, replace=False)
            out.append(
                {
                    "user": user,
                    "position": position,
                    "candidates": self.item_of[chosen],
                    "rewards": (self.value[chosen] >= LIKED).astype(np.float64),
                }
            )
        return out

    def train_embedding(self, seed: int) -> Any:
        """A 68-32-1 MLP on the first half's ratings (rows as at their arrival, label:
        rating >= 4); its hidden layer is NeuralLinear's embedding."""
        import torch

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        sample = rng.choice(self.half, size=min(self.half, 200_000), replace=False)
        x = np.vstack(
            [
                self.rows(self.users[p], int(p), self.item_of[[p]])
                for p in sample.tolist()
                if self.users[p] in self.demographics
            ]
        )
        y = np.array(
            [self.value[p] >= LIKED for p in sample.tolist() if self.users[p] in self.demographics]
        )
        hidden = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 32), torch.nn.ReLU())
        net = torch.nn.Sequential(hidden, torch.nn.Linear(32, 1))
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        inputs = torch.tensor(x, dtype=torch.float32)
        labels = torch.tensor(y, dtype=torch.float32)
        for _ in range(3):
            for batch in torch.randperm(len(inputs)).split(256):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    net(inputs[batch]).squeeze(-1), labels[batch]
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        return hidden.eval()


def _demographics(users: Any) -> dict[Any, np.ndarray]:
    """One-hot gender (2), age group (7) and occupation (21) per user id."""
    out = {}
    for row, user in enumerate(users.ids.tolist()):
        vector = np.zeros(30)
        vector[0 if users.columns["gender"][row] == "F" else 1] = 1.0
        vector[2 + AGES.index(int(users.columns["age"][row]))] = 1.0
        vector[9 + int(users.columns["occupation"][row])] = 1.0
        out[user] = vector
    return out


def make_policies(embed: Any, seed: int) -> dict[str, Any]:
    from freshrec.bandits import BernoulliTS, EpsilonGreedy, LinearTS, LinUCB, NeuralLinear

    return {
        "epsilon-greedy": EpsilonGreedy(epsilon=0.1, decay=True, n_draws=100, seed=seed),
        "thompson": BernoulliTS(n_draws=100, seed=seed),
        "linucb": LinUCB(alpha=1.0, shared=True, n_draws=100, seed=seed),
        "lints": LinearTS(v=0.5, shared=True, n_draws=100, seed=seed),
        "neural-linear": NeuralLinear(embed, shared=True, n_draws=100, seed=seed),
    }


def play_all(world: World, rounds: list[dict[str, Any]], embed: Any, seed: int) -> dict[str, Any]:
    """Every policy on the same rounds: its reward per round (random: the expected one)."""
    best = np.array([r["rewards"].max() for r in rounds])
    out: dict[str, Any] = {
        "random": {"per_round": [float(r["rewards"].mean()) for r in rounds], "seconds": 0.0}
    }
    contextual = {"linucb", "lints", "neural-linear"}
    for name, policy in make_policies(embed, seed).items():
        start = time.perf_counter()
        earned = []
        for r in rounds:
            candidates = r["candidates"].tolist()
            rows = world.rows(r["user"], r["position"], r["candidates"])
            context = rows if name in contextual else None
            arm = policy.select(candidates, context=context).items[0]
            j = candidates.index(arm)
            reward = float(r["rewards"][j])
            policy.update(arm, reward, rows[j] if name in contextual else None)
            earned.append(reward)
        out[name] = {"per_round": earned, "seconds": round(time.perf_counter() - start, 1)}
    for found in out.values():
        found["reward"] = float(np.sum(found["per_round"]))
        found["regret"] = float(np.sum(best - np.array(found["per_round"])))
    out["best"] = float(best.sum())
    out["best_per_round"] = best.tolist()
    out["new_users_share"] = float(
        np.mean([r["user"] not in world.first_half_users for r in rounds])
    )
    return out


def summarise(per_seed: list[dict[str, Any]], args: Any, world: World) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in POLICIES:
        rewards = [run[name]["reward"] for run in per_seed]
        ratios = [run[name]["reward"] / run["random"]["reward"] for run in per_seed]
        summary[name] = {
            "cumulative_reward_mean": statistics.fmean(rewards),
            "per_seed": rewards,
            "ratio_to_random_mean": statistics.fmean(ratios),
            "regret_mean": statistics.fmean(run[name]["regret"] for run in per_seed),
            "seconds_mean": statistics.fmean(run[name]["seconds"] for run in per_seed),
        }
    summary["best_possible_mean"] = statistics.fmean(run["best"] for run in per_seed)
    summary["new_users_share_mean"] = statistics.fmean(run["new_users_share"] for run in per_seed)
    return {
        "command": f"python benchmarks/bandits_ml1m.py --seeds {args.seeds} --rounds {args.rounds}",
        "rounds": args.rounds,
        "eligible_users": len(world.eligible),
        "summary": summary,
    }


def plot(per_seed: list[dict[str, Any]], path: Path) -> None:
    """Cumulative regret against the best candidate, mean over seeds, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = np.mean([run["best_per_round"] for run in per_seed], axis=0)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name in POLICIES:
        earned = np.mean([run[name]["per_round"] for run in per_seed], axis=0)
        axis.plot(np.cumsum(best - earned), label=name)
    axis.set_xlabel("round")
    axis.set_ylabel("cumulative regret (mean over seeds)")
    axis.set_title(f"ML-1M supervised-to-bandit, {N_CANDIDATES} candidates a round")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
