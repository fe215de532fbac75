"""``train.backend: jax``: every task trains on the Keras JAX backend through the CLI, resumes
exactly, and its ``.keras`` checkpoint exports on TensorFlow to signatures that answer as the
JAX model does; the recurrent stack computes the same outputs and gradients on both backends.

One process can hold one Keras backend only, so each backend runs in its own subprocess: one
trains every task on JAX (calling the CLI's ``main``, the ``python -m pipelines`` entry), one
exports them all on TensorFlow.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from pipelines.spine.callbacks.run_checkpoint import STATE_FILE, VARIABLES_FILE, ResumePoint, _read
from pipelines.spine.config import ConfigError, load_config
from tests.cli_helpers import ROOT, tiny_config

TASKS = ("sentiment", "ner", "pos", "translation", "forecasting", "charlm")
# One step and one validation batch: on JAX every new batch shape is compiled, which costs
# far more than the step.
SHORT = (
    "train.epochs=1",
    "train.steps_per_epoch=1",
    "train.validation_steps=1",
    "train.early_stopping_patience=0",
    "train.grad_norm_every=0",
)
TEXTS = ["a great movie", "dull and far too long", ""]

# Trains every task on JAX (sentiment for two epochs), then sentiment again with the same
# settings for one epoch, resumed to two. Prints the backend and the JAX model's
# probabilities for TEXTS.
TRAIN_ON_JAX = r"""
import json, sys
from pathlib import Path
import yaml
from pipelines.spine import cli

base, texts = Path(sys.argv[1]), json.loads(sys.argv[2])
runs = json.loads(sys.argv[3])
for task, sets in runs.items():
    args = ["train", task, "--config", f"configs/{task}_tiny.yaml", "--run-dir", str(base / task)]
    for item in ["train.backend=jax", *sets]:
        args += ["--set", item]
    assert cli.main(args) == 0, task

# Resume on JAX: the sentiment run's settings for one epoch, then continued to two.
args = ["train", "sentiment", "--config", "configs/sentiment_tiny.yaml"]
args += ["--run-dir", str(base / "resumed")]
for item in ["train.backend=jax", *runs["sentiment"], "train.epochs=1"]:
    args += ["--set", item]
assert cli.main(args) == 0, "resumed"
config = base / "resumed" / "config.yaml"
saved = yaml.safe_load(config.read_text())
saved["train"]["epochs"] = 2
config.write_text(yaml.safe_dump(saved))
assert cli.main(["train", "sentiment", "--run-dir", str(base / "resumed")]) == 0

import keras, tensorflow as tf
from pipelines.registry import get_task
from pipelines.sentiment.serving import trained_vectorizer
from pipelines.spine import runner
from data.text_vectorizer import pad_batch, texts_to_ids

task = get_task("sentiment")
cfg, info = runner.load_run(task, base / "sentiment")
model = runner.load_best_model(base / "sentiment")
vectorizer = trained_vectorizer(cfg, info)
ids = pad_batch(texts_to_ids(tf.constant(texts), vectorizer, cfg.data.max_length, cfg.data.keep))
probability = keras.ops.convert_to_numpy(model.predict_on_batch(ids.numpy()))[:, 0]
print(json.dumps({"backend": keras.backend.backend(), "probability": probability.tolist()}))
"""

# Exports every run on TensorFlow (the CLI picks it whatever the run trained on) and calls
# each SavedModel's serving_default; prints the backend and sentiment's probabilities.
EXPORT_ON_TF = r"""
import json, sys
from pathlib import Path
from pipelines.spine import cli

base, texts, tasks = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
for task in tasks:
    assert cli.main(["export", task, "--run-dir", str(base / task)]) == 0, task

