"""Translation's streaming data path (``data.source: stream``): the split rule, the one-pass
scan, the streamed batches, bad input, and a corpus 20× the bundled sample trained through the
CLI with its peak RSS beside the in-memory path's."""

import gzip
import json
import sys
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf
from cli_helpers import ROOT, run_with_peak_rss, tiny_config

from data.bucketing import batch_count
from data.data_format_error import DataFormatError
from data.sources import DataUnavailableError
from data.text_files import TextEncodingError
from data.token_counts import TokenCounts
from data.translation_corpus import (
    SPLITS,
    learn_vocabularies,
    load_split,
    scan_training,
    streamed_batches,
    training_pairs,
)
from data.translation_pairs import PairFormatError, read_tab_pairs
from data.translation_stream import scan_pairs
from pipelines.registry import get_task
from pipelines.spine import runner
from pipelines.spine.config import ConfigError, load_config

SAMPLE = ROOT / "data" / "samples" / "translation" / "spa-eng.tsv"
COLUMNS = (1, 0)  # es → en from english<TAB>spanish
MB = 1 << 20


def _data(path, *overrides):
    task = get_task("translation")
    settings = ["data.source=stream", f"data.train_path={path}", *overrides]
    return load_config(task.config_class, tiny_config("translation"), settings).data


