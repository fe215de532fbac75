"""Char LM end to end on the tiny config: truncated BPTT training, metrics, in-graph generation,
SavedModel + saved_model_cli, predict CLI, TFDS, and the hidden-unit inspector."""

import dataclasses
import json
import math
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from cli_helpers import run_cli, saved_model_cli_run, tiny_config, tiny_run_fixture

from data import char_corpus
from data.char_text import CharVocabulary
from models.char_lm import CharLanguageModel
from pipelines.charlm import inspect as charlm_inspect
from pipelines.charlm.callbacks import LaneStateKeeper
from pipelines.charlm.serving import generation_function
from pipelines.registry import get_task
from pipelines.spine import runner
from pipelines.spine.config import ConfigError, load_config

TINY = tiny_config("charlm")


def _tiny(*overrides: str):
    """The task and the tiny config with ``overrides``."""
    task = get_task("charlm")
    return task, load_config(task.config_class, TINY, list(overrides))


# One tiny stateful run; metrics by split.
trained = tiny_run_fixture("charlm", splits=("test", "validation"))


def _generate(run_dir, task):
    _, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    vocabulary = CharVocabulary.from_list(info.vocabulary)
    return model, vocabulary, tf.function(generation_function(model, vocabulary))


def test_metrics_and_validation_protocol(trained):
    _, run_dir, metrics, _ = trained
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["split"] == "test" and saved == metrics["test"]
    assert saved["reports"] == ["sample.txt"] and "reports" not in metrics["validation"]
    assert (run_dir / "sample.txt").read_text().startswith("ROMEO:")
    for m in metrics.values():
        nats = m["nats_per_char"]
        assert 0 < nats < math.log(200)
        assert m["bits_per_char"] == pytest.approx(nats / math.log(2))
        assert m["perplexity"] == pytest.approx(math.exp(nats))
        assert 0 <= m["accuracy"] <= 1
    # max_eval_chars 600, 4 lanes: 149 per lane, 10 windows of 14 → 560 characters scored.
    assert metrics["validation"]["examples"] == 560
    # evaluate() reads validation exactly as fit() did (consecutive windows, state carried),
    # so it reproduces the best epoch's val_loss, which picked the checkpoint.
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["epochs_run"] == 2
    best = min(summary["history"]["val_loss"])
    assert metrics["validation"]["nats_per_char"] == pytest.approx(best, rel=1e-4)
    info = json.loads((run_dir / "info.json").read_text())
    assert info["vocabulary"][0] == "[UNK]" and info["train_characters"] == 1200


def test_generation_is_greedy_consistent_with_the_full_model(trained):
    task, run_dir, _, _ = trained
    model, vocabulary, generate = _generate(run_dir, task)
    prime = "ROMEO:"
    out = generate(
        tf.constant([prime, "Fi"]),
        tf.constant(12),
        tf.constant(0.0),
        tf.constant(0),
        tf.constant(0, tf.int64),
    )
    texts = [t.decode() for t in out["text"].numpy()]
    generated = [g.decode() for g in out["generated"].numpy()]
    assert texts[0].startswith(prime) and texts[1].startswith("Fi")
    assert [len(g) for g in generated] == [12, 12]
    # Greedy decoding: every generated character is the argmax of the full-sequence model
    # (a fresh stateless copy) on the text before it, so the in-graph state carrying is right.
    cfg, info = runner.load_run(task, run_dir)
    windows = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, mode="windows"))
    plain = task.build_model(windows, info)
    plain.set_weights(model.get_weights())  # the carried state is not among the weights
    for text, prompt in zip(texts, [prime, "Fi"], strict=True):
        logits = keras.ops.convert_to_numpy(plain(vocabulary.encode(text)[None]))[0]
        predicted = vocabulary.decode(logits[:, 1:].argmax(-1) + 1)  # unknown never chosen
        assert text[len(prompt) :] == predicted[len(prompt) - 1 : -1]


