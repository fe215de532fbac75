"""NER end to end on the tiny config: train → evaluate → export → serve, CLI, TFDS, and a
corpus in another column layout that runs through the same pipeline given only settings."""

import json
import random
from pathlib import Path

import numpy as np
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

from data.tag_schemes import convert
from pipelines.ner.metrics import EntityF1, entity_metrics
from pipelines.ner.serving import entity_record
from pipelines.registry import get_task
from pipelines.spine import runner
from pipelines.spine.config import load_config
from pipelines.tagging.metrics import TokenAccuracy, accuracy_metrics, token_accuracy
from pipelines.tagging.serving import predict_records
from pipelines.tagging.task import TaggingValidation

TINY = tiny_config("ner")
WNUT_TYPES = {"corporation", "creative-work", "group", "location", "person", "product"}


trained = tiny_run_fixture("ner")  # on the bundled WNUT-17 sample


# ----------------------------------------------------------------------------- metrics


def test_entity_metrics_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O"]]
    m = entity_metrics(gold, pred)
    # 3 gold entities, 2 predicted, 1 right (PER): P 1/2, R 1/3, F1 0.4; 3 of 5 tags right.
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(0.4) and m["token_accuracy"] == pytest.approx(0.6)
    assert m["entities"] == 3 and m["tokens"] == 5
    assert m["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert m["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    with pytest.raises(ValueError, match="sentence 1: 1 gold tags but 2 predicted"):
        entity_metrics(gold, [pred[0], ["O", "O"]])


def test_entity_f1_callback_scores_once_per_epoch_with_validation_weights():
    calls = []

    def predict(model):
        calls.append(model)
        return [["B-PER", "O"]]

    callback = EntityF1(predict, [["B-PER", "O"]], verbose=False)
    callback.set_model("model")
    logs = {}
    callback.on_epoch_begin(0)
    callback.on_test_end()  # while the validation (e.g. EMA) weights are in place
    callback.on_epoch_end(0, logs)
    assert calls == ["model"] and logs["val_f1"] == 1.0 and logs["val_token_accuracy"] == 1.0
    callback.on_epoch_begin(1)
    callback.on_epoch_end(1, logs)  # no validation pass: scores at epoch end
    assert len(calls) == 2


def test_shared_token_accuracy_and_its_callback():
    # What a tagging task scores by default (POS): token accuracy, logged as val_accuracy.
    gold, pred = [["NOUN", "VERB"], ["DET"], []], [["NOUN", "NOUN"], ["DET"], []]
    assert accuracy_metrics(gold, pred) == {"accuracy": pytest.approx(2 / 3), "tokens": 3}
    assert token_accuracy([[]], [[]]) == 0.0
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        token_accuracy(gold[:2], pred[:1])
    callback = TokenAccuracy(lambda model: pred, gold, verbose=False)
    callback.set_model("model")
    logs = {}
    callback.on_epoch_begin(0)
    callback.on_epoch_end(0, logs)
    assert logs == {"val_accuracy": pytest.approx(2 / 3)}


# ----------------------------------------------------------------------------- prepare


def test_prepare_counts_train_batches_exactly_and_keeps_no_state():
    task = get_task("ner")
    cfg = load_config(task.config_class, TINY, ["data.max_train_examples=600"])
    prepared = task.prepare(cfg)
    # Length buckets each end with a partial batch: more than ceil(600 / 16) = 38.
    assert prepared.train_batches == sum(1 for _ in prepared.train) > 38
    assert prepared.train_batches == int(prepared.train.cardinality())
    extra = prepared.extra
    assert isinstance(extra, TaggingValidation) and len(extra.gold) == 100
    assert sorted(extra.batches.order.tolist()) == list(range(100))
    assert vars(task) == {}  # everything travels in Prepared


# ----------------------------------------------------------------------------- tiny run


def test_run_directory_and_metrics(trained):
    _, run_dir, metrics, _ = trained
    for name in ["config.yaml", "info.json", "checkpoints/best.keras", "history.csv"]:
        assert (run_dir / name).exists(), name
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "val_f1" in history[0].split(",")
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["monitor"] == "val_f1" and summary["best_value"] == max(
        summary["history"]["val_f1"]
    )
    info = json.loads((run_dir / "info.json").read_text())
    assert info["tags"][0] == "O" and len(info["tags"]) == 13
    assert set(info["entity_types"]) == WNUT_TYPES and info["words"][:2] == ["", "[UNK]"]
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["examples"] == 1287 and saved["entities"] == 1079 and saved["tokens"] == 23394
    for key in ["f1", "precision", "recall", "token_accuracy"]:
        assert 0.0 <= saved[key] <= 1.0 and saved[key] == metrics[key]
    assert set(saved["per_type"]) == WNUT_TYPES
    assert sum(row["support"] for row in saved["per_type"].values()) == 1079


def test_export_matches_keras_model(trained):
    task, run_dir, _, exported = trained
    loaded = tf.saved_model.load(str(exported["path"]))
    sentences = ["Peter Blackburn lives in London", "", "  spaced   out  "]
    out = loaded.signatures["serving_default"](sentences=tf.constant(sentences))
    assert set(out) == {"tags", "num_tokens"}
    assert out["num_tokens"].numpy().tolist() == [5, 0, 2]
    served = [t.decode().split() for t in out["tags"].numpy()]
    assert [len(t) for t in served] == [5, 0, 2]

    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    tagged = task.serving_functions(model, cfg, info)["tag_text"](tf.constant(sentences))
    assert [[t.decode() for t in row] for row in tagged["tags"].to_list()] == served
    assert all(t in info.output_tags for row in served for t in row)

    tokens = tf.constant(
        [["Peter", "Blackburn", "lives", "in", "London"], ["spaced", "out", "", "", ""]]
    )
    by_token = loaded.signatures["tag_tokens"](tokens=tokens)["tags"].numpy()
    assert by_token.shape == (2, 5)
    assert [t.decode() for t in by_token[0]] == served[0]
    assert [t.decode() for t in by_token[1]] == [*served[2], "", "", ""]
    # An inner "" is a word (tagged), not padding; the words after it keep their tags' count.
    holed = loaded.signatures["tag_tokens"](tokens=tf.constant([["Peter", "", "London", ""]]))
    holed = [t.decode() for t in holed["tags"].numpy()[0]]
    assert all(t in info.output_tags for t in holed[:3]) and holed[3] == ""


def test_evaluation_tags_match_serving(trained):
    # The evaluation path (tf.data features, ordered batches) and the serving path (strings
    # in the graph) tag the same sentences identically.
    check_evaluation_tags_match_serving(trained, 40)


def test_saved_model_cli_run(trained):
    _, _, _, exported = trained
    out = saved_model_cli_run(
        exported["path"], "serving_default", 'sentences=["Peter lives in Paris", ""]'
    )
    assert "Result for output key num_tokens:" in out and "Result for output key tags:" in out
    assert out.split("Result for output key num_tokens:")[1].split()[0:2] == ["[4", "0]"]
    tags_line = out.split("Result for output key tags:")[1].strip().splitlines()[0]
    first = tags_line.split("b'")[1].split("'")[0].split()
    assert len(first) == 4 and tags_line.endswith("b'']")
    served = tf.saved_model.load(str(exported["path"])).signatures["serving_default"]
    expected = served(sentences=tf.constant(["Peter lives in Paris"]))["tags"].numpy()[0]
    assert " ".join(first) == expected.decode()


def test_predict_cli_prints_json_lines(trained):
    _, run_dir, _, _ = trained
    result = run_cli("predict", "ner", "--run-dir", str(run_dir), stdin="Peter lives in Paris\n\n")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["tokens"] for r in lines] == [["Peter", "lives", "in", "Paris"], []]
    assert len(lines[0]["tags"]) == 4 and lines[1]["tags"] == []
    assert all(isinstance(r["entities"], list) for r in lines)


