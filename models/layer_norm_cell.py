"""What the layer-normalised cells share: settings, weights and the normalised projections."""

from __future__ import annotations

import keras
from keras import ops

from models.layer_norm import layer_norm


class LayerNormCell(keras.layers.Layer):
    """Base of the layer-normalised recurrent cells (``LayerNormLSTMCell``,
    ``LayerNormGRUCell``): an input projection ``W`` and a recurrent projection ``U`` of
    ``gates`` slices of ``units`` each, each projection layer-normalised with its own gain and
    shift (Ba, Kiros and Hinton 2016), and a bias.

    A subclass sets ``gates`` (and ``state_size`` if it carries more than the hidden state),
    may add weights after the shared ones (its ``build`` calls this one first, so the weight
    order, and with it every seeded initial value, stays what it was) and writes ``call`` with
    :meth:`normalised_projections`.

    Args:
        units: size of the hidden state.
        epsilon: layer-norm variance epsilon.
        kernel_initializer: initializer of the input projection ``W``.
        recurrent_initializer: initializer of the recurrent projection ``U``.
    """

    gates: int  # slices of the projections: 4 for the LSTM (i, f, c, o), 3 for the GRU

    def __init__(
        self,
        units: int,
        epsilon: float = 1e-5,
        kernel_initializer: str = "glorot_uniform",
        recurrent_initializer: str = "orthogonal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.epsilon = epsilon
        # Keras draws an initializer's seed when it is made: this order keeps seeded runs.
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.state_size = units  # one hidden state; a cell with more sets its own
        self.output_size = units

    def _bias_initializer(self):
        """The initializer of the bias (all slices); zeros unless a cell says otherwise."""
        return "zeros"

    def build(self, input_shape):
        width = self.gates * self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], width), initializer=self.kernel_initializer, name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )
        self.bias = self.add_weight(
            shape=(width,), initializer=self._bias_initializer(), name="bias"
        )
        self.input_gamma = self.add_weight(shape=(width,), initializer="ones", name="input_gamma")
        self.input_beta = self.add_weight(shape=(width,), initializer="zeros", name="input_beta")
        self.recurrent_gamma = self.add_weight(
            shape=(width,), initializer="ones", name="recurrent_gamma"
        )
        self.recurrent_beta = self.add_weight(
            shape=(width,), initializer="zeros", name="recurrent_beta"
        )

    def normalised_projections(self, inputs, h) -> tuple:
        """``(LN(x W; g_x, b_x), LN(h U; g_h, b_h))``, each ``(batch, gates * units)``."""
        eps = self.epsilon
        xp = layer_norm(ops.matmul(inputs, self.kernel), self.input_gamma, self.input_beta, eps)
        hp = layer_norm(
            ops.matmul(h, self.recurrent_kernel), self.recurrent_gamma, self.recurrent_beta, eps
        )
        return xp, hp

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "epsilon": self.epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            }
        )
        return config