def test_sampling_seed_top_k_and_empty_prime(trained):
    task, run_dir, _, _ = trained
    _, vocabulary, generate = _generate(run_dir, task)

    def run(prime, temperature, top_k, seed, length=25):
        out = generate(
            tf.constant([prime]),
            tf.constant(length),
            tf.constant(temperature),
            tf.constant(top_k),
            tf.constant(seed, tf.int64),
        )
        return out["generated"].numpy()[0].decode()

    first = run("ROMEO:", 1.0, 0, 5)
    assert run("ROMEO:", 1.0, 0, 5) == first and len(first) == 25
    assert {run("ROMEO:", 1.5, 0, seed) for seed in range(4)} != {first}
    assert run("ROMEO:", 1.0, 1, 9) == run("ROMEO:", 0.0, 0, 0)  # top-1 is greedy
    assert set(run("", 1.0, 0, 3)) <= set(vocabulary.characters)  # never the unknown id
    assert run("x", 1.0, 0, 1, length=0) == ""


def test_saved_model_cli_run_generate(trained):
    _, _, _, exported = trained
    assert exported["outputs"]["text"][0].decode().startswith("ROMEO:")
    out = saved_model_cli_run(
        exported["path"], "generate", 'prime=["ROMEO:", "JULIET:"];length=15;temperature=0.8'
    )
    line = out.split("Result for output key text:")[1].strip().splitlines()[0]
    assert line.startswith("[b'ROMEO:") and "b'JULIET:" in line
    reloaded = tf.saved_model.load(str(exported["path"]))
    assert {"generate", "sample", "serving_default"} <= set(reloaded.signatures)
    sample = reloaded.signatures["sample"]
    args = dict(
        prime=tf.constant(["ROMEO:"]),
        length=tf.constant(20),
        temperature=tf.constant(0.9),
        top_k=tf.constant(0),
        seed=tf.constant(4, tf.int64),
    )
    assert sample(**args)["text"].numpy()[0] == sample(**args)["text"].numpy()[0]
    assert len(sample(**args)["generated"].numpy()[0].decode()) == 20


