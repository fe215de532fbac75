"""Many-to-one forecaster: Conv1D + MaxPooling1D blocks → recurrent stack → horizon head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from models.forecaster import Forecaster
from models.rnn_stack import RNNStack, stack_config

# The stack's defaults here (every setting): one forward GRU layer of 32 units.
STACK_DEFAULTS = stack_config(None, cell="gru", units=32)


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class ConvRNNForecaster(Forecaster):
    """Forecasts ``[batch, horizon, targets]`` from windows ``[batch, lookback, features]``.

    Each convolution block (``Conv1D`` with ReLU, then ``MaxPooling1D``) divides the sequence
    length by ``pool_size``, so the recurrent stack sees ``lookback / pool_size**blocks`` steps
    of longer-range features; with no blocks (``conv_filters=()``) it is a plain GRU/LSTM
    forecaster. The stack's final output goes through an optional hidden layer to a linear
    ``Dense(horizon * targets)``. Inputs and outputs are in normalised units (the pipeline
    normalises with train statistics; its export puts that inside the serving graph).

    ``delta_indices`` (one input-feature index per target) makes the head predict the change
    from each target's last observed value, added back inside the model (see ``Forecaster``):
    forecasts start from persistence instead of from the mean. ``highway`` adds a linear map
    of the whole flattened window to the output (the autoregressive "highway" of LSTNet, Lai
    et al. 2018), so the network only has to learn what a linear model misses; it needs a
    fixed ``lookback``. ``highway_trainable=False`` freezes that map (e.g. after setting it to
    a least-squares fit, so the network learns the linear model's residual).

    Args:
        lookback: input steps per window (``None`` = any length; not with ``highway``).
        num_features: input features per step.
        horizon: forecast steps.
        num_targets: forecast variables.
        conv_filters: filters of each convolution block (empty = no convolution).
        kernel_size: convolution width in (sampled) steps.
        pool_size: max-pooling width and stride of each block.
        conv_dropout: channel dropout after the convolution blocks.
        rnn: the recurrent stack's settings (``RNNStack`` keyword arguments; missing ones
            take ``STACK_DEFAULTS``).
        head_units: width of a ReLU layer before the output (0 = none).
        head_dropout: dropout before the output layer(s).
        delta_indices: input feature index of each target for delta forecasts (empty = off).
        highway: add a linear map of the flattened window to the forecast.
        highway_trainable: whether training updates the highway map.
    """

    def __init__(
        self,
        lookback: int | None,
        num_features: int,
        horizon: int = 1,
        num_targets: int = 1,
        conv_filters: tuple[int, ...] | list[int] = (32, 32),
        kernel_size: int = 5,
        pool_size: int = 2,
        conv_dropout: float = 0.0,
        rnn: Mapping[str, Any] | None = None,
        head_units: int = 0,
        head_dropout: float = 0.0,
        delta_indices: Sequence[int] = (),
        highway: bool = False,
        highway_trainable: bool = True,
        **kwargs,
    ):
        conv_filters = tuple(int(f) for f in conv_filters)
        rnn = stack_config(rnn, **STACK_DEFAULTS)
        if highway and lookback is None:
            raise ValueError("highway: needs a fixed lookback (the flattened window)")
        # === Layers ===
        self.conv_layers = [
            keras.layers.Conv1D(
                filters, kernel_size, padding="same", activation="relu", name=f"conv_{index}"
            )
            for index, filters in enumerate(conv_filters)
        ]
        self.pool_layers = [
            keras.layers.MaxPooling1D(pool_size, padding="same", name=f"pool_{index}")
            for index in range(len(conv_filters))
        ]
        self.conv_dropout = keras.layers.SpatialDropout1D(conv_dropout, name="conv_dropout")
        self.encoder = RNNStack(**rnn, return_sequences=False, name="encoder")
        self.hidden = (
            keras.layers.Dense(head_units, activation="relu", name="hidden") if head_units else None
        )
        self.head_dropout = keras.layers.Dropout(head_dropout, name="head_dropout")
        self.head = keras.layers.Dense(horizon * num_targets, dtype="float32", name="head")
        self.highway_head = (
            keras.layers.Dense(
                horizon * num_targets,
                dtype="float32",
                trainable=highway_trainable,
                name="highway",
            )
            if highway
            else None
        )

        # === Functional Model ===
        window = keras.Input(shape=(lookback, num_features), name="window")
        x = window
        for conv, pool in zip(self.conv_layers, self.pool_layers, strict=True):
            x = pool(conv(x))
        if conv_filters:
            x = self.conv_dropout(x)
        x = self.encoder(x)
        if self.hidden is not None:
            x = self.hidden(x)
        outputs = self.head(self.head_dropout(x))
        if self.highway_head is not None:
            flat = keras.layers.Flatten(name="flatten")(window)
            outputs = outputs + self.highway_head(flat)
        super().__init__(
            window, outputs, lookback, num_features, horizon, num_targets, delta_indices, **kwargs
        )

        # === Config === (the window and forecast settings are Forecaster's)
        self.conv_filters = conv_filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.conv_dropout_rate = conv_dropout
        self.rnn = rnn
        self.head_units = head_units
        self.head_dropout_rate = head_dropout
        self.highway = highway
        self.highway_trainable = highway_trainable

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "conv_filters": list(self.conv_filters),
                "kernel_size": self.kernel_size,
                "pool_size": self.pool_size,
                "conv_dropout": self.conv_dropout_rate,
                "rnn": dict(self.rnn),
                "head_units": self.head_units,
                "head_dropout": self.head_dropout_rate,
                "highway": self.highway,
                "highway_trainable": self.highway_trainable,
            }
        )
        return config
