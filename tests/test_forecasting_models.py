"""Forecasting models: shapes, delta forecasts, the highway, least squares, round trips."""

import keras
import numpy as np
import pytest
from model_helpers import flat_config, stack_settings

from models.conv_rnn_forecaster import STACK_DEFAULTS, ConvRNNForecaster
from models.forecaster import Forecaster
from models.linear_forecaster import LinearForecaster

UNITS_4 = {"units": 4}


def _forecaster(**settings) -> ConvRNNForecaster:
    """A forecaster of 8-step windows of 5 features, a 4-unit GRU; ``settings`` override."""
    return ConvRNNForecaster(**{"lookback": 8, "num_features": 5, "rnn": UNITS_4, **settings})


def _windows(batch=3, lookback=8, features=5, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, lookback, features)).astype("float32")


@pytest.mark.parametrize(
    ("conv_filters", "cell"),
    [((6, 4), "gru"), ((), "gru"), ((), "lstm"), ((4,), "ln_gru"), ((4,), "ln_lstm")],
)
def test_shapes_for_conv_and_recurrent_variants(conv_filters, cell):
    model = _forecaster(
        horizon=3,
        num_targets=2,
        conv_filters=conv_filters,
        kernel_size=3,
        rnn={"cell": cell, **UNITS_4},
    )
    assert model(_windows()).shape == (3, 3, 2)
    # Two pooling blocks of 2 shorten 8 steps to 2 before the recurrent stack.
    encoder_input = model.get_layer("encoder").input.shape
    assert encoder_input[1] == 8 // 2 ** len(conv_filters)


def test_lookback_none_accepts_any_length():
    model = _forecaster(lookback=None, conv_filters=(4,))
    assert model(_windows(lookback=7)).shape == (3, 1, 1)
    assert model(_windows(lookback=12)).shape == (3, 1, 1)
    with pytest.raises(ValueError, match="highway: needs a fixed lookback"):
        ConvRNNForecaster(lookback=None, num_features=5, highway=True)


def _zero_head(model, names=("head",)):
    for name in names:
        layer = model.get_layer(name)
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


def test_delta_forecast_starts_from_the_last_observed_values():
    x = _windows()
    model = _forecaster(horizon=2, num_targets=2, delta_indices=(3, 1))
    _zero_head(model)
    out = keras.ops.convert_to_numpy(model(x))
    expected = np.repeat(x[:, -1, [3, 1]][:, None, :], 2, axis=1)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    with pytest.raises(ValueError, match="one input feature per target"):
        ConvRNNForecaster(lookback=8, num_features=5, num_targets=2, delta_indices=(1,))


def test_highway_adds_a_linear_map_of_the_window():
    x = _windows()
    model = _forecaster(highway=True)
    _zero_head(model)
    highway = model.get_layer("highway")
    kernel = np.random.default_rng(1).normal(size=(40, 1)).astype("float32")
    highway.set_weights([kernel, np.array([0.5], "float32")])
    out = keras.ops.convert_to_numpy(model(x))[:, 0, 0]
    np.testing.assert_allclose(out, x.reshape(3, -1) @ kernel[:, 0] + 0.5, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("highway", [False, True])
def test_conv_rnn_round_trip(tmp_path, highway):
    model = _forecaster(
        horizon=2,
        num_targets=1,
        conv_filters=(4, 4),
        kernel_size=3,
        conv_dropout=0.1,
        rnn={"cell": "lstm", "units": 4, "num_layers": 2, "dropout": 0.1},
        head_units=6,
        head_dropout=0.2,
        delta_indices=(2,),
        highway=highway,
    )
    config = model.get_config()
    assert ConvRNNForecaster.from_config(config).get_config() == config
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, ConvRNNForecaster) and loaded.get_config() == config
    x = _windows()
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)


