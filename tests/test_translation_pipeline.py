"""Translation end to end on the tiny config: train → evaluate → export → serve, CLI, TFDS."""

import json
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from cli_helpers import run_cli, saved_model_cli_run, tiny_config, tiny_run_fixture

from data import translation_corpus
from data.data_config_error import DataConfigError
from data.translation_corpus import load_split
from data.translation_text import END_ID, START_ID, detokenize, tokenize
from pipelines.registry import get_task
from pipelines.spine import runner
from pipelines.spine.config import load_config
from pipelines.translation.decoding import attention_panel
from pipelines.translation.metrics import corpus_scores
from pipelines.translation.serving import (
    banned_ids,
    make_translate_function,
    source_vectorizer,
    translate_functions,
)

TINY = tiny_config("translation")
SENTENCES = ["Tengo hambre.", "¿Dónde está la estación?"]


trained = tiny_run_fixture("translation")


def test_run_directory_and_reports(trained):
    _, run_dir, metrics, _ = trained
    for name in ["config.yaml", "info.json", "checkpoints/best.keras", "train_summary.json"]:
        assert (run_dir / name).exists(), name
    info = json.loads((run_dir / "info.json").read_text())
    assert info["target_vocabulary"][:4] == ["", "[UNK]", "[START]", "[END]"]
    assert info["source_vocabulary"][:2] == ["", "[UNK]"] and info["train_examples"] <= 400
    assert metrics["reports"] == ["translations_test.jsonl", "attention_test.png"]
    assert (run_dir / "attention_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (run_dir / "translations_test.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 20
    assert set(records[0]) == {"source", "reference", "greedy", "beam", "beam_log_probability"}


def test_metrics_are_sacrebleu_on_the_untouched_references(trained):
    task, run_dir, _, _ = trained
    saved = json.loads((run_dir / "metrics.json").read_text())
    cfg, _ = runner.load_run(task, run_dir)
    test = load_split(cfg.data, "test")
    assert saved["examples"] == len(test) == 20  # max_eval_examples
    records = [
        json.loads(x) for x in (run_dir / "translations_test.jsonl").read_text().splitlines()
    ]
    assert [r["reference"] for r in records] == test.references
    beam = corpus_scores([r["beam"] for r in records], test.references)
    greedy = corpus_scores([r["greedy"] for r in records], test.references, prefix="greedy_")
    for key in ["bleu", "bleu_lowercase", "chrf"]:
        assert saved[key] == beam[key] and saved[f"greedy_{key}"] == greedy[f"greedy_{key}"]
    assert saved["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert saved["beam_sentences_per_second"] > 0 and saved["greedy_sentences_per_second"] > 0
    assert saved["beam_size"] == 3


def test_prepare_counts_one_pass_and_hands_validation_to_val_bleu(monkeypatch):
    task = get_task("translation")
    cfg = load_config(task.config_class, TINY, ["decoding.validation_bleu_examples=5"])
    reader = mock.Mock(wraps=translation_corpus.read_tab_pairs)
    monkeypatch.setattr(translation_corpus, "read_tab_pairs", reader)
    prepared = task.prepare(cfg)
    assert reader.call_count == 1  # train and validation from one read of the pair file
    # The exact count (length buckets each end with a partial batch), not ceil(N / B).
    assert prepared.train_batches == sum(1 for _ in prepared.train)
    assert prepared.train_batches >= -(-prepared.train_examples // cfg.train.batch_size)
    assert prepared.extra.references == load_split(cfg.data, "validation").references
    (callback,) = task.callbacks(cfg, prepared.info, prepared)
    assert callback._sources == prepared.extra.sources[:5]


def test_evaluation_details_carry_what_the_reports_write(trained, tmp_path):
    task, run_dir, _, _ = trained
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    evaluation = task.evaluate(model, cfg, info, "validation")
    assert vars(task) == {}  # no state (e.g. decoder caches) on the task object
    details = evaluation.details
    assert evaluation.metrics["examples"] == len(details.pairs) == len(details.beam.translations)
    # write_reports decodes nothing again: it needs no model.
    reports = task.write_reports(None, cfg, info, evaluation, "validation", tmp_path)
    assert [p.name for p in reports] == [
        "translations_validation.jsonl",
        "attention_validation.png",
    ]
    records = [json.loads(x) for x in reports[0].read_text(encoding="utf-8").splitlines()]
    assert [r["beam"] for r in records] == details.beam.translations[: len(records)]
    assert len(details.attention) == min(4, len(details.pairs))


def test_beam_never_below_greedy_log_probability(trained):
    task, run_dir, _, _ = trained
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    greedy, vectorizer = make_translate_function(model, cfg, info, None)
    sources = tf.constant(load_split(cfg.data, "validation").sources)
    ids = vectorizer(sources).to_tensor()
    common = dict(
        start_id=START_ID, end_id=END_ID, max_length=10, banned_ids=banned_ids(cfg.decoding)
    )
    g = model.generate(ids, **common)
    b = model.generate(ids, beam_size=4, length_penalty=0.0, **common)
    assert np.all(b["scores"].numpy() >= g["scores"].numpy() - 1e-5)
    forced = model.sequence_log_probability(ids, b["tokens"], start_id=START_ID)
    np.testing.assert_allclose(forced, b["scores"], atol=1e-4)
    # The exported decoding path (strings in, strings out) is the same greedy search.
    np.testing.assert_allclose(greedy(sources)["score"], g["scores"], atol=1e-5)


def test_export_signatures_match_in_process_decoding(trained):
    task, run_dir, _, exported = trained
    loaded = tf.saved_model.load(str(exported["path"]))
    assert {"serving_default", "translate", "translate_greedy"} <= set(loaded.signatures)
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    greedy, beam = translate_functions(model, cfg, info)
    texts = tf.constant([*SENTENCES, ""])
    for name, fn in [("translate", beam), ("translate_greedy", greedy)]:
        out = loaded.signatures[name](source=texts)
        assert set(out) == {"translation", "score"} and out["translation"].shape == (3,)
        expected = fn(texts)
        assert out["translation"].numpy().tolist() == expected["translation"].numpy().tolist()
        np.testing.assert_allclose(out["score"], expected["score"], atol=1e-5)
    assert exported["inputs"]["source"] == [s.encode() for s in SENTENCES]


def test_attention_signature_is_the_translations_attention(trained):
    task, run_dir, _, exported = trained
    loaded = tf.saved_model.load(str(exported["path"]))
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    texts = [*SENTENCES, ""]
    out = {
        k: v.numpy() for k, v in loaded.signatures["attention"](source=tf.constant(texts)).items()
    }
    translated = loaded.signatures["translate"](source=tf.constant(texts))["translation"].numpy()
    assert out["translation"].tolist() == translated.tolist()
    vocabulary, vectorizer = tf.constant(info.target_vocabulary), source_vectorizer(cfg, info)
    for i, text in enumerate(SENTENCES):
        source = [t.decode() for t in out["source_tokens"][i] if t]
        target = [t.decode() for t in out["target_tokens"][i] if t]
        words = tokenize(tf.constant([text]), cfg.data.lowercase_source)[0].numpy()
        assert source == [w.decode() for w in words]
        # The output tokens are the translation's: detokenised they give it back.
        ids = np.array([info.target_vocabulary.index(t) for t in target], np.int32)
        assert detokenize(ids[None], vocabulary).numpy()[0] == translated[i]
        weights = out["weights"][i]
        np.testing.assert_allclose(weights[: len(target)].sum(axis=1), 1.0, atol=1e-5)
        assert not weights[len(target) :].any() and not weights[:, len(source) :].any()
        # The same weights as the evaluation's heatmap of this output (decoding.py).
        panel = attention_panel(model, cfg, info, vectorizer, text, ids)
        assert panel[0] == source and panel[1] == target
        np.testing.assert_allclose(weights[: len(target), : len(source)], panel[2], atol=1e-5)


def test_saved_model_cli_translates_two_sentences(trained):
    _, _, _, exported = trained
    out = saved_model_cli_run(
        exported["path"], "translate", 'source=["Tengo hambre.", "Buenos días."]'
    )
    assert "Result for output key translation:" in out and "Result for output key score:" in out
    printed = out.split("Result for output key translation:")[1].strip()
    loaded = tf.saved_model.load(str(exported["path"]))
    expected = loaded.signatures["translate"](source=tf.constant(["Tengo hambre.", "Buenos días."]))
    assert printed == str(expected["translation"].numpy())


def test_predict_cli_prints_json_lines(trained):
    _, run_dir, _, _ = trained
    stdin = "Tengo hambre.\n¿Dónde está\u00a0la estación?\n"
    result = run_cli(
        "predict", "translation", "--run-dir", str(run_dir), "--beam-size", "2", stdin=stdin
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["source"] for r in lines] == ["Tengo hambre.", "¿Dónde está\u00a0la estación?"]
    assert all(isinstance(r["translation"], str) and r["log_probability"] <= 0 for r in lines)


def test_language_config_errors(tmp_path):
    task = get_task("translation")
    cfg = load_config(task.config_class, TINY, ["data.source_language=pt"])
    with pytest.raises(DataConfigError, match="the bundled sample is Spanish–English"):
        task.prepare(cfg)
    pair_file = tmp_path / "fra.txt"
    pair_file.write_text("Go.\tVa !\n", encoding="utf-8")
    overrides = [
        "data.source=files",
        f"data.train_path={pair_file}",
        "data.source_language=fr",
        "data.target_language=de",
    ]
    cfg = load_config(task.config_class, TINY, overrides)
    with pytest.raises(DataConfigError, match="exactly one side must be 'en'"):
        load_split(cfg.data, "train")
    missing = run_cli(
        "train", "translation", "--config", str(TINY), "--data", "files",
        "--set", "data.train_path=nowhere/spa.txt.gz", env={"RUNS_DIR": str(tmp_path)},
    )  # fmt: skip
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "nowhere/spa.txt.gz: not found" in missing.stderr.strip().splitlines()[-1]


def test_train_inside_tfds_mock_data(tmp_path):
    task = get_task("translation")
    overrides = ["data.source=tfds", "data.source_language=pt", "train.epochs=1"]
    cfg = load_config(task.config_class, TINY, overrides)
    with tfds.testing.mock_data(num_examples=30):
        run_dir = runner.train(task, cfg, tmp_path / "run")
        metrics = runner.evaluate(task, run_dir, "test")
    assert metrics["examples"] == 20  # max_eval_examples of the 30 mock test pairs
    info = json.loads((run_dir / "info.json").read_text())
    assert info["source_language"] == "pt" and info["validation_examples"] >= 1