import keras, tensorflow as tf
loaded = tf.saved_model.load(str(base / "sentiment" / "saved_model"))
out = loaded.signatures["serving_default"](text=tf.constant(texts))
ner = tf.saved_model.load(str(base / "ner" / "saved_model"))
tags = ner.signatures["serving_default"](sentences=tf.constant(["EU rejects German call ."]))
print(json.dumps({
    "backend": keras.backend.backend(),
    "probability": out["probability"].numpy().tolist(),
    "ner_tags": tags["tags"].numpy()[0].decode().split(),
}))
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    """Runs ``code`` in a fresh interpreter from the repository root; returns the JSON of its
    last stdout line (fails with its stderr)."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):
    """Every task's tiny config trained on JAX (two short epochs' worth of steps), exported on
    TensorFlow: (runs directory, the JAX process's report, the TensorFlow process's)."""
    base = tmp_path_factory.mktemp("jax")
    runs = {task: list(SHORT) for task in TASKS}
    runs["translation"].append("decoding.validation_bleu_examples=4")  # decoding on JAX
    runs["translation"].append("train.ema_momentum=0.9")
    runs["charlm"].append("train.mixed_precision=bfloat16")
    runs["pos"] += ["model.rnn.cell=ln_lstm", "data.max_validation_examples=16"]  # LN fast step
    runs["ner"] += ["model.rnn.cell=ln_gru", "data.max_validation_examples=16"]
    runs["sentiment"] += ["train.grad_norm_every=1", "train.epochs=2"]  # norms; resumed below
    trained = _python(TRAIN_ON_JAX, str(base), json.dumps(TEXTS), json.dumps(runs))
    exported = _python(EXPORT_ON_TF, str(base), json.dumps(TEXTS), json.dumps(list(TASKS)))
    return base, trained, exported


def test_every_task_trains_on_jax_and_exports_on_tensorflow(jax_runs):
    base, trained, exported = jax_runs
    assert trained["backend"] == "jax"
    assert exported["backend"] == "tensorflow"
    for task in TASKS:
        run = base / task
        assert yaml.safe_load((run / "config.yaml").read_text())["train"]["backend"] == "jax"
        summary = json.loads((run / "train_summary.json").read_text())
        assert summary["epochs_run"] == (2 if task == "sentiment" else 1)
        assert np.isfinite(summary["history"]["loss"]).all()
        assert (run / "saved_model" / "saved_model.pb").is_file()
    assert (
        "val_bleu"
        in json.loads((base / "translation" / "train_summary.json").read_text())["history"]
    )
    assert len(exported["ner_tags"]) == 5  # one tag per token
    # Gradient norms recorded on JAX: the global norm is the root of the layers' squares.
    lines = (base / "sentiment" / "grad_norms.csv").read_text().splitlines()
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert rows[:, 0].tolist() == [1, 2] and (rows[:, 1] > 0).all()
    np.testing.assert_allclose(rows[:, 1], np.sqrt((rows[:, 2:] ** 2).sum(axis=1)), rtol=1e-4)


def test_exported_signature_answers_as_the_jax_model(jax_runs):
    _, trained, exported = jax_runs
    # The JAX model on the tf.data vectorizer's ids vs the TensorFlow SavedModel on strings.
    np.testing.assert_allclose(exported["probability"], trained["probability"], atol=1e-5)


def test_resume_on_jax_is_exact(jax_runs):
    base = jax_runs[0]
    whole, resumed = (ResumePoint.latest(base / name) for name in ("sentiment", "resumed"))
    assert whole.epoch == resumed.epoch == 2 and whole.steps == resumed.steps == 2
    state = json.loads((resumed.path / STATE_FILE).read_text())
    assert state["layout"] == whole.layout
    for a, b in zip(
        _read(whole.path / VARIABLES_FILE, whole.layout),
        _read(resumed.path / VARIABLES_FILE, resumed.layout),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, atol=1e-6)


# The recurrent stack (two bidirectional layers of each LN cell, masked steps) on this process's
# backend: its outputs and the gradients of sum(outputs * weight) for every trainable weight
# and the input. Weights come from the .npz when it has them (the other backend's), else from
# the seed; they are saved with the results, each key prefixed with the cell.
STACK_PROBE = r"""
import json, sys
import numpy as np
import keras
from models.rnn_stack import RNNStack