def test_predict_cli_prime_length_temperature(trained):
    task, run_dir, _, _ = trained
    result = run_cli(
        "predict",
        "charlm",
        "--run-dir",
        str(run_dir),
        *("--prime", "ROMEO:", "--length", "30", "--temperature", "0.8", "--seed", "3"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["prime"] == "ROMEO:" and len(record["generated"]) == 30
    _, _, generate = _generate(run_dir, task)
    same = generate(
        tf.constant(["ROMEO:"]),
        tf.constant(30),
        tf.constant(0.8),
        tf.constant(0),
        tf.constant(3, tf.int64),
    )
    assert same["generated"].numpy()[0].decode() == record["generated"]


def test_inspector_writes_html_png_and_ranking(trained, tmp_path, capsys):
    _, run_dir, _, _ = trained
    text = tmp_path / "play.txt"
    text.write_text('ROMEO:\nShe said "soft" and left.\n\nJULIET:\nO Romeo.\n' * 3)
    code = charlm_inspect.main(
        [
            "--run-dir",
            str(run_dir),
            "--text",
            str(text),
            "--units",
            "1:3,0:0",
            "--state",
            "cell",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    out = tmp_path / "out"
    page = (out / "units.html").read_text()
    assert page.count("<h2>unit ") == 2 and page.count("<span") == 2 * len(text.read_text())
    assert (out / "unit_1_3.png").read_bytes()[:4] == b"\x89PNG"
    ranking = json.loads((out / "ranking.json").read_text())["ranking"]
    assert set(ranking) == {"inside_quotes", "line_position", "speaker_name", "in_word"}
    assert all(len(r["units"]) == 10 for r in ranking.values())  # 2 layers × 8 units ≥ 10
    assert "speaker_name" in capsys.readouterr().out
    bad = charlm_inspect.main(["--run-dir", str(run_dir), "--units", "5:0"])
    assert bad == 1 and "outside the model (2 layers of 8 units)" in capsys.readouterr().err


def test_predicates_and_correlation_by_hand():
    text = 'ROMEO:\nab "cd" e\n'
    assert charlm_inspect.speaker_name(text).tolist() == [1] * 6 + [0] * 11
    assert charlm_inspect.inside_quotes(text).tolist() == [0] * 10 + [1] * 3 + [0] * 4
    assert charlm_inspect.line_position(text).tolist() == [*range(7), *range(10)]
    activations = np.stack([charlm_inspect.line_position(text), np.arange(17.0) % 3], 1)[:, None]
    r = charlm_inspect.correlations(activations, charlm_inspect.in_word(text))
    expected = [
        np.corrcoef(activations[:, 0, i], charlm_inspect.in_word(text))[0, 1] for i in (0, 1)
    ]
    np.testing.assert_allclose(r, expected)
    assert charlm_inspect.correlations(activations, np.zeros(17)) is None


def test_typographic_quotes_and_the_page_names_constant_predicates(tmp_path):
    text = "a \u201cbc\u201d don\u2019t \u2018de\u2019 f"  # a “bc” don’t ‘de’ f
    inside = charlm_inspect.inside_quotes(text)
    assert "".join(c for c, f in zip(text, inside, strict=True) if f) == "\u201cbc\u2018de"
    plain = "no quotes here"
    ranking = charlm_inspect.rank_units(np.random.default_rng(0).random((14, 1, 3)), plain, 2)
    assert ranking["inside_quotes"]["units"] == [] and ranking["in_word"]["units"]
    page = tmp_path / "units.html"
    charlm_inspect.write_html(
        page, plain, np.zeros((14, 1, 3)), [charlm_inspect.Unit(0, 1)], {}, ("inside_quotes",)
    )
    assert "Not shown: inside_quotes" in page.read_text()


def test_unit_activations_are_the_stack_outputs():
    keras.utils.set_random_seed(0)
    model = CharLanguageModel(10, 4, rnn={"cell": "ln_lstm", "units": 5, "num_layers": 2})
    ids = np.arange(1, 10, dtype=np.int32)
    hidden = charlm_inspect.unit_activations(model, ids, "hidden")
    assert hidden.shape == (9, 2, 5)
    top = keras.ops.convert_to_numpy(model.encoder(model.char_embedding(ids[None])))[0]
    np.testing.assert_allclose(hidden[:, 1], top, atol=1e-5)
    cell = charlm_inspect.unit_activations(model, ids, "cell")
    assert np.all(np.abs(cell) <= 1) and not np.allclose(cell, hidden)
    gru = CharLanguageModel(10, 4, rnn={"cell": "gru", "units": 5})
    with pytest.raises(ValueError, match="no cell state"):
        charlm_inspect.unit_activations(gru, ids, "cell")


def test_lane_state_keeper_resets_per_epoch_pass_and_validation_only():
    model = CharLanguageModel(8, 3, rnn={"units": 4}, stateful=True, batch_size=2)
    keeper = LaneStateKeeper(batches_per_pass=2)
    keeper.set_model(model)
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype="int32")
    states = lambda: [v.numpy().copy() for v in model.encoder.carried_states]  # noqa: E731
    keeper.on_epoch_begin(0)
    keeper.on_train_batch_begin(0)
    model(x)  # a training step moves the lanes' state
    keeper.on_train_batch_end(0)
    after_step = states()
    assert all(np.any(s) for s in after_step)
    keeper.on_train_batch_begin(1)  # the same pass goes on: the state is left alone
    for kept, now in zip(after_step, states(), strict=True):
        np.testing.assert_array_equal(kept, now)
    model(x)
    keeper.on_train_batch_end(1)
    keeper.on_train_batch_begin(2)  # a new pass over the lanes starts from zero
    assert all(not np.any(s) for s in states()) and keeper.resets == 2
    model(x)
    keeper.on_test_begin()  # validation lanes start from zero too
    assert all(not np.any(s) for s in states()) and keeper.resets == 3


# On JAX, fit keeps the variables' values in its own state during an epoch; a lane reset
# must reach the next step all the same. With a zero learning rate the weights stay put, and
# both batches of a pass are the same, so the second step differs from the first only through
# the carried state, and the first step of the second pass equals the first of the first
# only if the reset took effect.
JAX_RESET_CHECK = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, sys.argv[1])
import keras, numpy as np
from models.char_lm import CharLanguageModel
from pipelines.charlm.callbacks import LaneStateKeeper

model = CharLanguageModel(8, 3, rnn={"units": 4}, stateful=True, batch_size=2)
model.compile(
    optimizer=keras.optimizers.SGD(learning_rate=0.0),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
x = np.array([[[1, 2, 3], [4, 5, 6]]] * 2, dtype="int32")  # one pass: one batch, twice
model(x[0])
ids = [id(v) for v in model.non_trainable_variables]
carried = [ids.index(id(v)) for v in model.encoder.carried_states]
seen = []


class Recorder(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        values = self.model._jax_state["non_trainable_variables"]
        seen.append(np.concatenate([np.asarray(values[i]).ravel() for i in carried]))


model.fit(
    np.concatenate([x, x]).reshape(-1, 3), np.concatenate([x, x]).reshape(-1, 3),
    batch_size=2, epochs=1, shuffle=False, verbose=0,
    callbacks=[LaneStateKeeper(batches_per_pass=2), Recorder()],
)
assert len(seen) == 4 and not np.allclose(seen[1], seen[0])  # the state is carried
np.testing.assert_allclose(seen[2], seen[0], atol=1e-6)  # a new pass started from zero
np.testing.assert_allclose(seen[3], seen[1], atol=1e-6)
print("ok")
"""


def test_lane_resets_reach_the_next_step_on_jax():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", JAX_RESET_CHECK, str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_windows_mode_trains_and_reads_windows_from_zero(tmp_path):
    task, cfg = _tiny(
        "data.mode=windows", "train.epochs=1", "model.rnn.cell=gru", "sampling.every_epochs=0"
    )
    run_dir = runner.train(task, cfg, tmp_path / "run")
    metrics = runner.evaluate(task, run_dir, "validation")
    assert metrics["examples"] == (600 - 1) // 16 * 16 and "zero state" in metrics["protocol"]
    assert not runner.load_best_model(run_dir).stateful


def test_tfds_mock_data_source(tmp_path):
    task, cfg = _tiny(
        "data.source=tfds", "train.epochs=1", "sampling.every_epochs=0", "data.window=8"
    )
    with tfds.testing.mock_data(num_examples=40):
        run_dir = runner.train(task, cfg, tmp_path / "run")
        metrics = runner.evaluate(task, run_dir, "test")
    info = json.loads((run_dir / "info.json").read_text())
    assert info["train_characters"] > 100 and metrics["examples"] > 0


def test_config_errors_name_the_key():
    # Checked when the config loads, before anything is built.
    with pytest.raises(ConfigError, match=r"model\.rnn\.bidirectional: a language model"):
        _tiny("model.rnn.bidirectional=true")
    with pytest.raises(ConfigError, match=r"train\.strategy: mirrored splits each batch"):
        _tiny("train.strategy=mirrored")


@pytest.mark.parametrize("mode", ["stateful", "windows"])
def test_prepared_train_batches_is_one_pass(mode, monkeypatch):
    """``Prepared.train_batches`` (the runner's epoch length, the LR schedule's and the lane
    resets' period) equals the batches of one pass over ``train``, the declared cardinality;
    the text is read once for train and validation."""
    task, cfg = _tiny(f"data.mode={mode}")
    reader = mock.Mock(wraps=char_corpus.read_text)
    monkeypatch.setattr(char_corpus, "read_text", reader)
    prepared = task.prepare(cfg)
    assert reader.call_count == 1
    for _ in range(2):  # stateful passes move their offset; windows passes redraw
        assert sum(1 for _ in prepared.train) == prepared.train_batches
    assert int(prepared.train.cardinality()) == prepared.train_batches
    assert prepared.train_examples == prepared.train_batches * cfg.train.batch_size
