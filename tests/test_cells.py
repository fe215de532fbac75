"""Layer-normalised cells against a NumPy hand computation, and serialisation."""

import keras
import numpy as np
import pytest

from models.layer_norm_cell import LayerNormCell
from models.layer_norm_gru_cell import LayerNormGRUCell
from models.layer_norm_lstm_cell import LayerNormLSTMCell


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