def test_predict_entities_from_tags():
    def tag_text(sentences):
        return {
            "tokens": tf.ragged.constant([["Peter", "Blackburn", "in", "New", "York"]]),
            "tags": tf.ragged.constant([["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]]),
        }

    (record,) = predict_records(tag_text, ["Peter Blackburn in New York"], entity_record)
    assert record["entities"] == [
        {"type": "PER", "start": 0, "end": 2, "text": "Peter Blackburn"},
        {"type": "LOC", "start": 3, "end": 5, "text": "New York"},
    ]


# ----------------------------------------------------------------------------- other layout

NAMES = {
    "PER": [["John", "Smith"], ["Mary"], ["Ada", "Lovelace"], ["Bob"]],
    "LOC": [["Paris"], ["New", "York"], ["Berlin"], ["Oslo"]],
    "ORG": [["Acme", "Corp"], ["Initech"], ["Globex"]],
}
TEMPLATES = [
    ["PER", "visited", "LOC", "."],
    ["PER", "works", "for", "ORG", "in", "LOC", "."],
    ["the", "ORG", "office", "in", "LOC", "hired", "PER"],
    ["nothing", "happened", "today", "."],
]


def _synthetic_corpus(path: Path, sentences: int, seed: int, bad_line: bool = False) -> None:
    """Tab-separated ``TAG POS TOKEN`` lines in BIOES, with documents: another layout."""
    rng = random.Random(seed)
    lines = []
    for index in range(sentences):
        if index % 10 == 0:
            lines += ["O\t-X-\t-DOCSTART-", ""]  # the marker sits in the token column
        tokens, tags = [], []
        for slot in rng.choice(TEMPLATES):
            if slot in NAMES:
                name = rng.choice(NAMES[slot])
                tokens += name
                tags += ["B-" + slot] + ["I-" + slot] * (len(name) - 1)
            else:
                tokens.append(slot)
                tags.append("O")
        lines += [
            f"{tag}\tNN\t{token}" for tag, token in zip(convert(tags, "bioes"), tokens, strict=True)
        ]
        if bad_line and index == 3:
            lines.append("O\tNN")  # two columns: malformed
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_other_layout_corpus_runs_through_the_pipeline(tmp_path, capfd):
    _synthetic_corpus(tmp_path / "train.tsv", 300, seed=1, bad_line=True)
    _synthetic_corpus(tmp_path / "test.tsv", 60, seed=2)
    task = get_task("ner")
    overrides = [
        "data.source=files",
        f"data.train_path={tmp_path / 'train.tsv'}",
        "data.validation_path=null",  # carved from train, by document
        f"data.test_path={tmp_path / 'test.tsv'}",
        "data.separator=tab",
        "data.token_column=2",
        "data.tag_column=0",
        "data.tag_scheme=bioes",
        "data.skip_malformed_lines=true",
        "data.max_train_examples=null",
        "data.max_validation_examples=null",
        "model.tag_scheme=bioes",
        "train.epochs=1",
        "train.steps_per_epoch=40",
        "train.learning_rate=0.03",
    ]
    cfg = load_config(task.config_class, TINY, overrides)
    run_dir = runner.train(task, cfg, tmp_path / "run")
    assert "skipped 1 malformed line(s)" in capfd.readouterr().err
    info = json.loads((run_dir / "info.json").read_text())
    assert info["entity_types"] == ["LOC", "ORG", "PER"] and info["skipped_lines"] == 1
    assert len(info["tags"]) == 13 and "E-LOC" in info["tags"] and "I-LOC" in info["output_tags"]
    assert info["train_examples"] + info["validation_examples"] == 300
    metrics = runner.evaluate(task, run_dir, "test")
    assert metrics["examples"] == 60 and set(metrics["per_type"]) == {"LOC", "ORG", "PER"}
    assert metrics["f1"] > 0.8  # a trivially learnable corpus: the labels line up end to end


def test_malformed_file_fails_in_one_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("EU NNP B-ORG\nrejects VBZ\n", encoding="utf-8")
    result = run_cli(
        "train", "ner", "--config", str(TINY), "--set", "data.source=files",
        "--set", f"data.train_path={bad}", env={"RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {bad}:2: expected 3 columns (as on the first token line), found 2"
    )


# ----------------------------------------------------------------------------- TFDS


def _mock_conll2003(sentences):
    def as_dataset(self, *args, **kwargs):
        ner = self.info.features["ner"].feature
        examples = [
            {
                "tokens": np.array(tokens, dtype=object),
                "pos": np.zeros(len(tokens), np.int64),
                "chunks": np.zeros(len(tokens), np.int64),
                "ner": np.array([ner.str2int(t) for t in tags], np.int64),
            }
            for tokens, tags in sentences
        ]
        examples.append({**examples[0], **{k: examples[0][k][:0] for k in examples[0]}})
        return tf.data.Dataset.from_generator(
            lambda: iter(examples),
            output_signature={
                "tokens": tf.TensorSpec([None], tf.string),
                "pos": tf.TensorSpec([None], tf.int64),
                "chunks": tf.TensorSpec([None], tf.int64),
                "ner": tf.TensorSpec([None], tf.int64),
            },
        )

    return tfds.testing.mock_data(as_dataset_fn=as_dataset)


def test_train_on_tfds_conll2003_mock(tmp_path):
    sentences = [
        (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        (["BRUSSELS", "1996-08-22"], ["B-LOC", "O"]),
    ] * 4
    task = get_task("ner")
    cfg = load_config(task.config_class, TINY, ["data.source=tfds", "train.epochs=1"])
    with _mock_conll2003(sentences):
        run_dir = runner.train(task, cfg, tmp_path / "run")
        metrics = runner.evaluate(task, run_dir, "test")
    info = json.loads((run_dir / "info.json").read_text())
    assert info["entity_types"] == ["LOC", "MISC", "ORG", "PER"]
    # The empty example the CoNLL builder yields at the end is dropped.
    assert info["train_examples"] == 12 and metrics["examples"] == 12
    assert metrics["entities"] == 16
