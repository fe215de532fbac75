"""The linear forecasting baseline: one affine map of the flattened window."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from models.forecaster import Forecaster


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LinearForecaster(Forecaster):
    """Forecasts ``[batch, horizon, targets]`` as an affine function of the whole window.

    Trainable like any model, or fitted exactly by ridge regression with
    :meth:`set_least_squares` (what the forecasting pipeline reports as its linear baseline).
    ``delta_indices`` works as in ``Forecaster``: the map predicts the change from each
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
        delta_indices: Sequence[int] = (),
        **kwargs,
    ):
        # === Layers ===
        self.flatten = keras.layers.Flatten(name="flatten")
        self.head = keras.layers.Dense(horizon * num_targets, dtype="float32", name="head")

        # === Functional Model ===
        window = keras.Input(shape=(lookback, num_features), name="window")
        outputs = self.head(self.flatten(window))
        super().__init__(
            window, outputs, lookback, num_features, horizon, num_targets, delta_indices, **kwargs
        )
        # === Config === (all of it Forecaster's)

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
