"""Layer-normalised GRU cell (after Ba, Kiros and Hinton 2016, "Layer Normalization")."""

from __future__ import annotations

import keras
from keras import ops

from models.layer_norm import layer_norm


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LayerNormGRUCell(keras.layers.Layer):
    """GRU cell with layer norm on the input and recurrent projections, separately:

        xp = LN(x W; g_x, b_x),  hp = LN(h U; g_h, b_h)           (slices z, r, h~)
        z = sigmoid(xp_z + hp_z + b_z),  r = sigmoid(xp_r + hp_r + b_r)
        h~ = tanh(xp_h + r * hp_h + b_h)
        h' = z * h + (1 - z) * h~                                 (Keras' GRU convention)

    Use it inside ``keras.layers.RNN`` (the stack builder does that for ``cell: ln_gru``).

    Args:
        units: size of the hidden state.
        epsilon: layer-norm variance epsilon.
        kernel_initializer: initializer of the input projection ``W``.
        recurrent_initializer: initializer of the recurrent projection ``U``.
    """

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
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        units, dim = self.units, input_shape[-1]
        self.kernel = self.add_weight(
            shape=(dim, 3 * units), initializer=self.kernel_initializer, name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(units, 3 * units),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )
        self.bias = self.add_weight(shape=(3 * units,), initializer="zeros", name="bias")
        self.input_gamma = self.add_weight(
            shape=(3 * units,), initializer="ones", name="input_gamma"
        )
        self.input_beta = self.add_weight(
            shape=(3 * units,), initializer="zeros", name="input_beta"
        )
        self.recurrent_gamma = self.add_weight(
            shape=(3 * units,), initializer="ones", name="recurrent_gamma"
        )
        self.recurrent_beta = self.add_weight(
            shape=(3 * units,), initializer="zeros", name="recurrent_beta"
        )

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, list | tuple) else states
        eps = self.epsilon
        xp = layer_norm(ops.matmul(inputs, self.kernel), self.input_gamma, self.input_beta, eps)
        hp = layer_norm(
            ops.matmul(h, self.recurrent_kernel), self.recurrent_gamma, self.recurrent_beta, eps
        )
        xz, xr, xh = ops.split(xp, 3, axis=-1)
        hz, hr, hh = ops.split(hp, 3, axis=-1)
        bz, br, bh = ops.split(self.bias, 3, axis=-1)
        z = ops.sigmoid(xz + hz + bz)
        r = ops.sigmoid(xr + hr + br)
        candidate = ops.tanh(xh + r * hh + bh)
        h_new = z * h + (1.0 - z) * candidate
        return h_new, [h_new]

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
