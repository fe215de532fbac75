"""Layer-normalised GRU cell (after Ba, Kiros and Hinton 2016, "Layer Normalization")."""

from __future__ import annotations

import functools

import keras
from keras import ops

from models.layer_norm import normalise_centred, normalised_grad
from models.layer_norm_cell import LayerNormCell


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LayerNormGRUCell(LayerNormCell):
    """GRU cell with layer norm on the input and recurrent projections, separately:

        xp = LN(x W; g_x, b_x),  hp = LN(h U; g_h, b_h)           (slices z, r, h~)
        z = sigmoid(xp_z + hp_z + b_z),  r = sigmoid(xp_r + hp_r + b_r)
        h~ = tanh(xp_h + r * hp_h + b_h)
        h' = z * h + (1 - z) * h~                                 (Keras' GRU convention)

    Use it inside ``LayerNormRNN`` (the stack builder does that for ``cell: ln_gru``), which
    runs the fast step; inside ``keras.layers.RNN`` it runs the plain one (same values, slower).

    Args:
        units: size of the hidden state.
        epsilon: layer-norm variance epsilon.
        kernel_initializer: initializer of the input projection ``W``.
        recurrent_initializer: initializer of the recurrent projection ``U``.
    """

    gates = 3

    def _own_constants(self) -> tuple:
        # b adds to the input side, outside r * (...): it sums with the input shift.
        return self.input_beta + self.bias, ops.copy(self.recurrent_beta)

    def plain_step(self, inputs, states: list) -> tuple:
        h = states[0]
        xp, hp = self.normalised_projections(inputs, h)
        xz, xr, xh = ops.split(xp, 3, axis=-1)
        hz, hr, hh = ops.split(hp, 3, axis=-1)
        bz, br, bh = ops.split(self.bias, 3, axis=-1)
        z = ops.sigmoid(xz + hz + bz)
        r = ops.sigmoid(xr + hr + br)
        candidate = ops.tanh(xh + r * hh + bh)
        return (z * h + (1.0 - z) * candidate,)

    def fast_step(self, inputs, states: list, constants: tuple) -> tuple:
        return (_fast_step(self.epsilon)(inputs, states[0], *constants),)


@functools.cache
def _fast_step(epsilon: float):
    """The fast step for one epsilon: ``(x, h, W_c, U_c, g_x, g_h, shift_x, b_h) → h'`` with
    ``W_c``, ``U_c`` column-centred and ``shift_x = b_x + b``; its gradient written out (see
    the LSTM cell's ``_fast_step``)."""

    @ops.custom_gradient
    def step(x, h, kernel, recurrent_kernel, gamma_x, gamma_h, shift_x, beta_h):
        x_normed, x_inv_std = normalise_centred(ops.matmul(x, kernel), epsilon)
        h_normed, h_inv_std = normalise_centred(ops.matmul(h, recurrent_kernel), epsilon)
        xz, xr, xh = ops.split(x_normed * gamma_x + shift_x, 3, axis=-1)
        hz, hr, hh = ops.split(h_normed * gamma_h + beta_h, 3, axis=-1)
        z = ops.sigmoid(xz + hz)
        r = ops.sigmoid(xr + hr)
        candidate = ops.tanh(xh + r * hh)
        h_new = z * h + (1.0 - z) * candidate

        def grad(*upstream, **_):
            (d_h,) = upstream
            d_pre_candidate = d_h * (1.0 - z) * (1.0 - ops.square(candidate))
            d_pre_z = d_h * (h - candidate) * z * (1.0 - z)
            d_pre_r = d_pre_candidate * hh * r * (1.0 - r)
            d_x_side = ops.concatenate([d_pre_z, d_pre_r, d_pre_candidate], axis=-1)
            d_h_side = ops.concatenate([d_pre_z, d_pre_r, d_pre_candidate * r], axis=-1)
            d_x_proj = normalised_grad(d_x_side * gamma_x, x_normed, x_inv_std)
            d_h_proj = normalised_grad(d_h_side * gamma_h, h_normed, h_inv_std)
            return (
                ops.matmul(d_x_proj, ops.transpose(kernel)),
                d_h * z + ops.matmul(d_h_proj, ops.transpose(recurrent_kernel)),
                ops.matmul(ops.transpose(x), d_x_proj),
                ops.matmul(ops.transpose(h), d_h_proj),
                ops.sum(d_x_side * x_normed, axis=0),
                ops.sum(d_h_side * h_normed, axis=0),
                ops.sum(d_x_side, axis=0),
                ops.sum(d_h_side, axis=0),
            )

        return h_new, grad

    return step
