"""The linear forecasting baseline: one affine map of the flattened window."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LinearForecaster(keras.Model):
    """Forecasts ``[batch, horizon, targets]`` as an affine function of the whole window.

    Trainable like any model, or fitted exactly by ridge regression with
    :meth:`set_least_squares` (what the forecasting pipeline reports as its linear baseline).
    ``delta_indices`` works as in ``ConvRNNForecaster``: the map predicts the change from each
    target's last observed value.

    Args:
        lookback: input steps per window.
        num_features: input features per step.
        horizon: forecast steps.
        num_targets: forecast variables.
        delta_indices: input feature index of each target for delta forecasts (empty = off).
    """

    def __init__(
        self,
        lookback: int,
        num_features: int,
        horizon: int = 1,
        num_targets: int = 1,
        delta_indices: tuple[int, ...] | list[int] = (),
        **kwargs,
    ):
        delta_indices = checked_delta_indices(delta_indices, num_targets)
        # === Layers ===
        self.flatten = keras.layers.Flatten(name="flatten")
        self.head = keras.layers.Dense(horizon * num_targets, dtype="float32", name="head")

        # === Functional Model ===
        window = keras.Input(shape=(lookback, num_features), name="window")
        outputs = self.head(self.flatten(window))
        outputs = forecast_output(outputs, window, horizon, num_targets, delta_indices)
        super().__init__(inputs=window, outputs=outputs, **kwargs)

        # === Config ===
        self.lookback = lookback
        self.num_features = num_features
        self.horizon = horizon
        self.num_targets = num_targets
        self.delta_indices = delta_indices

    def set_least_squares(self, gram: np.ndarray, moment: np.ndarray, l2: float) -> None:
        """Sets the weights that minimise ``|[X 1] w - Y|² + l2 |w without bias|²``.

        ``gram = [X 1]ᵀ[X 1]`` and ``moment = [X 1]ᵀ Y`` are accumulated over the training
        windows (``X`` the flattened windows, a column of ones appended last; ``Y`` the
        flattened targets, minus the last observed values when forecasting deltas).
        """
        size = self.lookback * self.num_features + 1
        if gram.shape != (size, size) or moment.shape != (size, self.horizon * self.num_targets):
            raise ValueError(
                f"least squares: expected gram {(size, size)} and moment "
                f"{(size, self.horizon * self.num_targets)}, got {gram.shape} and {moment.shape}"
            )
        penalty = np.full(size, float(l2))
        penalty[-1] = 0.0  # the bias is not shrunk
        weights = np.linalg.solve(gram + np.diag(penalty), moment)
        self.head.set_weights([weights[:-1].astype("float32"), weights[-1].astype("float32")])

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "lookback": self.lookback,
            "num_features": self.num_features,
            "horizon": self.horizon,
            "num_targets": self.num_targets,
            "delta_indices": list(self.delta_indices),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def checked_delta_indices(delta_indices: Sequence[int], num_targets: int) -> tuple[int, ...]:
    """``delta_indices`` as a tuple: empty, or one input feature index per target."""
    delta_indices = tuple(int(i) for i in delta_indices)
    if delta_indices and len(delta_indices) != num_targets:
        raise ValueError(
            f"delta_indices: one input feature per target needed, got {delta_indices} "
            f"for {num_targets} target(s)"
        )
    return delta_indices


def forecast_output(
    outputs, window, horizon: int, num_targets: int, delta_indices: tuple[int, ...]
):
    """Flat outputs ``[batch, horizon * targets]`` as the forecast ``[batch, horizon, targets]``;
    with ``delta_indices`` each target's last observed value in ``window`` is added (the
    outputs are changes from it)."""
    outputs = keras.layers.Reshape((horizon, num_targets), name="forecast")(outputs)
    if delta_indices:
        last = keras.ops.take(window[:, -1, :], list(delta_indices), axis=-1)
        outputs = outputs + keras.ops.cast(last[:, None, :], "float32")
    return outputs
