"""The shared stack: every cell type, masking in both directions, residual, round trip."""

import keras
import numpy as np
import pytest

from models.char_lm import CharLanguageModel
from models.config_model import ConfigModel
from models.conv_rnn_forecaster import ConvRNNForecaster
from models.layer_norm_gru_cell import LayerNormGRUCell
from models.layer_norm_lstm_cell import LayerNormLSTMCell
from models.layer_norm_rnn import LayerNormRNN
from models.recurrent import CELL_CLASSES, recurrent_layer
from models.rnn_classifier import RNNClassifier
from models.rnn_stack import RNNStack
from models.seq2seq_translator import Seq2SeqTranslator
from models.sequence_tagger import SequenceTagger

CELLS = list(CELL_CLASSES)


def _embedded(tokens, dim=6, seed=0):
    """A masking embedding model so masks reach the stack exactly as in the pipelines."""
    keras.utils.set_random_seed(seed)
    return keras.layers.Embedding(20, dim, mask_zero=True)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_outputs(cell, bidirectional):
    embedding = _embedded(None)
    stack = RNNStack(
        cell=cell, units=5, num_layers=2, bidirectional=bidirectional, return_sequences=True
    )
    padded = np.array([[3, 4, 5, 0, 0, 0], [7, 8, 9, 10, 11, 12]])
    out_padded = keras.ops.convert_to_numpy(stack(embedding(padded)))
    for row, length in ((0, 3), (1, 6)):
        alone = padded[row : row + 1, :length]
        out_alone = keras.ops.convert_to_numpy(stack(embedding(alone)))
        np.testing.assert_allclose(out_padded[row, :length], out_alone[0], atol=1e-5)
    # Padded steps do not leak into the final output either.
    last = RNNStack(cell=cell, units=5, bidirectional=bidirectional, return_sequences=False)
    final_padded = keras.ops.convert_to_numpy(last(embedding(padded[:1])))
    final_alone = keras.ops.convert_to_numpy(last(embedding(padded[:1, :3])))
    np.testing.assert_allclose(final_padded, final_alone, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_builds_every_cell_type_with_shapes(cell):
    x = np.random.default_rng(0).normal(size=(2, 7, 3)).astype("float32")
    stack = RNNStack(
        cell=cell, units=4, num_layers=3, bidirectional=True, dropout=0.2, residual=True
    )
    assert stack(x, training=True).shape == (2, 7, 8)
    seq_false = RNNStack(cell=cell, units=4, return_sequences=False)
    assert seq_false(x).shape == (2, 4)


def test_merge_modes_and_states():
    x = np.ones((2, 5, 3), "float32")
    assert RNNStack(units=4, bidirectional=True, merge_mode="sum")(x).shape == (2, 5, 4)
    out, *states = RNNStack(
        cell="lstm", units=4, num_layers=2, bidirectional=True, return_state=True
    )(x)
    assert out.shape == (2, 5, 8)
    assert len(states) == 2 * 2 * 2  # layers × directions × (h, c)
    out, *states = RNNStack(cell="ln_gru", units=4, return_state=True, return_sequences=False)(x)
    assert out.shape == (2, 4) and len(states) == 1
    np.testing.assert_allclose(out, states[0])


def test_residual_adds_layer_input():
    x = np.random.default_rng(1).normal(size=(1, 4, 6)).astype("float32")
    keras.utils.set_random_seed(3)
    plain = RNNStack(cell="gru", units=6, num_layers=2, residual=False)
    keras.utils.set_random_seed(3)
    residual = RNNStack(cell="gru", units=6, num_layers=2, residual=True)
    plain(x), residual(x)
    residual.set_weights(plain.get_weights())
    first = keras.ops.convert_to_numpy(plain.rnn_layers[0](x))
    np.testing.assert_allclose(residual(x), plain(x) + first, atol=1e-5)


def test_recurrent_dropout_only_for_builtin_cells():
    RNNStack(cell="lstm", recurrent_dropout=0.1)
    with pytest.raises(ValueError, match="recurrent_dropout is supported by the built-in cells"):
        RNNStack(cell="ln_lstm", recurrent_dropout=0.1)


def test_unknown_cell_lists_known():
    with pytest.raises(ValueError, match=r"unknown cell 'xlstm' \(known: rnn, lstm, gru"):
        RNNStack(cell="xlstm")


def test_cell_class_is_a_parameter():
    stack = RNNStack(cell=keras.layers.GRUCell, units=3)
    assert stack.get_config()["cell"] == "gru"


@pytest.mark.parametrize("cell", CELLS)
def test_keras_round_trip_identical_outputs(cell, tmp_path):
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(30, 6, mask_zero=True)(inputs)
    x = RNNStack(
        cell=cell, units=4, num_layers=2, bidirectional=True, residual=True, return_sequences=False
    )(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    tokens = np.array([[1, 2, 3, 0], [4, 5, 6, 7]])
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        restored.predict(tokens, verbose=0), model.predict(tokens, verbose=0)
    )
    assert restored.layers[2].get_config() == model.layers[2].get_config()


def test_repeated_loads_keep_every_bidirectional_layer_distinct(tmp_path):
    # Keras records configs by id() while loading; freed Bidirectional templates used to pass
    # their ids on, and about 1 load in 20 of 3-layer stacks failed ("different go_backwards")
    # or shared a layer. These 18 loads hit that on the old code about one run in four.
    path = tmp_path / "m.keras"
    for cell in ["ln_gru", "ln_lstm", "lstm"] * 6:
        inputs = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(30, 6, mask_zero=True)(inputs)
        x = RNNStack(cell=cell, units=4, num_layers=3, bidirectional=True)(x)
        keras.Model(inputs, x).save(path)
        stack = keras.saving.load_model(path).layers[2]
        directions = [(b.forward_layer, b.backward_layer) for b in stack.rnn_layers]
        layers = [layer for pair in directions for layer in pair]
        assert len({id(layer) for layer in layers}) == 6
        assert all(not f.go_backwards and b.go_backwards for f, b in directions)


@pytest.mark.parametrize(
    "model_class",
    [CharLanguageModel, ConvRNNForecaster, RNNClassifier, Seq2SeqTranslator, SequenceTagger],
)
def test_every_stack_model_loads_old_flat_configs_through_one_from_config(model_class):
    # Each model's own test loads an old flat config; this keeps them on the one shared path.
    assert issubclass(model_class, ConfigModel)
    assert model_class.from_config.__func__ is ConfigModel.from_config.__func__


def test_layer_norm_cells_run_in_their_own_loop_layer_and_keras_cells_stay_keras():
    assert type(RNNStack(cell="ln_lstm").rnn_layers[0]) is LayerNormRNN
    assert type(RNNStack(cell="ln_gru", bidirectional=True).rnn_layers[0].forward_layer) is (
        LayerNormRNN
    )
    assert type(RNNStack(cell="lstm").rnn_layers[0]) is keras.layers.LSTM
    assert type(RNNStack(cell="gru").rnn_layers[0]) is keras.layers.GRU


def _old_recurrent_layer(cell_class, units, **kwargs):
    """How the stack built a layer-normalised layer before LayerNormRNN: keras.layers.RNN."""
    if cell_class in (LayerNormLSTMCell, LayerNormGRUCell):
        kwargs.pop("recurrent_dropout", None)
        return keras.layers.RNN(cell_class(units), **kwargs)
    return recurrent_layer(cell_class, units, **kwargs)


@pytest.mark.parametrize("cell", ["ln_lstm", "ln_gru"])
def test_checkpoints_saved_before_layer_norm_rnn_still_load(cell, tmp_path, monkeypatch):
    # A .keras file written when the stack used keras.layers.RNN(cell) loads into today's
    # LayerNormRNN: same weight names and paths, same outputs (no conversion needed).
    tokens = np.array([[1, 2, 3, 0], [4, 5, 6, 7]])
    with monkeypatch.context() as patch:
        patch.setattr("models.rnn_stack.recurrent_layer", _old_recurrent_layer)
        keras.utils.set_random_seed(4)
        inputs = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(30, 6, mask_zero=True)(inputs)
        x = RNNStack(cell=cell, units=4, num_layers=2, bidirectional=True)(x)
        old = keras.Model(inputs, x)
        assert type(old.layers[2].rnn_layers[0].forward_layer) is keras.layers.RNN
        old.save(tmp_path / "old.keras")
        expected = old.predict(tokens, verbose=0)
    restored = keras.saving.load_model(tmp_path / "old.keras")
    assert type(restored.layers[2].rnn_layers[0].forward_layer) is LayerNormRNN
    np.testing.assert_allclose(restored.predict(tokens, verbose=0), expected, atol=1e-5)
    assert [(w.name, w.shape) for w in restored.weights] == [(w.name, w.shape) for w in old.weights]
    for new, before in zip(restored.weights, old.weights, strict=True):
        np.testing.assert_array_equal(new.numpy(), before.numpy())


# The stateful stack's own carried state, checked on the backend given in argv[1]: two
# windows read one after the other equal the second half of the whole sequence read at once
# (same weights), through a direct call and through predict_on_batch (the backend's compiled,
# stateless step: on JAX, Keras' own stateful layers lost their state there).
STATEFUL_CHECK = r"""
import os, sys
os.environ["KERAS_BACKEND"] = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import keras, numpy as np
from models.rnn_stack import RNNStack

x = np.random.default_rng(0).normal(size=(3, 8, 4)).astype("float32")
for cell, bidirectional in (("lstm", False), ("ln_gru", False), ("ln_lstm", True)):
    settings = dict(cell=cell, units=5, num_layers=2, bidirectional=bidirectional, residual=True)
    whole = RNNStack(**settings)
    whole_out = keras.ops.convert_to_numpy(whole(x))
    stateful = RNNStack(**settings, stateful=True)
    stateful.build((3, None, 4))
    for mine, theirs in zip(stateful.trainable_weights, whole.trainable_weights, strict=True):
        mine.assign(theirs)
    assert len(stateful.carried_states) == 2 * (2 if bidirectional else 1) * (
        2 if "lstm" in cell else 1
    )
    if bidirectional:  # the backward direction reads windows in reverse: no whole-sequence twin
        continue
    stateful(x[:, :4])
    second = keras.ops.convert_to_numpy(stateful(x[:, 4:]))
    np.testing.assert_allclose(second, whole_out[:, 4:], atol=1e-5)
    stateful.reset_states()
    assert not any(np.any(keras.ops.convert_to_numpy(v)) for v in stateful.carried_states)
    model = keras.Sequential([keras.Input((4, 4), batch_size=3), stateful])
    model.predict_on_batch(x[:, :4])
    second = model.predict_on_batch(x[:, 4:])
    np.testing.assert_allclose(second, whole_out[:, 4:], atol=1e-5)
print("ok")
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_stateful_stack_carries_its_state_on_every_backend(backend):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", STATEFUL_CHECK, backend, str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_stateful_checkpoints_load_without_the_carried_state(tmp_path):
    model = CharLanguageModel(8, 3, rnn={"units": 4}, stateful=True, batch_size=2)
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype="int32")
    first = keras.ops.convert_to_numpy(model(x))
    model(x)  # moves the carried state, which the file does not keep
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), first, atol=1e-6)


@pytest.mark.parametrize(
    "settings",
    [
        {"cell": "lstm", "bidirectional": True, "dropout": 0.0},
        {"cell": "ln_lstm", "num_layers": 2, "return_sequences": False},
        {"cell": "gru", "return_state": True},
    ],
)
def test_pinned_training_batch_gives_the_same_outputs_and_gradients(settings):
    # A training batch of unknown size runs padded to the pinned size, masked and cut back:
    # outputs and every gradient equal the unpadded run's (a partial batch of 3, pinned 8).
    import tensorflow as tf

    from models.rnn_stack import pin_training_batch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    mask = tf.constant([[True] * 3 + [False] * 2, [True] * 5, [True] + [False] * 4])
    plain, pinned = RNNStack(units=4, **settings), RNNStack(units=4, **settings)
    plain(x), pinned(x)
    pinned.set_weights(plain.get_weights())
    holder = keras.Sequential([pinned])
    assert pin_training_batch(holder, 8) == 1 and pinned.training_batch_size == 8
    seen = []
    run_layers = pinned._run

    def spy(inputs, mask, training):
        seen.append(inputs.shape[0])
        return run_layers(inputs, mask, training)

    pinned._run = spy

    def run(layer):
        @tf.function(input_signature=[tf.TensorSpec((None, None, 2))])
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = layer(x, mask=mask, training=True)
                out = out if isinstance(out, list) else [out]
                loss = sum(tf.reduce_sum(o * tf.sin(o)) for o in out)
            return out, tape.gradient(loss, [x, *layer.trainable_variables])

        return step(tf.constant(x))

    (out_a, grads_a), (out_b, grads_b) = run(plain), run(pinned)
    assert seen == [8]  # the layers ran on a static batch of 8
    for a, b in zip(out_a + grads_a, out_b + grads_b, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    # Inference, and a batch whose size the step knows, run as they are.
    seen.clear()
    pinned(x, mask=mask, training=False), pinned(x, mask=mask, training=True)
    assert seen == [3, 3]
