"""Layer-normalised LSTM cell (Ba, Kiros and Hinton 2016, "Layer Normalization", §A.3)."""

from __future__ import annotations

import keras
from keras import ops

from models.layer_norm import layer_norm
from models.layer_norm_cell import LayerNormCell


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LayerNormLSTMCell(LayerNormCell):
    """LSTM cell with layer norm on the input projection, the recurrent projection (separately)
    and the cell state before the output tanh:

        gates = LN(x W; g_x, b_x) + LN(h U; g_h, b_h) + b        (gate order i, f, c, o)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(c~)
        h' = sigmoid(o) * tanh(LN(c'; g_c, b_c))

    The forget-gate slice of ``b`` starts at ``forget_bias`` (1 by default). Use it inside
    ``keras.layers.RNN`` (the stack builder does that for ``cell: ln_lstm``).

    Args:
        units: size of the hidden and cell state.
        forget_bias: initial value of the forget-gate bias.
        epsilon: layer-norm variance epsilon.
        kernel_initializer: initializer of the input projection ``W``.
        recurrent_initializer: initializer of the recurrent projection ``U``.
    """

    gates = 4

    def __init__(
        self,
        units: int,
        forget_bias: float = 1.0,
        epsilon: float = 1e-5,
        kernel_initializer: str = "glorot_uniform",
        recurrent_initializer: str = "orthogonal",
        **kwargs,
    ):
        super().__init__(
            units,
            epsilon=epsilon,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            **kwargs,
        )
        self.forget_bias = forget_bias
        self.state_size = [units, units]

    def _bias_initializer(self):
        units = self.units

        def initializer(shape, dtype=None):
            forget = ops.ones((units,), dtype=dtype) * self.forget_bias
            zeros = ops.zeros((units,), dtype=dtype)
            return ops.concatenate([zeros, forget, zeros, zeros])

        return initializer

    def build(self, input_shape):
        super().build(input_shape)  # W, U, b and the projections' gains and shifts
        units = self.units
        self.cell_gamma = self.add_weight(shape=(units,), initializer="ones", name="cell_gamma")
        self.cell_beta = self.add_weight(shape=(units,), initializer="zeros", name="cell_beta")

    def call(self, inputs, states, training=None):
        h, c = states[0], states[1]
        xp, hp = self.normalised_projections(inputs, h)
        i, f, g, o = ops.split(xp + hp + self.bias, 4, axis=-1)
        c_new = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        cell_norm = layer_norm(c_new, self.cell_gamma, self.cell_beta, self.epsilon)
        h_new = ops.sigmoid(o) * ops.tanh(cell_norm)
        return h_new, [h_new, c_new]

    def get_config(self):
        return {**super().get_config(), "forget_bias": self.forget_bias}
