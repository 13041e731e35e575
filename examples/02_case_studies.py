"""The three case studies of `freshrec case`: e-commerce, news and social.

- ecommerce: GRU4Rec (RNN), Caser (CNN), ItemKNN and their hybrid on Amazon Beauty sequences,
  leave-one-out full ranking;
- news: a two-tower model over news titles, content and CF models and their hybrids on MIND
  impressions, ranked per impression (AUC, MRR, nDCG@5, nDCG@10);
- social: CFGAN, Caser and the friends' histories, and their blends, against BPR on Last.fm.

Run:   python examples/02_case_studies.py [ecommerce news social] [--quick] [--data-dir DIR]
                                          [--out DIR]
Each case prints a progress bar and a table of every model's metrics, and writes results.json,
report.md, comparison.png and weights.png into --out/case-NAME (default: the current folder; a
temporary folder with --quick). --quick is the quick mode of `freshrec case`: a small subset and
few epochs. A case whose dataset is missing prints where it looked and is skipped.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rich.console import Console

from freshrec.cases import CASES, missing_data, run_case
from freshrec.cli.options import default_data_dir


def main(names: list[str], quick: bool, data_dir: Path | None, out: Path | None) -> None:
    folder = default_data_dir(data_dir)
    root = out or (Path(tempfile.mkdtemp()) if quick else Path("."))
    for name in names:
        if missing_data(name, folder) is not None:
            print(f"{name} skipped: {missing_data(name, folder)} not found (give --data-dir)")
            continue
        _, written = run_case(
            name, root / f"case-{name}", data_dir=folder, quick=quick, console=Console()
        )
        print(f"{name} wrote", ", ".join(str(path) for path in written))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("cases", nargs="*", default=list(CASES), help="cases to run (all)")
    parser.add_argument("--quick", action="store_true", help="quick mode, for tests")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of the datasets")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    args = parser.parse_args()
    main(args.cases, args.quick, args.data_dir, args.out)