data = dict(np.load(sys.argv[1]))
x, mask, weight = data["x"], data["mask"], data["weight"]
results, counts = {}, []
for cell in ("ln_lstm", "ln_gru"):
    keras.utils.set_random_seed(0)
    layer = RNNStack(cell, units=4, num_layers=2, bidirectional=True)
    layer(x, mask=mask)
    if f"{cell}/w0" in data:
        layer.set_weights([data[f"{cell}/w{i}"] for i in range(len(layer.weights))])
    if keras.backend.backend() == "jax":
        import jax

        def loss(trainable, inputs):
            fixed = [v.value for v in layer.non_trainable_variables]
            out, _ = layer.stateless_call(trainable, fixed, inputs, mask=mask)
            return (out * weight).sum(), out

        (_, out), (weight_grads, x_grad) = jax.value_and_grad(loss, (0, 1), has_aux=True)(
            [v.value for v in layer.trainable_variables], x
        )
        grads = [*weight_grads, x_grad]
    else:
        import tensorflow as tf

        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = layer(inputs, mask=mask)
            total = tf.reduce_sum(out * weight)
        grads = tape.gradient(total, [*layer.trainable_variables, inputs])
    results[f"{cell}/out"] = np.asarray(out)
    results.update({f"{cell}/g{i}": np.asarray(g) for i, g in enumerate(grads)})
    results.update({f"{cell}/w{i}": w for i, w in enumerate(layer.get_weights())})
    counts.append(len(grads))
np.savez(sys.argv[2], **results)
print(json.dumps({"backend": keras.backend.backend(), "gradients": counts}))
"""


def test_stack_forward_and_gradient_match_across_backends(tmp_path):
    rng = np.random.default_rng(3)
    mask = np.ones((3, 6), bool)
    mask[1, 4:] = mask[2, 2:] = False  # padded steps at the end, as batches have them
    inputs = {
        "x": rng.normal(size=(3, 6, 5)).astype("float32"),
        "mask": mask,
        "weight": rng.normal(size=(3, 6, 8)).astype("float32"),
    }
    np.savez(tmp_path / "inputs.npz", **inputs)
    on_tf = _python(
        STACK_PROBE,
        str(tmp_path / "inputs.npz"),
        str(tmp_path / "tf.npz"),
        env={"KERAS_BACKEND": "tensorflow"},
    )
    with np.load(tmp_path / "tf.npz") as saved:
        reference = dict(saved)
    weights = {k: v for k, v in reference.items() if "/w" in k}
    np.savez(tmp_path / "with_weights.npz", **inputs, **weights)
    on_jax = _python(
        STACK_PROBE,
        str(tmp_path / "with_weights.npz"),
        str(tmp_path / "jax.npz"),
        env={"KERAS_BACKEND": "jax"},
    )
    assert (on_tf["backend"], on_jax["backend"]) == ("tensorflow", "jax")
    assert on_tf["gradients"] == on_jax["gradients"] and min(on_tf["gradients"]) > 10
    with np.load(tmp_path / "jax.npz") as on_jax_results:
        assert sorted(on_jax_results.files) == sorted(reference)
        for key, value in reference.items():
            np.testing.assert_allclose(
                on_jax_results[key], value, rtol=1e-4, atol=1e-5, err_msg=key
            )


def test_select_backend_refuses_a_second_backend_in_one_process():
    import keras

    from pipelines.spine.backend import BackendError, select_backend

    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    with pytest.raises(BackendError, match="already loaded on") as err:
        select_backend(other)
    assert "\n" not in str(err.value)
    select_backend(keras.backend.backend())  # the one it runs is fine


def test_mirrored_strategy_needs_the_tensorflow_backend(tmp_path):
    from pipelines.sentiment.config import SentimentConfig

    with pytest.raises(ConfigError, match=r"train\.strategy: mirrored .* train\.backend"):
        load_config(
            SentimentConfig,
            tiny_config("sentiment"),
            ["train.backend=jax", "train.strategy=mirrored"],
        )


def test_config_names_the_allowed_backends():
    from pipelines.sentiment.config import SentimentConfig

    with pytest.raises(ConfigError, match=r"train\.backend.*jax"):
        load_config(SentimentConfig, tiny_config("sentiment"), ["train.backend=torch"])
