"""A user's own file from the command line: README's "Your own data" commands as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from freshrec.cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"


def write_half_star_ratings(path: Path, seed: int = 0) -> int:
    """A small FilmTrust-like file: ``user item rating`` lines, 0.5-4 stars, popular items."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 150, 60
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    lines = []
    for user in range(n_users):
        count = int(rng.integers(8, 25))
        items = rng.choice(n_items, size=count, replace=False, p=popularity / popularity.sum())
        for item in items:
            stars = float(np.clip(np.round(rng.normal(3.0, 0.9) * 2) / 2, 0.5, 4.0))
            lines.append(f"{user} {item} {stars:g}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def readme_commands(section: str) -> list[list[str]]:
    """The ``freshrec`` lines of the first bash block under README heading ``section``."""
    text = README.read_text()
    body = text.split(f"## {section}\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", body, re.S)
    assert block is not None, f"no bash block under '{section}'"
    return [shlex.split(line)[1:] for line in block.group(1).splitlines() if line.strip()]


def test_readme_own_data_commands_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    n = write_half_star_ratings(tmp_path / "ratings.txt")
    commands = readme_commands("Your own data")
    assert [c[0] for c in commands] == ["evaluate", "fit", "recommend"]
    for command in commands:
        assert main(command) == 0, command
    out = capsys.readouterr().out
    assert f"{n:,} events read, {n:,} kept" in out
    assert "no timestamps: events keep the file's order" in out
    assert "--set model.threshold=0.5 counts them" in out
    results = json.loads((tmp_path / "freshrec-evaluate" / "results.json").read_text())
    ndcg = {r["model"] for r in results["rows"] if r["metric"] == "ndcg@10"}
    assert set(ndcg) == {"popular", "als", "bpr", "item-knn"}
    assert (tmp_path / "my-model" / "manifest.json").exists()
    assert "top 5 for 7" in out


def test_positives_are_counted_per_threshold(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("uid,movie,stars\na,x,0.5\na,y,3.5\nb,x,4\nb,z,1.5\n")
    code = main(
        ["fit", "--dataset", str(path), "--columns", "user=uid,item=movie,rating=stars"]
        + ["--model", "popular", "--out", str(tmp_path / "m"), "--set", "popular.threshold=2"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "positives: 2 of 4 events for popular (value >= 2)" in out
    assert "2 ratings (50.0%) on a 0.5-4 scale are below the threshold 2" in out


def test_bad_rows_are_skipped_and_named(tmp_path, capsys):
    path = tmp_path / "r.tsv"
    path.write_text("user_id\titem_id\trating\n1\t10\t4\n2\t11\tfive\n3\n4\t12\t2\n")
    assert (
        main(["fit", "--dataset", str(path), "--model", "popular", "--out", str(tmp_path / "m")])
        == 0
    )
    out = " ".join(capsys.readouterr().out.split())
    assert "4 events read, 2 kept, 2 skipped" in out
    assert "1 rating: not a number (first at" in out and "r.tsv:3" in out
    assert "1 too few fields" in out


def test_timestamps_mapped_from_a_header_order_the_stream(tmp_path, capsys):
    path = tmp_path / "clicks.jsonl"
    rows = [{"uid": "a", "iid": "x", "ts": "2024-01-02T00:00:00Z"}]
    rows += [{"uid": "b", "iid": "y", "ts": "2024-01-01T00:00:00Z"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code = main(
        ["fit", "--dataset", str(path), "--columns", "user=uid,item=iid,timestamp=ts"]
        + ["--model", "popular", "--out", str(tmp_path / "m")]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "2 events read, 2 kept" in out and "no timestamps" not in out


def test_parquet_columns_are_guessed_from_the_schema(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"userId": [1, 1, 2], "movieId": [5, 6, 5], "rating": [4.0, 3.0, 5.0]})
    pq.write_table(table, tmp_path / "r.parquet")
    code = main(
        ["fit", "--dataset", str(tmp_path / "r.parquet"), "--model", "popular"]
        + ["--out", str(tmp_path / "m")]
    )
    assert code == 0
    assert "3 events read, 3 kept" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "text", "options", "message"),
    [
        ("r.txt", "1 2 3\n", [], "a .txt file needs --sep"),
        ("r.csv", "a,b,c,d,e\n", ["--no-header"], "5 fields per line"),
        ("r.csv", "who,what\n1,2\n", [], "cannot tell the user and item columns"),
        ("r.csv", "u,i\n1,2\n", ["--columns", "user,item"], "with a header takes a mapping"),
        ("r.csv", "u,i\n1,2\n", ["--columns", "user=u,thing=i"], "unknown role 'thing'"),
        ("r.jsonl", '{"u": 1}\n', ["--no-header"], "applies to delimited text"),
    ],
)
def test_unreadable_file_settings_are_clear_errors(tmp_path, capsys, name, text, options, message):
    path = tmp_path / name
    path.write_text(text)
    code = main(
        ["fit", "--dataset", str(path), "--model", "popular", "--out", str(tmp_path / "m")]
        + options
    )
    assert code == 2
    assert message in " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "m").exists()


def test_file_options_with_a_catalogue_name_are_refused(tmp_path, capsys):
    code = main(
        ["fit", "--dataset", "synthetic", "--sep", ",", "--model", "popular"]
        + ["--out", str(tmp_path / "m")]
    )
    assert code == 2
    assert "catalogue name" in capsys.readouterr().out
