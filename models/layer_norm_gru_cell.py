"""Layer-normalised GRU cell (after Ba, Kiros and Hinton 2016, "Layer Normalization")."""

from __future__ import annotations

import keras
from keras import ops

from models.layer_norm_cell import LayerNormCell


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LayerNormGRUCell(LayerNormCell):
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

    gates = 3

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, list | tuple) else states
        xp, hp = self.normalised_projections(inputs, h)
        xz, xr, xh = ops.split(xp, 3, axis=-1)
        hz, hr, hh = ops.split(hp, 3, axis=-1)
        bz, br, bh = ops.split(self.bias, 3, axis=-1)
        z = ops.sigmoid(xz + hz + bz)
        r = ops.sigmoid(xr + hr + br)
        candidate = ops.tanh(xh + r * hh + bh)
        h_new = z * h + (1.0 - z) * candidate
        return h_new, [h_new]
