"""POS end to end on the tiny config: train → evaluate → export → serve, CLI, TFDS (mock) and
the config rule for XPOS. The flow is NER's (pipelines/tagging); these tests check what POS
adds on top: CoNLL-U reading, UPOS tags, per-tag accuracy, the word/TAG predict record."""

import json

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from cli_helpers import (
    check_evaluation_tags_match_serving,
    run_cli,
    saved_model_cli_run,
    tiny_config,
    tiny_run_fixture,
)

from data.tagged_corpus import read_split
from pipelines.pos.serving import pos_record
from pipelines.pos.task import ud_words
from pipelines.registry import get_task
from pipelines.spine.config import ConfigError, load_config

TINY = tiny_config("pos")
UPOS_LIST = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X"
UPOS = set(UPOS_LIST.split())  # the 17 universal tags


trained = tiny_run_fixture("pos")  # on the bundled EWT sample


def test_run_directory_and_metrics(trained):
    _, run_dir, metrics, _ = trained
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "val_accuracy" in history[0].split(",")
    info = json.loads((run_dir / "info.json").read_text())
    assert set(info["tags"]) <= UPOS and info["tags"] == sorted(info["tags"])
    assert info["output_tags"] == info["tags"] and info["train_examples"] == 200
    saved = json.loads((run_dir / "metrics.json").read_text())
    # The bundled test sample: 395 sentences, 6,267 words (ATTRIBUTION.md).
    assert saved["examples"] == 395 and saved["tokens"] == 6267
    assert sum(row["support"] for row in saved["per_tag"].values()) == 6267
    right = sum(row["accuracy"] * row["support"] for row in saved["per_tag"].values())
    assert saved["accuracy"] == pytest.approx(right / 6267) and saved == {**saved, **metrics}
    assert 0.0 <= saved["sentence_accuracy"] <= saved["accuracy"] <= 1.0
    assert saved["tags_not_in_train"] == sorted(set(saved["per_tag"]) - set(info["tags"]))


def test_evaluation_tags_match_serving(trained):
    tokens, predicted, loaded = check_evaluation_tags_match_serving(trained, 30)
    texts = [" ".join(s) for s in tokens[:3]]
    by_text = loaded.signatures["serving_default"](sentences=tf.constant(texts))
    assert [t.decode().split() for t in by_text["tags"].numpy()] == predicted[:3]


def test_saved_model_cli_and_predict(trained):
    _, run_dir, _, exported = trained
    out = saved_model_cli_run(exported["path"], "serving_default", 'sentences=["I saw her duck"]')
    assert out.split("Result for output key num_tokens:")[1].split()[0] == "[4]"
    result = run_cli("predict", "pos", "--run-dir", str(run_dir), stdin="I saw her duck\n\n")
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["tokens"] for r in records] == [["I", "saw", "her", "duck"], []]
    assert all(t in UPOS for t in records[0]["tags"]) and records[1]["tagged"] == ""
    assert records[0]["tagged"].split() == [
        f"{w}/{t}" for w, t in zip(records[0]["tokens"], records[0]["tags"], strict=True)
    ]


def test_pos_record_by_hand():
    record = pos_record("I saw", ["I", "saw"], ["PRON", "VERB"])
    assert record == {
        "text": "I saw",
        "tokens": ["I", "saw"],
        "tags": ["PRON", "VERB"],
        "tagged": "I/PRON saw/VERB",
    }


def test_xpos_column_from_files_and_not_from_tfds():
    task = get_task("pos")
    cfg = load_config(task.config_class, TINY, ["data.tag_column=xpos"])
    sentences = read_split(cfg.data, task.corpus_format(cfg), "validation")
    assert "NN" in {t for tags in sentences.tags for t in tags}  # Penn Treebank tags
    with pytest.raises(ConfigError, match=r"data\.tag_column: xpos with source tfds"):
        load_config(task.config_class, TINY, ["data.tag_column=xpos", "data.source=tfds"])


# A UD sentence as TFDS's builder yields it: "don't" is a multiword token (UPOS "_", then its
# words "do" and "n't"), and an empty node (head None) follows "go".
UD_NAMES = [*sorted(UPOS), "_"]
UD_SENTENCE = {
    "tokens": ["I", "don't", "do", "n't", "go", "go", "."],
    "upos": ["PRON", "_", "AUX", "PART", "VERB", "VERB", "PUNCT"],
    "head": ["4", "None", "4", "4", "0", "None", "4"],
}


def test_tfds_examples_keep_syntactic_words_only(tmp_path):
    ids = [UD_NAMES.index(t) for t in UD_SENTENCE["upos"]]
    example = {"upos": ids, "head": [h.encode() for h in UD_SENTENCE["head"]]}
    assert ud_words(example, UD_NAMES) == [True, False, True, True, True, False, True]

    def as_dataset(self, split, **kwargs):
        return tf.data.Dataset.from_tensors(
            {
                "tokens": tf.constant(UD_SENTENCE["tokens"]),
                "upos": tf.constant(ids, tf.int64),
                "head": tf.constant(UD_SENTENCE["head"]),
            }
        ).repeat(6)

    task = get_task("pos")
    cfg = load_config(task.config_class, TINY, ["data.source=tfds"])
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        sentences = read_split(cfg.data, task.corpus_format(cfg), "test")
    assert len(sentences) == 6
    assert sentences.tokens[0] == ["I", "do", "n't", "go", "."]
    assert sentences.tags[0] == ["PRON", "AUX", "PART", "VERB", "PUNCT"]


def test_evaluate_on_another_file(trained, tmp_path):
    """``evaluate --set data.test_path=FILE`` scores the run on that file; the run's own
    metrics stay; model keys are refused in one line before TensorFlow."""
    import gzip

    from pipelines.spine import runner

    task, run_dir, _, _ = trained
    with gzip.open("data/samples/pos/test.conllu.gz", "rt", encoding="utf-8") as handle:
        text = handle.read()
    first_two = "\n\n".join(text.strip().split("\n\n")[:2]) + "\n\n"
    other = tmp_path / "two.conllu"
    other.write_text(first_two, encoding="utf-8")
    words = sum(
        1
        for line in first_two.splitlines()
        if line and not line.startswith("#") and line.split("\t")[0].isdigit()
    )
    before = (run_dir / "metrics.json").read_text()
    record = runner.evaluate(task, run_dir, "test", [f"data.test_path={other}"])
    assert record["examples"] == 2 and record["tokens"] == words
    assert record["overrides"] == ["data.source=files", f"data.test_path={other}"]
    (written,) = (run_dir / "evaluations").glob("test-*/metrics.json")
    assert json.loads(written.read_text()) == record
    assert (written.parent / "config.yaml").read_text().count(str(other)) == 1
    assert (run_dir / "metrics.json").read_text() == before  # the run's own figures stay
    refused = run_cli("evaluate", "pos", "--run-dir", str(run_dir), "--set", "model.units=4")
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "model.units" in refused.stderr and "data.*" in refused.stderr