def test_stack_settings_are_one_rnn_entry_and_old_flat_configs_load():
    model = _forecaster(conv_filters=(4,))
    config = model.get_config()
    assert config["rnn"] == {**STACK_DEFAULTS, "units": 4}
    assert STACK_DEFAULTS["cell"] == "gru" and not STACK_DEFAULTS["bidirectional"]
    assert stack_settings(cell="gru", units=32) == STACK_DEFAULTS
    assert not set(config) & {"cell", "units", "num_layers", "bidirectional", "residual"}
    # A checkpoint config from before the "rnn" entry: the stack settings at the top level.
    flat = {**flat_config(config), "cell": "lstm", "num_layers": 2}
    old = ConvRNNForecaster.from_config(flat)
    assert old.get_config()["rnn"] == {**config["rnn"], "cell": "lstm", "num_layers": 2}
    assert [layer.name for layer in old.get_layer("encoder").rnn_layers] == ["lstm_0", "lstm_1"]
    assert old(_windows()).shape == (3, 1, 1)
    with pytest.raises(ValueError, match=r"rnn: unknown stack setting\(s\) \['unit'\]"):
        ConvRNNForecaster(lookback=8, num_features=5, rnn={"unit": 4})


def _design(x):
    return np.concatenate([x.reshape(len(x), -1), np.ones((len(x), 1))], axis=1)


def test_linear_least_squares_recovers_an_exact_linear_map(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 4, 3)).astype("float32")
    true_w = rng.normal(size=(12, 2))
    y = x.reshape(200, -1) @ true_w + np.array([1.5, -2.0])  # horizon 2, one target
    design = _design(x)
    model = LinearForecaster(lookback=4, num_features=3, horizon=2, num_targets=1)
    model.set_least_squares(design.T @ design, design.T @ y, l2=0.0)
    pred = keras.ops.convert_to_numpy(model(x))
    assert pred.shape == (200, 2, 1)
    np.testing.assert_allclose(pred[..., 0], y, atol=1e-3)
    with pytest.raises(ValueError, match="least squares: expected gram"):
        model.set_least_squares(np.eye(3), np.zeros((3, 2)), 0.0)
    path = tmp_path / "linear.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.predict_on_batch(x), pred, atol=1e-6)


def test_linear_delta_and_ridge_shrinkage():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, 3, 2)).astype("float32")
    model = LinearForecaster(lookback=3, num_features=2, delta_indices=(1,))
    design = _design(x)
    delta = rng.normal(size=(100, 1))
    model.set_least_squares(design.T @ design, design.T @ delta, l2=1e6)
    # A huge penalty leaves only the (unpenalised) bias: the mean change from the last value.
    out = keras.ops.convert_to_numpy(model(x))[:, 0, 0]
    np.testing.assert_allclose(out - x[:, -1, 1], delta.mean(), atol=1e-3)


def test_both_forecasters_share_the_window_base_and_keep_their_layer_order():
    linear = LinearForecaster(8, 5, horizon=2, num_targets=2, delta_indices=(3, 1))
    conv = _forecaster(
        horizon=2,
        num_targets=2,
        conv_filters=(4,),
        head_units=3,
        highway=True,
        delta_indices=[3, 1],
    )
    window = {"lookback": 8, "num_features": 5, "horizon": 2, "num_targets": 2}
    for model in (linear, conv):
        assert isinstance(model, Forecaster) and model.delta_indices == (3, 1)
        config = model.get_config()
        assert {key: config[key] for key in window} == window and config["delta_indices"] == [3, 1]
        assert type(model).from_config(config).get_config() == config
        with pytest.raises(ValueError, match="one input feature per target"):
            type(model)(8, 5, num_targets=2, delta_indices=(1,))
    # Layer and weight order decide the seeded initial values (the benchmark is bit-for-bit).
    assert [layer.name for layer in linear.layers] == ["window", "flatten", "head", "forecast"]
    assert [w.path for w in linear.weights] == ["head/kernel", "head/bias"]
    assert [layer.name for layer in conv.layers] == [
        *("window", "conv_0", "pool_0", "conv_dropout", "encoder", "hidden", "head_dropout"),
        *("flatten", "head", "highway", "forecast"),
    ]
    gru = [f"encoder/gru_0/gru_cell/{name}" for name in ("kernel", "recurrent_kernel", "bias")]
    assert [w.path for w in conv.weights] == [
        *("conv_0/kernel", "conv_0/bias", *gru, "hidden/kernel", "hidden/bias"),
        *("head/kernel", "head/bias", "highway/kernel", "highway/bias"),
    ]
