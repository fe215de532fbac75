"""Layer-normalised LSTM cell (Ba, Kiros and Hinton 2016, "Layer Normalization", §A.3)."""

from __future__ import annotations

import functools

import keras
from keras import ops

from models.layer_norm import layer_norm, normalise_centred, normalised_grad
from models.layer_norm_cell import LayerNormCell


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LayerNormLSTMCell(LayerNormCell):
    """LSTM cell with layer norm on the input projection, the recurrent projection (separately)
    and the cell state before the output tanh:

        gates = LN(x W; g_x, b_x) + LN(h U; g_h, b_h) + b        (gate order i, f, c, o)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(c~)
        h' = sigmoid(o) * tanh(LN(c'; g_c, b_c))

    The forget-gate slice of ``b`` starts at ``forget_bias`` (1 by default). Use it inside
    ``LayerNormRNN`` (the stack builder does that for ``cell: ln_lstm``), which runs the fast
    step; inside ``keras.layers.RNN`` it runs the plain one (same values, slower).

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

    def _own_constants(self) -> tuple:
        shift = self.input_beta + self.recurrent_beta + self.bias  # all three add to the gates
        return shift, ops.copy(self.cell_gamma), ops.copy(self.cell_beta)

    def plain_step(self, inputs, states: list) -> tuple:
        h, c = states[0], states[1]
        xp, hp = self.normalised_projections(inputs, h)
        i, f, g, o = ops.split(xp + hp + self.bias, 4, axis=-1)
        c_new = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        cell_norm = layer_norm(c_new, self.cell_gamma, self.cell_beta, self.epsilon)
        h_new = ops.sigmoid(o) * ops.tanh(cell_norm)
        return h_new, c_new

    def fast_step(self, inputs, states: list, constants: tuple) -> tuple:
        return _fast_step(self.epsilon)(inputs, states[0], states[1], *constants)

    def get_config(self):
        return {**super().get_config(), "forget_bias": self.forget_bias}


@functools.cache
def _fast_step(epsilon: float):
    """The fast step for one epsilon: ``(x, h, c, W_c, U_c, g_x, g_h, shift, g_c, b_c) → (h', c')``
    with ``W_c``, ``U_c`` column-centred and ``shift = b_x + b_h + b``; its gradient written
    out. The plain step's autodiff spends most of a step's time on broadcast reductions and on
    passes over ``(batch, 4·units)`` tensors; this one keeps those passes few."""

    @ops.custom_gradient
    def step(x, h, c, kernel, recurrent_kernel, gamma_x, gamma_h, shift, gamma_c, beta_c):
        x_normed, x_inv_std = normalise_centred(ops.matmul(x, kernel), epsilon)
        h_normed, h_inv_std = normalise_centred(ops.matmul(h, recurrent_kernel), epsilon)
        gates = x_normed * gamma_x + h_normed * gamma_h + shift
        i, f, g, o = ops.split(gates, 4, axis=-1)
        i, f, o, g = ops.sigmoid(i), ops.sigmoid(f), ops.sigmoid(o), ops.tanh(g)
        c_new = f * c + i * g
        c_centred = c_new - ops.mean(c_new, axis=-1, keepdims=True)
        c_normed, c_inv_std = normalise_centred(c_centred, epsilon)
        out = ops.tanh(c_normed * gamma_c + beta_c)
        h_new = o * out

        def grad(*upstream, **_):
            # TensorFlow passes one gradient per output, JAX one tuple; a missing one is 0.
            d_h, d_c = upstream[0] if len(upstream) == 1 else upstream
            d_c = ops.zeros_like(c_new) if d_c is None else d_c
            d_h = ops.zeros_like(h_new) if d_h is None else d_h
            d_pre_out = d_h * o * (1.0 - ops.square(out))
            d_gamma_c = ops.sum(d_pre_out * c_normed, axis=0)
            d_beta_c = ops.sum(d_pre_out, axis=0)
            d_c = d_c + normalised_grad(d_pre_out * gamma_c, c_normed, c_inv_std, centre=True)
            d_gates = ops.concatenate(
                [
                    d_c * g * i * (1.0 - i),
                    d_c * c * f * (1.0 - f),
                    d_c * i * (1.0 - ops.square(g)),
                    d_h * out * o * (1.0 - o),
                ],
                axis=-1,
            )
            d_x_proj = normalised_grad(d_gates * gamma_x, x_normed, x_inv_std)
            d_h_proj = normalised_grad(d_gates * gamma_h, h_normed, h_inv_std)
            return (
                ops.matmul(d_x_proj, ops.transpose(kernel)),
                ops.matmul(d_h_proj, ops.transpose(recurrent_kernel)),
                d_c * f,
                ops.matmul(ops.transpose(x), d_x_proj),
                ops.matmul(ops.transpose(h), d_h_proj),
                ops.sum(d_gates * x_normed, axis=0),
                ops.sum(d_gates * h_normed, axis=0),
                ops.sum(d_gates, axis=0),
                d_gamma_c,
                d_beta_c,
            )

        return (h_new, c_new), grad

    return step
