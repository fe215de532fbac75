"""Forecasting's portable core: raw windows → forecast, the train statistics inside."""

from __future__ import annotations

import json

import keras
import numpy as np
import tensorflow as tf

from pipelines.forecasting.config import ForecastingInfo
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.portable_part import PortablePart

EXAMPLE_WINDOWS = 3


def portable_forecaster(model: keras.Model, info: ForecastingInfo) -> PortableModel:
    """``forecaster``: window [batch, lookback, features] float32 in the CSV's units →
    forecast [batch, horizon, targets], as ``serving_default`` computes it without its
    checks (shape, batch bound, finite values: the caller's)."""
    # numpy, not tf.constant: a tensor made outside the traced function is a captured input,
    # which tf2onnx turns into a graph input the caller would have to feed.
    mean = np.asarray(info.mean, np.float32)
    std = np.asarray(info.std, np.float32)
    target_mean, target_std = mean[info.target_indices], std[info.target_indices]
    features = len(info.feature_names)

    def forecast(window):
        output = tf.cast(model((window - mean) / std, training=False), tf.float32)
        return {"forecast": output * target_std + target_mean}

    # Windows around the train statistics: the parity check needs values, not a season.
    rng = np.random.default_rng(0)
    shape = (EXAMPLE_WINDOWS, info.lookback, features)
    windows = mean + std * rng.standard_normal(shape)
    part = PortablePart(
        name="forecaster",
        function=forecast,
        inputs=(tf.TensorSpec([None, info.lookback, features], tf.float32, name="window"),),
        example={"window": windows.astype(np.float32)},
    )
    contract = {
        "window": (
            f"the {info.lookback} rows ending at the forecast origin, every "
            f"{info.sampling_rate}th CSV row (oldest first), columns in features.json order "
            "(one-hot columns of a category are 0/1), raw units, finite"
        ),
        "forecast": (
            f"steps {info.delay}..{info.delay + info.horizon - 1} rows after the origin, "
            "targets in the order of targets.json, raw units"
        ),
        "frequency": info.frequency or "unknown (rows are steps)",
    }
    return PortableModel(
        parts=(part,),
        contract=contract,
        files={
            "features.json": json.dumps(info.feature_names, ensure_ascii=False),
            "targets.json": json.dumps(info.target_names, ensure_ascii=False),
        },
        outside="the input checks (window shape, batch bound, NaN/inf) and CSV reading",
    )
