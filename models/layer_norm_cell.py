"""What the layer-normalised cells share: settings, weights, the normalised projections and
the two ways a step runs (plain, or fast inside ``LayerNormRNN``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace

import keras
from keras import ops

from models.layer_norm import centred_columns, layer_norm


class LayerNormCell(keras.layers.Layer):
    """Base of the layer-normalised recurrent cells (``LayerNormLSTMCell``,
    ``LayerNormGRUCell``): an input projection ``W`` and a recurrent projection ``U`` of
    ``gates`` slices of ``units`` each, each projection layer-normalised with its own gain and
    shift (Ba, Kiros and Hinton 2016), and a bias.

    A subclass sets ``gates`` (and ``state_size`` if it carries more than the hidden state),
    may add weights after the shared ones (its ``build`` calls this one first, so the weight
    order, and with it every seeded initial value, stays what it was) and writes two steps
    with the same maths: :meth:`plain_step` (autodiff; used for a step on its own, e.g.
    ``RNNStack.step``, and for mixed precision) and :meth:`fast_step` (float32 inside
    ``LayerNormRNN``: centred kernels and summed shifts from :meth:`sequence_constants`,
    computed once per sequence, and a written-out gradient). Both give the same outputs and
    gradients to float tolerance (tests/test_cells.py).

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
        # What LayerNormRNN computed once for the sequence it is running; a plain holder, so
        # Keras does not track the tensors in it.
        self._sequence = SimpleNamespace(constants=None)

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

    def sequence_constants(self) -> tuple:
        """What every step of one sequence shares, computed once per sequence by
        ``LayerNormRNN``: ``(centred W, centred U, g_x, g_h)`` (see
        ``models.layer_norm.centred_columns``) and what a cell adds (:meth:`_own_constants`).
        Their gradients reach the weights through autodiff outside the loop."""
        shared = (
            centred_columns(self.kernel),
            centred_columns(self.recurrent_kernel),
            ops.copy(self.input_gamma),  # a tensor (a Keras variable stays one otherwise)
            ops.copy(self.recurrent_gamma),
        )
        return shared + self._own_constants()

    def _own_constants(self) -> tuple:
        """The cell's part of :meth:`sequence_constants` (shifts summed, its own weights)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def running_sequence(self) -> Iterator[None]:
        """Within it, :meth:`call` runs :meth:`fast_step` with this sequence's constants."""
        # The fast step's hand-written gradient assumes float32 throughout; mixed precision
        # keeps the plain step, whose layer norms take their statistics in float32.
        if self.compute_dtype != "float32":
            yield
            return
        self._sequence.constants = self.sequence_constants()
        try:
            yield
        finally:
            self._sequence.constants = None

    def call(self, inputs, states, training=None):
        states = list(states) if isinstance(states, list | tuple) else [states]
        constants = self._sequence.constants
        if constants is None:  # a step on its own, or mixed precision
            new_states = self.plain_step(inputs, states)
        else:
            new_states = self.fast_step(inputs, states, constants)
        return new_states[0], list(new_states)

    def plain_step(self, inputs, states: list) -> tuple:
        """One step from the weights themselves, differentiated by autodiff → new states."""
        raise NotImplementedError

    def fast_step(self, inputs, states: list, constants: tuple) -> tuple:
        """One step from :meth:`sequence_constants`, with a written-out gradient → new states
        (the same values as :meth:`plain_step`)."""
        raise NotImplementedError

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
