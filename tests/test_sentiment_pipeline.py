"""Sentiment end to end on the tiny config: train → evaluate → export → serve, CLI, TFDS."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from cli_helpers import run_cli, saved_model_cli_run, tiny_config, tiny_run_fixture

from pipelines.registry import TASKS, get_task
from pipelines.sentiment.serving import serving_function
from pipelines.spine import runner
from pipelines.spine.config import load_config

TINY = tiny_config("sentiment")


trained = tiny_run_fixture("sentiment")


def test_run_directory_contents(trained):
    _, run_dir, _, _ = trained
    for name in [
        "config.yaml",
        "info.json",
        "checkpoints/best.keras",
        "history.csv",
        "grad_norms.csv",
        "train_summary.json",
        "metrics.json",
        "saved_model",
    ]:
        assert (run_dir / name).exists(), name
    assert list((run_dir / "logs").rglob("events.out.tfevents*"))
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 3  # header + 2 epochs
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["examples_per_second"] > 0
    info = json.loads((run_dir / "info.json").read_text())
    assert info["vocabulary"][:2] == ["", "[UNK]"] and info["train_examples"] == 256


def test_metrics_json(trained):
    _, run_dir, metrics, _ = trained
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["split"] == "test" and saved["examples"] == 400
    for key in ["accuracy", "precision", "recall", "f1", "auc", "log_loss"]:
        assert 0.0 <= saved[key] <= (1.0 if key != "log_loss" else 10.0)
    assert saved["accuracy"] == metrics["accuracy"]


@pytest.mark.parametrize("bucket_by_length", ["true", "false"])
def test_train_batches_is_one_real_pass(bucket_by_length):
    task = get_task("sentiment")
    cfg = load_config(task.config_class, TINY, [f"data.bucket_by_length={bucket_by_length}"])
    prepared = task.prepare(cfg)
    assert prepared.train_batches == sum(1 for _ in prepared.train)
    assert prepared.train_examples == sum(len(y) for _, y in prepared.train) == 256


def test_evaluate_reports_each_head_of_the_bag_ensemble(tmp_path, trained):
    assert "bag_head_accuracy" not in trained[2]  # the tiny config has no bag
    task = get_task("sentiment")
    overrides = ["model.bigram_buckets=64", "model.bigram_lr_multiplier=3", "train.epochs=1"]
    cfg = load_config(task.config_class, TINY, overrides)
    run_dir = runner.train(task, cfg, tmp_path / "run")
    metrics = runner.evaluate(task, run_dir, "validation")
    assert metrics["split"] == "validation"
    for key in ["accuracy", "rnn_head_accuracy", "bag_head_accuracy"]:
        assert 0.0 <= metrics[key] <= 1.0
    loaded = runner.load_best_model(run_dir)
    assert loaded.get_layer("bigram_bag").lr_multiplier == 3.0


def test_export_round_trip_matches_keras_model(trained):
    task, run_dir, _, exported = trained
    served = tf.saved_model.load(str(exported["path"])).signatures["serving_default"]
    texts = ["a great movie", "", "the worst service ever , avoid !"]
    out = served(text=tf.constant(texts))
    assert set(out) == {"probability", "label"}
    probability = out["probability"].numpy()
    assert probability.shape == (3,) and np.all((probability >= 0) & (probability <= 1))
    labels = [x.decode() for x in out["label"].numpy()]
    assert labels == ["positive" if p >= 0.5 else "negative" for p in probability]

    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    serve, _ = serving_function(model, cfg, info)
    np.testing.assert_allclose(serve(tf.constant(texts))["probability"], probability, atol=1e-6)


def test_saved_model_cli_run(trained):
    _, _, _, exported = trained
    out = saved_model_cli_run(exported["path"], "serving_default", 'text=["a great movie", ""]')
    assert "Result for output key label:" in out and "Result for output key probability:" in out
    label_line = out.split("Result for output key label:")[1].strip().splitlines()[0]
    assert label_line.count("b'positive'") + label_line.count("b'negative'") == 2
    expected = np.array(exported["outputs"]["probability"])
    prob_text = out.split("Result for output key probability:")[1].strip().splitlines()[0]
    printed = np.array([float(v) for v in prob_text.strip("[]").split()])
    np.testing.assert_allclose(printed, expected, atol=1e-5)


def test_predict_cli_prints_json_lines(trained):
    _, run_dir, _, _ = trained
    result = run_cli(
        "predict", "sentiment", "--run-dir", str(run_dir), stdin="a great movie\nawful\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["text"] for r in lines] == ["a great movie", "awful"]
    assert all(r["label"] in ("positive", "negative") and 0 <= r["probability"] <= 1 for r in lines)


def test_cli_errors_are_one_line():
    unknown = run_cli("train", "poetry")
    assert unknown.returncode == 2
    assert f"(known tasks: {', '.join(sorted(TASKS))})" in unknown.stderr
    bad = run_cli("train", "sentiment", "--config", str(TINY), "--set", "train.epochs=zero")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        f"error: {TINY}: train.epochs: expected an integer, got 'zero'"
    )
    assert "Traceback" not in bad.stderr
    missing = run_cli("evaluate", "sentiment", env={"RUNS_DIR": "/nonexistent/runs"})
    assert missing.returncode == 1 and "no trained runs of 'sentiment'" in missing.stderr


def test_offline_tfds_cli_fails_fast(tmp_path):
    result = run_cli(
        "train",
        "sentiment",
        "--config",
        str(TINY),
        "--data",
        "tfds",
        "--set",
        f"data.tfds_data_dir={tmp_path}",
        env={"RUNS_DIR": str(tmp_path / "runs")},
    )
    assert result.returncode == 1
    assert "is not prepared in" in result.stderr and "--data sample" in result.stderr


def test_train_inside_tfds_mock_data(tmp_path):
    task = get_task("sentiment")
    cfg = load_config(task.config_class, TINY, ["data.source=tfds", "train.epochs=1"])
    with tfds.testing.mock_data(num_examples=40):
        run_dir = runner.train(task, cfg, tmp_path / "run")
        metrics = runner.evaluate(task, run_dir, "test")
    assert metrics["examples"] == 40


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    result = run_cli(
        "train",
        "sentiment",
        "--config",
        str(TINY),
        "--set",
        "train.strategy=mirrored",
        "--set",
        "train.epochs=1",
        env={"RUNS_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stderr
    assert list(tmp_path.glob("sentiment/*/checkpoints/best.keras"))


def test_mixed_precision_trains(tmp_path):
    task = get_task("sentiment")
    cfg = load_config(
        task.config_class,
        TINY,
        ["train.mixed_precision=true", "train.epochs=1", "model.rnn.cell=ln_gru"],
    )
    try:
        run_dir = runner.train(task, cfg, tmp_path / "run")
        model = runner.load_best_model(run_dir)
        # true = auto: bfloat16 on a CPU, float16 on a GPU (tests/test_mixed_precision.py)
        expected = "float16" if tf.config.list_physical_devices("GPU") else "bfloat16"
        assert model.get_layer("encoder").compute_dtype == expected
        assert model.output.dtype == "float32"
    finally:
        import keras

        keras.mixed_precision.set_global_policy("float32")


def test_resume_after_interruption(tmp_path, monkeypatch):
    import keras

    task = get_task("sentiment")
    cfg = load_config(task.config_class, TINY, ["train.epochs=3"])
    run_dir = tmp_path / "run"

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(task, "callbacks", lambda *args: [Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        runner.train(task, cfg, run_dir)
    assert (run_dir / "backup").exists()

    monkeypatch.setattr(task, "callbacks", lambda *args: [])
    runner.train(task, cfg, run_dir)
    epochs = [line.split(",")[0] for line in (run_dir / "history.csv").read_text().splitlines()]
    assert epochs[0] == "epoch" and [e for e in epochs if e != "epoch"] == ["0", "1", "2"]
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["epochs_run"] == 3 and summary["resumed_at_epoch"] == 1  # 0 not rerun
    assert sorted(p.name for p in (run_dir / "backup").iterdir()) == ["epoch-0003"]
