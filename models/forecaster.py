"""The base of the forecasting models: a window in, a forecast out, optionally as changes."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from models.config_model import ConfigModel


class Forecaster(ConfigModel):
    """Forecasts ``[batch, horizon, targets]`` from windows ``[batch, lookback, features]``:
    the base of ``LinearForecaster`` and ``ConvRNNForecaster``.

    A subclass makes its layers, runs them on its input ``window`` (``keras.Input`` of shape
    ``(lookback, num_features)``) to flat ``outputs`` ``[batch, horizon * targets]`` and hands
    both to this constructor, which reshapes them to the forecast and builds the model. With
    ``delta_indices`` (one input-feature index per target) the outputs are changes from each
    target's last observed value, which is added back here: forecasts start from persistence
    instead of from the mean.

    Args:
        window: the functional model's input.
        outputs: the subclass's flat outputs computed from ``window``.
        lookback, num_features, horizon, num_targets, delta_indices: the subclass's
            arguments of these names (window shape, forecast shape, delta targets).
    """

    def __init__(
        self,
        window,
        outputs,
        lookback: int | None,
        num_features: int,
        horizon: int,
        num_targets: int,
        delta_indices: Sequence[int],
        **kwargs,
    ):
        delta_indices = tuple(int(i) for i in delta_indices)
        if delta_indices and len(delta_indices) != num_targets:
            raise ValueError(
                f"delta_indices: one input feature per target needed, got {delta_indices} "
                f"for {num_targets} target(s)"
            )
        outputs = keras.layers.Reshape((horizon, num_targets), name="forecast")(outputs)
        if delta_indices:
            last = keras.ops.take(window[:, -1, :], list(delta_indices), axis=-1)
            outputs = outputs + keras.ops.cast(last[:, None, :], "float32")
        super().__init__(inputs=window, outputs=outputs, **kwargs)

        # === Config ===
        self.lookback = lookback
        self.num_features = num_features
        self.horizon = horizon
        self.num_targets = num_targets
        self.delta_indices = delta_indices

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "lookback": self.lookback,
                "num_features": self.num_features,
                "horizon": self.horizon,
                "num_targets": self.num_targets,
                "delta_indices": list(self.delta_indices),
            }
        )
        return config
