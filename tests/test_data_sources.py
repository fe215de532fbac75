"""Data sources: fast offline TFDS failure, TFDS via mock_data, validation carving."""

import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data import sources
from data.sources import DataUnavailableError, carve_validation, resolve_data_path, tfds_load


def test_unprepared_tfds_fails_fast_naming_dir_and_alternatives(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_network_reachable", lambda *a, **k: False)
    started = time.perf_counter()
    with pytest.raises(DataUnavailableError) as err:
        tfds_load("imdb_reviews", "train", str(tmp_path / "tfds"))
    assert time.perf_counter() - started < 10
    message = str(err.value)
    assert str(tmp_path / "tfds") in message
    assert "--data files" in message and "--data sample" in message
    assert "\n" not in message


def test_real_offline_probe_is_fast():
    started = time.perf_counter()
    sources._network_reachable(("host.invalid", 443), timeout=3)
    assert time.perf_counter() - started < 5


def test_unknown_tfds_name_is_one_line(tmp_path):
    with pytest.raises(DataUnavailableError, match=r"TFDS: .*no_such_dataset"):
        tfds_load("no_such_dataset", "train", str(tmp_path))


def test_tfds_mock_data_path():
    with tfds.testing.mock_data(num_examples=6):
        ds = tfds_load("imdb_reviews", "train", None, as_supervised=True)
        assert len(list(ds)) == 6


def test_carve_validation_is_deterministic_disjoint_and_complete():
    train, val = carve_validation(100, 0.1, seed=3)
    assert len(val) == 10 and len(train) == 90
    assert not set(train) & set(val)
    assert sorted([*train, *val]) == list(range(100))
    _, again_val = carve_validation(100, 0.1, seed=3)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(val, carve_validation(100, 0.1, seed=4)[1])
    with pytest.raises(ValueError, match="fraction"):
        carve_validation(10, 1.0, seed=0)


def test_data_root_env_and_missing_path(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_ROOT", str(tmp_path))
    (tmp_path / "x.txt").write_text("hi")
    assert resolve_data_path("x.txt") == tmp_path / "x.txt"
    with pytest.raises(DataUnavailableError, match=r"nope\.txt: not found \(DATA_ROOT="):
        resolve_data_path("nope.txt")


def test_grouped_carve_never_splits_a_group():
    groups = np.repeat(np.arange(20), np.arange(1, 21))  # group g has g+1 members
    train, val = carve_validation(len(groups), 0.2, seed=5, groups=groups)
    assert not set(groups[train]) & set(groups[val])
    assert sorted([*train, *val]) == list(range(len(groups)))
    assert abs(len(val) - 0.2 * len(groups)) <= 20  # overshoots by less than one group
    again = carve_validation(len(groups), 0.2, seed=5, groups=groups)[1]
    np.testing.assert_array_equal(val, again)
    with pytest.raises(ValueError, match="groups has 3 entries for 4 examples"):
        carve_validation(4, 0.5, seed=0, groups=np.arange(3))


def test_too_few_groups_fall_back_to_examples():
    # One document (a CoNLL file without -DOCSTART-) must not move everything to validation.
    train, val = carve_validation(50, 0.1, seed=1, groups=np.zeros(50, dtype=int))
    assert len(val) == 5 and len(train) == 45
    # 19 groups < 2 / 0.1: also per example; 20 groups: whole groups again.
    _, val = carve_validation(190, 0.1, seed=1, groups=np.repeat(np.arange(19), 10))
    assert len(val) == 19
    _, val = carve_validation(200, 0.1, seed=1, groups=np.repeat(np.arange(20), 10))
    assert len(val) == 20 and len(set(np.repeat(np.arange(20), 10)[val])) == 2
