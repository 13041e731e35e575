"""`freshrec datasets list | info | download | export` through main([...])."""

from __future__ import annotations

import zipfile

import pytest

from freshrec.cli.main import main
from tests.conftest import dataset_dir


def test_list_names_the_catalogue(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "ml-100k" in out and "ml-1m" in out and "synthetic" in out


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ml-100k", ("100,000", "943", "1,682")), ("ml-1m", ("1,000,209", "6,040", "3,706"))],
)
def test_info_prints_the_published_counts(name, expected, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRESHREC_CACHE", str(tmp_path / "cache"))
    assert main(["datasets", "info", name, "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    for figure in expected:
        assert figure in out
    assert "ratings" in out


def test_info_of_a_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["datasets", "info", "ml-100k", "--data-dir", str(tmp_path)]) == 2
    assert "ml-100k" in capsys.readouterr().out


def test_download_from_a_local_mirror_verifies_and_unpacks(data_dir, tmp_path, capsys):
    source = dataset_dir(data_dir, "ml-100k")
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in source.iterdir():
            zf.write(path, f"ml-100k/{path.name}")
    target = tmp_path / "data"
    code = main(
        ["datasets", "download", "ml-100k", "--data-dir", str(target), "--url", archive.as_uri()]
    )
    assert code == 0, capsys.readouterr().out
    assert (target / "ml-100k" / "u.data").read_bytes() == (source / "u.data").read_bytes()


def test_export_writes_the_split_as_plain_files(tmp_path):
    out = tmp_path / "export"
    assert (
        main(["datasets", "export", "synthetic", "--protocol", "loo-full", "--out", str(out)]) == 0
    )
    train = (out / "train.tsv").read_text().splitlines()
    test = (out / "test.tsv").read_text().splitlines()
    assert train[0] == test[0] == "user\titem\tvalue\ttimestamp"
    users = [line.split("\t")[0] for line in test[1:]]
    assert len(users) == len(set(users))  # one test event per user