def _write_parts(folder, lines, parts, gzipped=()):
    """``lines`` cut into ``parts`` files in ``folder`` (the ``gzipped`` ones gzip)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(lines) // parts)
    for part in range(parts):
        text = "".join(lines[part * size : (part + 1) * size]).encode("utf-8")
        name = folder / f"part-{part:02d}.tsv"
        name.write_bytes(gzip.compress(text, compresslevel=1) if part in gzipped else text)
    return folder


def _sample_lines():
    return SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)


def test_split_is_by_source_disjoint_complete_and_close_to_the_fractions(tmp_path):
    corpus = _write_parts(tmp_path / "corpus", _sample_lines()[::-1], parts=3, gzipped={1})
    scan = scan_pairs(_data(corpus, "data.max_train_examples=null"), COLUMNS, keep=SPLITS)
    every = read_tab_pairs(SAMPLE, *COLUMNS, "NFKC")
    # Every pair in exactly one split, none lost or repeated (as multisets of whole pairs).
    found = Counter(
        pair
        for split in SPLITS
        for pair in zip(
            scan.kept[split].sources,
            scan.kept[split].targets,
            scan.kept[split].references,
            strict=True,
        )
    )
    assert found == Counter(zip(every.sources, every.targets, every.references, strict=True))
    assert scan.pairs == {split: len(scan.kept[split]) for split in SPLITS}
    # Same source → same split.
    split_of = {}
    for split in SPLITS:
        for source in scan.kept[split].sources:
            assert split_of.setdefault(source, split) == split, source
    shares = {split: len(scan.kept[split]) / len(every) for split in SPLITS}
    print(f"stream split of {len(every)} sample pairs: {shares}")
    assert abs(shares["validation"] - 0.05) < 0.01 and abs(shares["test"] - 0.05) < 0.01
    # The rule is per sentence: the one original file, in its own order, splits the same way.
    single = scan_pairs(_data(SAMPLE, "data.max_train_examples=null"), COLUMNS, keep=SPLITS)
    for split in SPLITS:
        assert sorted(single.kept[split].sources) == sorted(scan.kept[split].sources)
    # More validation never moves a pair into or out of test; another seed splits otherwise.
    wider = scan_pairs(_data(SAMPLE, "data.validation_fraction=0.2"), COLUMNS, keep=SPLITS)
    assert wider.kept["test"] == single.kept["test"]
    assert set(single.kept["validation"].sources) < set(wider.kept["validation"].sources)
    reseeded = scan_pairs(_data(SAMPLE, "data.split_seed=14"), COLUMNS, keep=("test",))
    assert set(reseeded.kept["test"].sources) != set(single.kept["test"].sources)


def test_scan_learns_the_in_memory_vocabulary_and_counts_the_streamed_batches(tmp_path):
    corpus = _write_parts(tmp_path / "corpus", _sample_lines(), parts=4, gzipped={3})
    settings = ("data.max_train_examples=null", "data.max_eval_examples=null")
    data = _data(corpus, *settings, "data.max_train_length=8")  # some pairs are longer
    scan, vocabularies, validation = scan_training(data)
    train = scan_pairs(data, COLUMNS, keep=("train",)).kept["train"]
    assert vocabularies == learn_vocabularies(train, data)  # same tokens, same order
    assert validation == load_split(data, "validation")
    ids, dropped = training_pairs(train, vocabularies, data.max_train_length, "corpus")
    assert (scan.train_examples, scan.dropped) == (len(ids), dropped) and dropped > 0
    batches = streamed_batches(data, scan, vocabularies, batch_size=16, shuffle_seed=7)
    assert batches.count == batch_count(ids.lengths(), 16, bucketed=True)
    seen = [(s.numpy(), ti.numpy(), to.numpy()) for (s, ti), to in batches.dataset]
    assert len(seen) == batches.count  # the declared count is the stream's
    assert sum(len(s) for s, _, _ in seen) == len(ids)
    # Teacher forcing as in memory: decoder input starts with [START], output ends in [END].
    _, ti, to = seen[0]
    assert (ti[:, 0] == 2).all() and ((to == 3).sum(axis=1) == 1).all()
    # Every process of a data-parallel run builds this same stream from the same seed.
    again = streamed_batches(data, scan, vocabularies, batch_size=16, shuffle_seed=7)
    for expected, ((s2, ti2), to2) in zip(seen[:5], again.dataset.take(5), strict=True):
        for x, y in zip(expected, (s2, ti2, to2), strict=True):
            np.testing.assert_array_equal(x, y.numpy())
    # max_train_examples: the first N training pairs of the files; the count still exact.
    capped = _data(corpus, "data.max_train_examples=300")
    scan, vocabularies, _ = scan_training(capped)
    assert scan.pairs["train"] == 300
    capped_batches = streamed_batches(capped, scan, vocabularies, batch_size=16, shuffle_seed=7)
    rows = [len(to) for _, to in capped_batches.dataset]
    assert len(rows) == capped_batches.count and sum(rows) == scan.train_examples


def test_token_counts_are_exact_under_the_cap_and_keep_the_frequent_past_it():
    rng = np.random.default_rng(0)
    words = [f"w{i}".encode() for i in range(400)]
    stream = [rng.choice(words, size=500, p=_zipf(len(words))) for _ in range(20)]
    exact, small = TokenCounts(cap=1000), TokenCounts(cap=60)
    for batch in stream:
        exact.add_tokens(tf.constant(batch))
        small.add_tokens(tf.constant(batch))
    truth = Counter(w for batch in stream for w in batch.tolist())
    assert dict(exact.ranked()) == truth and exact.pruned == 0
    assert small.pruned > 0 and len(small) <= 60
    assert [t for t, _ in small.ranked()[:10]] == [t for t, _ in exact.ranked()[:10]]


def _zipf(n):
    weights = 1.0 / np.arange(1, n + 1)
    return weights / weights.sum()


def test_batch_count_of_a_histogram_equals_the_count_of_its_lengths():
    lengths = np.random.default_rng(1).integers(1, 60, 777)
    values, counts = np.unique(lengths, return_counts=True)
    for bucketed in (True, False):
        assert batch_count(values, 16, bucketed, counts) == batch_count(lengths, 16, bucketed)


def test_bad_stream_input_is_one_line_naming_the_file_line_or_key(tmp_path):
    def fails(path, error, match):
        with pytest.raises(error, match=match) as caught:
            scan_pairs(_data(path), COLUMNS, keep=("test",))
        assert "\n" not in str(caught.value)

    fails(tmp_path / "missing.tsv", DataUnavailableError, r"data.train_path: .*missing\.tsv: not")
    fails(tmp_path / "*.tsv", DataUnavailableError, r"data.train_path: no file matches")
    (tmp_path / "empty").mkdir()
    fails(tmp_path / "empty", DataUnavailableError, r"empty: directory has no files")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.tsv").write_text("Go.\tVe.\nHello there\n", encoding="utf-8")
    fails(bad / "a.tsv", PairFormatError, r"a\.tsv:2: expected english<TAB>translation")
    (bad / "b.tsv").write_text("Go.\tVe.\n\nRun.\t \n", encoding="utf-8")
    fails(bad / "b.tsv", PairFormatError, r"b\.tsv:3: column 2 is empty")
    (bad / "c.tsv").write_bytes("Go.\tVe.\nCafé\tCafé\n".encode("latin-1"))
    fails(bad / "c.tsv", TextEncodingError, r"c\.tsv:2: not UTF-8 \(byte 0xe9")
    (bad / "d.tsv.gz").write_bytes(gzip.compress(SAMPLE.read_bytes())[:3000])
    fails(bad / "d.tsv.gz", DataFormatError, r"d\.tsv\.gz: truncated or corrupt gzip")
    (bad / "e.tsv").write_text("\n\n", encoding="utf-8")
    with pytest.raises(PairFormatError, match=r"e\.tsv: no sentence pairs found"):
        load_split(_data(bad / "e.tsv"), "test")
    with pytest.raises(DataFormatError, match=r"spa-eng\.tsv: all \d+ training pairs .* longer"):
        scan_training(_data(SAMPLE, "data.max_train_length=2"))
    with pytest.raises(ValueError, match="training pairs are streamed"):
        load_split(_data(SAMPLE), "train")
    with pytest.raises(ConfigError, match=r"data\.group_by: connected needs every pair"):
        _data(SAMPLE, "data.group_by=connected")


def _train_cli(run_dir, *settings):
    """``python -m pipelines train translation`` (tiny config, one epoch of two steps, every
    training pair) in a child process; returns its stderr and its own peak RSS in MB."""
    log = run_dir.parent / f"{run_dir.name}.log"
    command = [sys.executable, "-m", "pipelines", "train", "translation"]
    command += ["--config", str(tiny_config("translation")), "--run-dir", str(run_dir)]
    for setting in ("data.max_train_examples=null", "train.epochs=1", "train.steps_per_epoch=2"):
        command += ["--set", setting]
    for setting in settings:
        command += ["--set", setting]
    code, output, peak = run_with_peak_rss(command, log)
    assert code == 0, output[-3000:]
    return output, peak / MB


def test_corpus_20x_the_sample_streams_through_the_cli_in_less_memory(tmp_path):
    # 20 copies of the sample with the English side tagged by copy (200,000 distinct pairs):
    # 20 files for the stream (4 of them gzip), one file for the in-memory path.
    lines = _sample_lines()
    copies = [line.replace("\t", f" {copy}\t", 1) for copy in range(20) for line in lines]
    corpus = _write_parts(tmp_path / "corpus", copies, parts=20, gzipped={0, 5, 10, 15})
    whole = tmp_path / "whole.tsv"
    whole.write_text("".join(copies), encoding="utf-8")
    streamed, stream_mb = _train_cli(
        tmp_path / "stream", "data.source=stream", f"data.train_path={corpus}"
    )
    in_memory, memory_mb = _train_cli(
        tmp_path / "memory", "data.source=files", f"data.train_path={whole}"
    )
    print(
        f"peak RSS of `train translation` (tiny config, {len(copies):,} pairs, shared machine): "
        f"stream {stream_mb:.0f} MB, in memory {memory_mb:.0f} MB"
    )
    assert "(stream)" in streamed and "(files)" in in_memory
    info = json.loads((tmp_path / "stream" / "info.json").read_text())
    assert info["train_examples"] > 0.85 * len(copies)  # every training pair was streamed
    assert stream_mb < memory_mb - 64
    # Evaluation and export as for any run: test pairs collected from the same files.
    task = get_task("translation")
    metrics = runner.evaluate(task, tmp_path / "stream", "test")
    cfg, _ = runner.load_run(task, tmp_path / "stream")
    test = load_split(cfg.data, "test")
    assert metrics["examples"] == len(test) == 20  # max_eval_examples
    records = (tmp_path / "stream" / "translations_test.jsonl").read_text().splitlines()
    assert [json.loads(r)["reference"] for r in records] == test.references
    exported = runner.export(task, tmp_path / "stream")
    loaded = tf.saved_model.load(str(exported["path"]))
    signatures = {"serving_default", "translate", "translate_greedy", "attention"}
    assert set(loaded.signatures) == signatures  # as every translation export
    out = loaded.signatures["translate"](source=tf.constant(["Tengo hambre."]))
    assert out["translation"].shape == (1,)
