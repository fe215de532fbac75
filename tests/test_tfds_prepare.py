"""``prepare-tfds``: the official TFDS ``tiny_shakespeare`` built offline from a local copy of
its source file (TFDS checks its checksum), then trained and evaluated on by ``charlm --data
tfds``; a wrong or missing file fails at once in one line naming what TFDS needs."""

import shutil

import pytest

from data.sources import data_root
from tests.cli_helpers import run_cli, tiny_config

SOURCE = data_root() / "tinyshakespeare" / "input.txt"
NEEDS = (
    "input.txt (1,115,394 bytes, "
    "sha256 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed)"
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """(manual dir holding a copy of input.txt, TFDS data dir it was prepared into)."""
    if not SOURCE.exists():
        pytest.skip(f"{SOURCE} not present (set DATA_ROOT)")
    manual = tmp_path_factory.mktemp("manual")
    shutil.copy(SOURCE, manual / "input.txt")
    data_dir = tmp_path_factory.mktemp("tfds")
    result = run_cli(
        "prepare-tfds", "tiny_shakespeare", "--manual-dir", str(manual), "--data-dir", str(data_dir)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "prepared" in result.stderr
    return manual, data_dir


def test_charlm_trains_and_evaluates_on_the_prepared_dataset(prepared, tmp_path):
    """The three TFDS splits are the project's 90/5/5 split of the same file, and a tiny
    charlm run with ``--data tfds`` trains and evaluates on them."""
    from data.char_corpus import read_splits
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    manual, data_dir = prepared
    task = get_task("charlm")
    sets = ["data.source=tfds", f"data.tfds_data_dir={data_dir}", "train.epochs=1"]
    cfg = load_config(task.config_class, tiny_config("charlm"), sets)
    as_file = load_config(
        task.config_class,
        tiny_config("charlm"),
        ["data.source=files", f"data.path={manual / 'input.txt'}"],
    )
    splits = ("train", "validation", "test")
    assert read_splits(cfg.data, splits) == read_splits(as_file.data, splits)
    run_dir = runner.train(task, cfg, tmp_path / "run")
    metrics = runner.evaluate(task, run_dir)
    assert metrics["examples"] > 0 and metrics["bits_per_char"] > 0


def test_prepared_twice_is_reused(prepared):
    manual, data_dir = prepared
    result = run_cli(
        "prepare-tfds", "tiny_shakespeare", "--manual-dir", str(manual), "--data-dir", str(data_dir)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "already prepared" in result.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"x" * 1_115_394, "sha256 "), (b"too short", "9 bytes")],
)
def test_a_wrong_file_fails_in_one_line(tmp_path, content, problem):
    (tmp_path / "input.txt").write_bytes(content)
    result = run_cli(
        "prepare-tfds",
        "tiny_shakespeare",
        "--manual-dir",
        str(tmp_path),
        "--data-dir",
        str(tmp_path / "tfds"),
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {tmp_path / 'input.txt'}: {problem}")
    assert f"needs {NEEDS}: not the registered file" in lines[0]
    assert not (tmp_path / "tfds" / "tiny_shakespeare").exists()


@pytest.mark.parametrize(
    ("name", "needs"),
    [
        (
            "imdb_reviews",
            "aclImdb_v1.tar.gz (84,125,825 bytes, sha256 "
            "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe)",
        ),
        (
            "conll2003",
            "no checksum with a file name is registered for https://data.deepai.org/conll2003.zip",
        ),
    ],
)
def test_a_missing_file_is_named_with_its_size_and_checksum(tmp_path, name, needs):
    result = run_cli(
        "prepare-tfds", name, "--manual-dir", str(tmp_path), "--data-dir", str(tmp_path / "d")
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needs in lines[0]
