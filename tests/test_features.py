"""Feature layer: each spec kind, missing and unseen values, id order, JSON round trip, TF-IDF
against scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from freshrec.data import SideTable
from freshrec.errors import NotFittedError
from freshrec.features import (
    Bucketized,
    FeatureEncoder,
    HashedId,
    MultiHot,
    Normalized,
    OneHot,
    TfIdf,
    parse_spec,
    spec_from_dict,
    tokenize,
)

CORPUS = [
    "The quick brown fox jumps",
    "A lazy dog sleeps; the dog dreams",
    "Quick quick QUICK thinking fox",
    "brown bread and brown sugar",
    "the end",
]


def _objects(values):
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _table():
    return SideTable(
        np.array(["a", "b", "c", "d"], dtype=object),
        {
            "genre": _objects(["jazz", "rock", None, "jazz"]),
            "tags": _objects([("x", "y"), ("y",), (), "z"]),
            "price": _objects([1.0, 2.0, float("nan"), 4.0]),
            "title": _objects(["red fox", "blue fox", "", None]),
        },
    )


def test_onehot_unseen_and_missing_are_all_zero():
    encoder = FeatureEncoder([OneHot("genre")]).fit(_table())
    assert encoder.feature_names() == ["genre=jazz", "genre=rock"]
    rows = encoder.transform({"genre": _objects(["rock", "polka", None, float("nan")])})
    assert rows.toarray().tolist() == [[0, 1], [0, 0], [0, 0], [0, 0]]


def test_multihot_tuples_scalars_and_empty():
    encoder = FeatureEncoder([MultiHot("tags")]).fit(_table())
    assert encoder.feature_names() == ["tags=x", "tags=y", "tags=z"]
    assert encoder.transform(_table()).toarray().tolist() == [
        [1, 1, 0],
        [0, 1, 0],
        [0, 0, 0],
        [0, 0, 1],
    ]


def test_bucketized_quantile_edges_and_missing():
    spec = Bucketized("price", n_buckets=4)
    state = spec.fit_state(np.arange(1.0, 9.0))
    assert state["edges"] == [2.75, 4.5, 6.25]
    encoder = FeatureEncoder([spec]).fit({"price": np.arange(1.0, 9.0)})
    rows = encoder.transform({"price": _objects([0.0, 3.0, 100.0, None, "n/a"])}).toarray()
    assert rows.argmax(axis=1)[:3].tolist() == [0, 1, 3]
    assert rows[3:].sum() == 0


def test_bucketized_few_distinct_values_merges_edges():
    spec = Bucketized("x", n_buckets=5)
    state = spec.fit_state(np.array([1.0, 1.0, 1.0, 1.0, 2.0]))
    assert state["edges"] == pytest.approx([1.0, 1.2])
    assert spec.width(state) == 3


def test_normalized_zscore_missing_is_mean():
    encoder = FeatureEncoder([Normalized("price")]).fit(_table())
    values = np.array([1.0, 2.0, 4.0])
    z = encoder.transform(_table()).toarray().ravel()
    np.testing.assert_allclose(z[[0, 1, 3]], (values - values.mean()) / values.std())
    assert z[2] == 0.0


def test_normalized_constant_column_does_not_divide_by_zero():
    encoder = FeatureEncoder([Normalized("x")]).fit({"x": np.array([3.0, 3.0])})
    assert encoder.states_[0] == {"mean": 3.0, "std": 1.0}


def test_hashed_id_is_crc32_and_stable_across_processes():
    encoder = FeatureEncoder([HashedId("genre", n_buckets=16)]).fit(_table())
    cols = encoder.transform({"genre": _objects(["never-seen-brand"])}).indices.tolist()
    assert cols == [zlib.crc32(b"never-seen-brand") % 16]
    code = (
        "import numpy as np; from freshrec.features import HashedId; "
        "print(HashedId('g', 1000).encode(np.array(['abc'], dtype=object), {})[1][0])"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert outs == {f"{zlib.crc32(b'abc') % 1000}\n"}


def test_transform_follows_ids_and_zero_rows_for_unknown_ids():
    encoder = FeatureEncoder(["genre:onehot"]).fit(_table())
    rows = encoder.transform(_table(), ids=["d", "nope", "b"]).toarray()
    assert rows.tolist() == [[1, 0], [0, 0], [0, 1]]


def test_transform_accepts_rows_of_dicts():
    encoder = FeatureEncoder(["genre:onehot", "price:normalized"]).fit(_table())
    rows = encoder.transform([{"genre": "rock"}, {"price": 2.0}]).toarray()
    assert rows[0].tolist() == [0.0, 1.0, 0.0]
    assert rows[1, :2].tolist() == [0.0, 0.0]


def test_missing_column_raises_key_error():
    with pytest.raises(KeyError, match="brand"):
        FeatureEncoder(["brand:onehot"]).fit(_table())


def test_unfitted_transform_raises():
    with pytest.raises(NotFittedError):
        FeatureEncoder(["genre:onehot"]).transform(_table())


def test_json_round_trip_gives_identical_matrix():
    specs = [
        OneHot("genre"),
        MultiHot("tags"),
        Bucketized("price", 3),
        Normalized("price"),
        HashedId("genre", 8),
        TfIdf("title", max_features=2),
    ]
    encoder = FeatureEncoder(specs).fit(_table())
    again = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert again.specs == encoder.specs
    assert again.feature_names() == encoder.feature_names()
    assert (again.transform(_table()) != encoder.transform(_table())).nnz == 0


def test_blocks_are_side_by_side():
    encoder = FeatureEncoder(["genre:onehot", "tags:multihot"]).fit(_table())
    assert encoder.n_features == 5
    assert encoder.transform(_table()).shape == (4, 5)


def test_parse_spec_and_from_dict():
    assert parse_spec("price:bucketized:10") == Bucketized("price", 10)
    assert parse_spec("brand:hashed:64") == HashedId("brand", 64)
    assert parse_spec("title:tfidf:none:2") == TfIdf("title", None, 2)
    assert spec_from_dict(TfIdf("t", 5, 2).to_dict()) == TfIdf("t", 5, 2)
    with pytest.raises(ValueError, match="kind"):
        parse_spec("title:word2vec")
    with pytest.raises(ValueError, match="at most"):
        parse_spec("genre:onehot:3")


def test_tokenize_lowercases_words():
    assert tokenize("Hello, WORLD! a b-side") == ["hello", "world", "side"]


def test_tfidf_unknown_words_ignored_and_rows_unit_norm():
    encoder = FeatureEncoder([TfIdf("t")]).fit({"t": _objects(CORPUS)})
    rows = encoder.transform({"t": _objects(["fox zebra", "zebra", None])})
    norms = np.sqrt(rows.multiply(rows).sum(axis=1)).A.ravel()
    np.testing.assert_allclose(norms, [1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("max_features", "min_df"), [(None, 1), (None, 2), (3, 1)], ids=["all", "min_df2", "max3"]
)
def test_tfidf_matches_scikit_learn(max_features, min_df):
    text = pytest.importorskip("sklearn.feature_extraction.text")
    reference = text.TfidfVectorizer(
        lowercase=True, smooth_idf=True, norm="l2", max_features=max_features, min_df=min_df
    )
    expected = reference.fit_transform(CORPUS).toarray()
    encoder = FeatureEncoder([TfIdf("t", max_features=max_features, min_df=min_df)])
    got = encoder.fit_transform({"t": _objects(CORPUS)}).toarray()
    names = [n.split(":", 1)[1] for n in encoder.feature_names()]
    assert names == reference.get_feature_names_out().tolist()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    unseen = ["quick dog and a cat", "BROWN brown fox"]
    np.testing.assert_allclose(
        encoder.transform({"t": _objects(unseen)}).toarray(),
        reference.transform(unseen).toarray(),
        rtol=1e-12,
        atol=1e-12,
    )
