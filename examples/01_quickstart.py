"""Quickstart: fit, evaluate, save, load, and keep learning as new users and items arrive.

Run:   python examples/01_quickstart.py [--quick]
Prints the NDCG@10 of three models on a per-user temporal split of the built-in synthetic
stream, then shows a saved model loading and growing for a brand-new item.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from freshrec.data import Event, synthetic_stream, temporal_user_split
from freshrec.evaluation import evaluate_ranking
from freshrec.models import ALS, ItemKNN, MostPopular


def main(quick: bool = False) -> None:
    n_events = 5_000 if quick else 30_000
    data = synthetic_stream(n_users=300, n_items=200, n_events=n_events, seed=0)
    split = temporal_user_split(data.events, test_ratio=0.2)
    print(f"{len(split.train):,} training events, {len(split.test):,} test events")

    for model in (MostPopular(), ItemKNN(), ALS(n_iterations=10)):
        model.fit(split.train)
        metrics = evaluate_ranking(model, split.train, split.test, k=10)
        print(f"{type(model).__name__:12s} NDCG@10 {metrics['ndcg@10']:.4f}")

    knn = ItemKNN().fit(data.events)
    folder = Path(tempfile.mkdtemp()) / "item-knn"
    knn.save(folder)  # JSON + safetensors, written atomically, manifest last
    loaded = ItemKNN.load(folder)

    # A new item arrives and three users who share tastes interact with it.
    fans = [int(u) for u in data.events.user[:3]]
    loaded.partial_fit([Event(user, "brand-new-item", 5.0) for user in fans])
    neighbours = [s.item for s in loaded.similar_items("brand-new-item", k=3)]
    print(f"items now: {loaded.n_items}; closest to the new item: {neighbours}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller stream, for tests")
    main(parser.parse_args().quick)
