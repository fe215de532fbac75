"""Layer-normalised cells against a NumPy hand computation, the fast step (LayerNormRNN)
against the plain one (outputs and gradients), and serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.layer_norm_cell import LayerNormCell
from models.layer_norm_gru_cell import LayerNormGRUCell
from models.layer_norm_lstm_cell import LayerNormLSTMCell
from models.layer_norm_rnn import LayerNormRNN


def _ln(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _randomise(cell, rng):
    cell.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5 for w in cell.get_weights()])
    return {w.name: w.numpy() for w in cell.weights}


def test_ln_lstm_step_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5)).astype("float32")
    h = rng.normal(size=(3, 4)).astype("float32")
    c = rng.normal(size=(3, 4)).astype("float32")
    cell = LayerNormLSTMCell(4)
    cell.build((3, 5))
    w = _randomise(cell, rng)
    out, (h_new, c_new) = cell(x, [h, c])

    gates = (
        _ln(x @ w["kernel"], w["input_gamma"], w["input_beta"])
        + _ln(h @ w["recurrent_kernel"], w["recurrent_gamma"], w["recurrent_beta"])
        + w["bias"]
    )
    i, f, g, o = np.split(gates, 4, axis=-1)
    c_ref = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h_ref = _sigmoid(o) * np.tanh(_ln(c_ref, w["cell_gamma"], w["cell_beta"]))
    np.testing.assert_allclose(c_new, c_ref, atol=1e-5)
    np.testing.assert_allclose(h_new, h_ref, atol=1e-5)
    np.testing.assert_allclose(out, h_ref, atol=1e-5)


def test_ln_gru_step_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3)).astype("float32")
    h = rng.normal(size=(2, 5)).astype("float32")
    cell = LayerNormGRUCell(5)
    cell.build((2, 3))
    w = _randomise(cell, rng)
    out, (h_new,) = cell(x, [h])

    xp = _ln(x @ w["kernel"], w["input_gamma"], w["input_beta"])
    hp = _ln(h @ w["recurrent_kernel"], w["recurrent_gamma"], w["recurrent_beta"])
    xz, xr, xh = np.split(xp, 3, -1)
    hz, hr, hh = np.split(hp, 3, -1)
    bz, br, bh = np.split(w["bias"], 3, -1)
    z = _sigmoid(xz + hz + bz)
    r = _sigmoid(xr + hr + br)
    h_ref = z * h + (1 - z) * np.tanh(xh + r * hh + bh)
    np.testing.assert_allclose(h_new, h_ref, atol=1e-5)
    np.testing.assert_allclose(out, h_ref, atol=1e-5)


def test_ln_lstm_forget_bias_starts_at_one():
    cell = LayerNormLSTMCell(3, forget_bias=1.0)
    cell.build((1, 2))
    np.testing.assert_array_equal(cell.bias.numpy(), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("cell_class", [LayerNormLSTMCell, LayerNormGRUCell])
def test_cell_config_round_trip(cell_class):
    cell = cell_class(6, epsilon=1e-3, name="c")
    clone = cell_class.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
    assert (
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell)).units == 6
    )


@pytest.mark.parametrize(
    ("cell_class", "gates", "own_weights", "state_size"),
    [
        (LayerNormLSTMCell, 4, ["cell_gamma", "cell_beta"], [4, 4]),
        (LayerNormGRUCell, 3, [], 4),
    ],
)
def test_cells_share_the_base_and_keep_their_weight_order(
    cell_class, gates, own_weights, state_size
):
    # Weight order decides seeded initial values and how checkpoints load: the base's weights
    # first, in this order, then the cell's own.
    cell = cell_class(4)
    cell.build((2, 3))
    assert isinstance(cell, LayerNormCell) and cell.gates == gates
    assert cell.state_size == state_size and cell.output_size == 4
    shared = ["kernel", "recurrent_kernel", "bias", "input_gamma", "input_beta"]
    shared += ["recurrent_gamma", "recurrent_beta"]
    assert [w.name for w in cell.weights] == shared + own_weights
    width = gates * 4
    shapes = [(3, width), (4, width)] + [(width,)] * 5 + [(4,)] * len(own_weights)
    assert [tuple(w.shape) for w in cell.weights] == shapes
    keys = {"units", "epsilon", "kernel_initializer", "recurrent_initializer"}
    assert set(cell.get_config()) - set(keras.layers.Layer().get_config()) == keys | (
        {"forget_bias"} if own_weights else set()
    )


# --- the fast step (LayerNormRNN) against the plain one (keras.layers.RNN over the same cell) ---


def _fast_and_plain(cell_class, rng, **layer_kwargs):
    """The same cell weights in LayerNormRNN (fast step) and keras.layers.RNN (plain step)."""
    fast = LayerNormRNN(cell_class(4), **layer_kwargs)
    plain = keras.layers.RNN(cell_class(4), **layer_kwargs)
    probe = np.zeros((2, 1, 5), "float32")
    fast(probe), plain(probe)
    plain.set_weights([rng.normal(size=w.shape).astype("float32") * 0.7 for w in fast.weights])
    fast.set_weights(plain.get_weights())
    return fast, plain


def _values_and_gradients(layer, x, mask, weights, graph):
    """The layer's outputs (all of them) and the gradients of a weighted sum of them with
    respect to the input and every weight, eagerly or in a tf.function (as in training)."""

    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, mask=mask, training=True)
            outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
            loss = sum(tf.reduce_sum(o * w) for o, w in zip(outputs, weights, strict=False))
        return outputs, tape.gradient(loss, [x, *layer.trainable_variables])

    outputs, grads = (tf.function(run) if graph else run)(tf.constant(x))
    return [o.numpy() for o in outputs], [g.numpy() for g in grads]


@pytest.mark.parametrize("cell_class", [LayerNormLSTMCell, LayerNormGRUCell])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("graph", [False, True])
def test_fast_step_equals_plain_step_with_masks(cell_class, go_backwards, graph):
    # Outputs, final states and every gradient (input and each weight) of the fast step equal
    # today's plain step on random inputs with padded rows, in both directions.
    rng = np.random.default_rng(7)
    fast, plain = _fast_and_plain(
        cell_class, rng, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    x = rng.normal(size=(3, 6, 5)).astype("float32")
    mask = tf.constant([[True] * 6, [True] * 4 + [False] * 2, [True] + [False] * 5])
    n_states = 2 if cell_class is LayerNormLSTMCell else 1
    weights = [rng.normal(size=(3, 6, 4)).astype("float32")]
    weights += [rng.normal(size=(3, 4)).astype("float32") for _ in range(n_states)]
    fast_out, fast_grads = _values_and_gradients(fast, x, mask, weights, graph)
    plain_out, plain_grads = _values_and_gradients(plain, x, mask, weights, graph)
    for a, b in zip(fast_out, plain_out, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-5)
    names = ["inputs"] + [w.name for w in plain.trainable_variables]
    for name, a, b in zip(names, fast_grads, plain_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=name)
    assert fast.cell._sequence.constants is None  # nothing from the loop stays behind


@pytest.mark.parametrize("cell_class", [LayerNormLSTMCell, LayerNormGRUCell])
def test_fast_step_with_initial_state_and_stateful(cell_class):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 5)).astype("float32")
    fast, plain = _fast_and_plain(cell_class, rng, stateful=True)
    np.testing.assert_allclose(fast(x), plain(x), atol=2e-5)
    np.testing.assert_allclose(fast(x), plain(x), atol=2e-5)  # carried states agree too
    n_states = 2 if cell_class is LayerNormLSTMCell else 1
    start = [rng.normal(size=(2, 4)).astype("float32") for _ in range(n_states)]
    fast, plain = _fast_and_plain(cell_class, rng)
    np.testing.assert_allclose(
        fast(x, initial_state=start), plain(x, initial_state=start), atol=2e-5
    )


def test_mixed_precision_keeps_the_plain_step():
    # The fast step's gradient is written for float32; under a low-precision policy the layer
    # runs the plain step (float32 layer-norm statistics), with the same values.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 5)).astype("float32")
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        fast, plain = _fast_and_plain(LayerNormLSTMCell, rng)
        out_fast, out_plain = fast(x), plain(x)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out_fast.dtype == "bfloat16"
    np.testing.assert_array_equal(out_fast.numpy(), out_plain.numpy())


def test_sequence_constants_centre_the_kernels():
    # Centred columns: every projection x·W_c has zero mean over its last axis, and LN(x·W_c)
    # equals LN(x·W) (the layer norm subtracts that mean anyway).
    cell = LayerNormLSTMCell(3)
    cell.build((2, 4))
    rng = np.random.default_rng(2)
    cell.set_weights([rng.normal(size=w.shape).astype("float32") for w in cell.get_weights()])
    kernel_c, recurrent_c, *_ = cell.sequence_constants()
    x = rng.normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(np.mean(x @ kernel_c.numpy(), axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(recurrent_c).mean(axis=-1), 0, atol=1e-6)
    ones, zeros = np.ones(12, "float32"), np.zeros(12, "float32")
    np.testing.assert_allclose(
        _ln(x @ kernel_c.numpy(), ones, zeros), _ln(x @ cell.kernel.numpy(), ones, zeros), atol=1e-4
    )
