"""Layer-normalised LSTM cell (Ba, Kiros and Hinton 2016, "Layer Normalization", §A.3)."""

from __future__ import annotations

import keras
from keras import ops

from models.layer_norm import layer_norm


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LayerNormLSTMCell(keras.layers.Layer):
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

    def __init__(
        self,
        units: int,
        forget_bias: float = 1.0,
        epsilon: float = 1e-5,
        kernel_initializer: str = "glorot_uniform",
        recurrent_initializer: str = "orthogonal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.forget_bias = forget_bias
        self.epsilon = epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        units, dim = self.units, input_shape[-1]

        def bias_initializer(shape, dtype=None):
            forget = ops.ones((units,), dtype=dtype) * self.forget_bias
            zeros = ops.zeros((units,), dtype=dtype)
            return ops.concatenate([zeros, forget, zeros, zeros])

        self.kernel = self.add_weight(
            shape=(dim, 4 * units), initializer=self.kernel_initializer, name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(units, 4 * units),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )
        self.bias = self.add_weight(shape=(4 * units,), initializer=bias_initializer, name="bias")
        self.input_gamma = self.add_weight(
            shape=(4 * units,), initializer="ones", name="input_gamma"
        )
        self.input_beta = self.add_weight(
            shape=(4 * units,), initializer="zeros", name="input_beta"
        )
        self.recurrent_gamma = self.add_weight(
            shape=(4 * units,), initializer="ones", name="recurrent_gamma"
        )
        self.recurrent_beta = self.add_weight(
            shape=(4 * units,), initializer="zeros", name="recurrent_beta"
        )
        self.cell_gamma = self.add_weight(shape=(units,), initializer="ones", name="cell_gamma")
        self.cell_beta = self.add_weight(shape=(units,), initializer="zeros", name="cell_beta")

    def call(self, inputs, states, training=None):
        h, c = states[0], states[1]
        eps = self.epsilon
        gates = (
            layer_norm(ops.matmul(inputs, self.kernel), self.input_gamma, self.input_beta, eps)
            + layer_norm(
                ops.matmul(h, self.recurrent_kernel), self.recurrent_gamma, self.recurrent_beta, eps
            )
            + self.bias
        )
        i, f, g, o = ops.split(gates, 4, axis=-1)
        c_new = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h_new = ops.sigmoid(o) * ops.tanh(layer_norm(c_new, self.cell_gamma, self.cell_beta, eps))
        return h_new, [h_new, c_new]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "forget_bias": self.forget_bias,
                "epsilon": self.epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            }
        )
        return config
