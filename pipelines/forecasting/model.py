"""The configured forecaster: the linear model, or conv blocks and the recurrent stack, with
the highway optionally started at the ridge baseline."""

from __future__ import annotations

import keras
import numpy as np

from models.conv_rnn_forecaster import ConvRNNForecaster
from models.linear_forecaster import LinearForecaster
from pipelines.forecasting.baselines import fit_linear_baseline
from pipelines.forecasting.config import ForecastingConfig, ForecastingInfo, ForecastingModel
from pipelines.forecasting.forecasts import series_as_trained

LOSSES = {  # model.loss → its class (Huber's delta is 1.0), on normalised targets
    "mse": keras.losses.MeanSquaredError,
    "mae": keras.losses.MeanAbsoluteError,
    "huber": keras.losses.Huber,
}


def build_forecaster(cfg: ForecastingConfig, info: ForecastingInfo) -> keras.Model:
    """``cfg.model`` for the inputs and targets in ``info``."""
    model = _network(cfg.model, info)
    if cfg.model.highway in ("ridge", "ridge_frozen"):
        # Start from the linear baseline: the network's head starts at zero, so training
        # begins at the ridge forecast and learns what it misses.
        _, norm = series_as_trained(cfg.data, info)
        linear = fit_linear_baseline(norm, info, cfg.model)
        model.get_layer("highway").set_weights(linear.head.get_weights())
        head = model.get_layer("head")
        head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    return model


def _network(m: ForecastingModel, info: ForecastingInfo) -> keras.Model:
    delta = info.target_indices if m.predict_delta else ()
    if m.architecture == "linear":
        return LinearForecaster(
            info.lookback,
            len(info.feature_names),
            info.horizon,
            len(info.target_indices),
            delta_indices=delta,
            name="linear_forecaster",
        )
    return ConvRNNForecaster(
        lookback=info.lookback,
        num_features=len(info.feature_names),
        horizon=info.horizon,
        num_targets=len(info.target_indices),
        conv_filters=m.conv_filters if m.architecture == "conv_rnn" else (),
        kernel_size=m.conv_kernel_size,
        pool_size=m.pool_size,
        conv_dropout=m.conv_dropout,
        rnn=m.rnn.stack(),
        head_units=m.head_units,
        head_dropout=m.head_dropout,
        delta_indices=delta,
        highway=m.highway != "none",
        highway_trainable=m.highway != "ridge_frozen",
        name=f"{m.architecture}_forecaster",
    )
