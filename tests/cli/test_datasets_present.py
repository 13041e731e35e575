"""`freshrec datasets list` says whether each dataset's files are in the data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshrec.cli.main import main
from freshrec.data.registry import SYNTHETIC, list_datasets
from tests.conftest import dataset_dir


def _present_column(out: str) -> dict[str, str]:
    """Dataset name -> first line of its "present" cell, read from the printed table."""
    found = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 3 and cells[1]:
            found[cells[1]] = cells[2]
    return found


def _listed(capsys: pytest.CaptureFixture[str], data_dir: Path) -> dict[str, str]:
    assert main(["datasets", "list", "--data-dir", str(data_dir)]) == 0
    return _present_column(capsys.readouterr().out)


def test_an_empty_data_folder_has_nothing_present(tmp_path, capsys):
    present = _listed(capsys, tmp_path)
    assert present[SYNTHETIC] == "built in"
    assert {info.name: present[info.name] for info in list_datasets()} == {
        info.name: "no" for info in list_datasets()
    }


def test_a_dataset_with_some_of_its_files_is_partial(tmp_path, capsys):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text("1\t1\t5\t0\n")
    present = _listed(capsys, tmp_path)
    assert present["ml-100k"].startswith("partial") and present["ml-1m"] == "no"


def test_the_shared_data_folder_shows_what_it_holds(data_dir, capsys):
    dataset_dir(data_dir, "ml-100k")
    present = _listed(capsys, data_dir)
    assert present["ml-100k"] == "yes"
    for info in list_datasets():
        folder = data_dir / info.folder
        holds = all((folder / name).is_file() for name in info.files)
        assert (present[info.name] == "yes") == holds, info.name
