"""download(): file:// URLs only (no network), checksums, zip slip, nothing left on failure."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from freshrec.data.download import download
from freshrec.data.registry import dataset_info, download_dataset, load_dataset
from freshrec.errors import DataError
from tests.conftest import dataset_dir

FILES = {"toy/u.data": b"1\t2\t5\t100\n", "toy/README": b"toy data\n"}
CHECKSUMS = {"u.data": hashlib.sha256(FILES["toy/u.data"]).hexdigest()}


def _zip(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path.as_uri()


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_unpacks_and_verifies(tmp_path: Path) -> None:
    url = _zip(tmp_path / "toy.zip", FILES)
    seen: list[tuple[int, int | None]] = []
    digest = hashlib.sha256((tmp_path / "toy.zip").read_bytes()).hexdigest()
    folder = download(
        url,
        tmp_path / "data",
        sha256=digest,
        member_checksums=CHECKSUMS,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert folder == tmp_path / "data" / "toy"
    assert (folder / "u.data").read_bytes() == FILES["toy/u.data"]
    assert _left_in(tmp_path / "data") == ["toy"]  # no temp file or folder left
    assert seen and seen[-1][0] == seen[-1][1] == (tmp_path / "toy.zip").stat().st_size


def test_download_again_replaces(tmp_path: Path) -> None:
    url = _zip(tmp_path / "toy.zip", FILES)
    download(url, tmp_path / "data")
    (tmp_path / "data" / "toy" / "stale.txt").write_text("old")
    download(url, tmp_path / "data")
    assert _left_in(tmp_path / "data" / "toy") == ["README", "u.data"]


def test_plain_file(tmp_path: Path) -> None:
    source = tmp_path / "ratings.csv"
    source.write_text("u,i\n1,2\n")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    target = download(source.as_uri(), tmp_path / "data", sha256=digest)
    assert target == tmp_path / "data" / "ratings.csv" and target.read_text() == "u,i\n1,2\n"


@pytest.mark.parametrize(
    ("members", "options", "message"),
    [
        (FILES, {"sha256": "0" * 64}, "sha256 mismatch: expected 0000"),
        (FILES, {"member_checksums": {"u.data": "f" * 64}}, "sha256 mismatch for u.data"),
        (FILES, {"member_checksums": {"u.item": "f" * 64}}, "u.item is missing"),
        ({"toy/../../evil.txt": b"x"}, {}, "unsafe path"),
        ({"/abs/evil.txt": b"x"}, {}, "unsafe path"),
        ({"C:\\evil.txt": b"x"}, {}, "unsafe path"),
    ],
)
def test_failures_leave_nothing(
    tmp_path: Path, members: dict[str, bytes], options: dict[str, object], message: str
) -> None:
    url = _zip(tmp_path / "toy.zip", members)
    with pytest.raises(DataError, match=message):
        download(url, tmp_path / "data", **options)  # type: ignore[arg-type]
    assert _left_in(tmp_path / "data") == []
    assert not (tmp_path / "evil.txt").exists() and not Path("/abs/evil.txt").exists()


def test_catalogue_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no public download URL"):
        download("ml-100k-recbole", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        download("nope", tmp_path)
    with pytest.raises(ValueError, match="url="):
        download("file:///a.zip", tmp_path, url="file:///b.zip")
    assert dataset_info("ml-1m").archive_folder == "ml-1m"


def test_catalogue_mirror_is_verified_then_loads(data_dir: Path, tmp_path: Path) -> None:
    source = dataset_dir(data_dir, "ml-100k")
    # The archive is built in tmp_path (never in the repository) from the shared copy.
    members = {f"ml-100k/{name}": (source / name).read_bytes() for name in ("u.data", "u.item")}
    members["ml-100k/u.user"] = b"tampered\n"
    url = _zip(tmp_path / "mirror.zip", members)
    with pytest.raises(DataError, match="sha256 mismatch for u.user"):
        download_dataset("ml-100k", tmp_path / "data", url=url)
    assert _left_in(tmp_path / "data") == []
    members["ml-100k/u.user"] = (source / "u.user").read_bytes()
    url = _zip(tmp_path / "mirror.zip", members)
    folder = download_dataset("ml-100k", tmp_path / "data", url=url)
    assert folder == tmp_path / "data" / "ml-100k"
    ds = load_dataset("ml-100k", tmp_path / "data", use_cache=False)
    assert (len(ds.events), ds.n_users, ds.n_items) == (100_000, 943, 1682)
