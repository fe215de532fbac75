"""The shared recurrent stack: cell type, layers, direction, dropout, residual."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import keras
from keras import ops

from models.recurrent import cell_name, recurrent_layer, resolve_cell

# The stack's own settings: what a model takes as its one ``rnn`` config entry. A model
# adds return_sequences / return_state / stateful itself, from what it does with the stack.
STACK_KEYS = (
    "cell",
    "units",
    "num_layers",
    "bidirectional",
    "merge_mode",
    "dropout",
    "recurrent_dropout",
    "residual",
)


def stack_config(rnn: Mapping[str, Any] | None, **defaults: Any) -> dict[str, Any]:
    """A model's ``rnn`` argument as a plain dict of every ``RNNStack`` setting: the stack's
    defaults, then the model's ``defaults``, then ``rnn``; a key that is not a stack setting
    fails."""
    parameters = inspect.signature(RNNStack).parameters  # the stack's own defaults
    config = {**{k: parameters[k].default for k in STACK_KEYS}, **defaults, **(rnn or {})}
    unknown = sorted(set(config) - set(STACK_KEYS))
    if unknown:
        raise ValueError(
            f"rnn: unknown stack setting(s) {unknown} (known: {', '.join(STACK_KEYS)})"
        )
    return config


def legacy_stack_config(config: dict[str, Any]) -> dict[str, Any]:
    """A model config saved before the stack became one ``rnn`` entry (its settings were
    top-level keys) in today's form, so older ``.keras`` checkpoints still load."""
    if "rnn" in config or "cell" not in config:
        return config
    config = dict(config)
    config["rnn"] = {key: config.pop(key) for key in STACK_KEYS if key in config}
    return config


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class RNNStack(keras.layers.Layer):
    """``num_layers`` recurrent layers of one cell class, optionally bidirectional.

    Masks (e.g. from ``Embedding(mask_zero=True)``) reach every layer, so padded steps never
    change a sequence's outputs or final state, in either direction. Between layers a channel
    dropout (the same channels dropped at every time step) regularises without breaking the
    recurrence; with ``residual`` each layer after the first adds its input to its output
    (widths match after the first layer).

    Args:
        cell: ``"rnn" | "lstm" | "gru" | "ln_lstm" | "ln_gru"``, a registered Keras name, or
            a cell class (``keras.layers.Layer`` with ``state_size``).
        units: units per direction.
        num_layers: number of stacked layers.
        bidirectional: wrap each layer in ``keras.layers.Bidirectional``.
        merge_mode: how the two directions combine (``concat``, ``sum``, ``mul``, ``ave``).
        dropout: channel dropout on the input of every layer after the first.
        recurrent_dropout: dropout on the recurrent state (built-in cells only).
        residual: residual connections between layers.
        return_sequences: whether the last layer returns every step or only the final output.
        return_state: also return the final states of every layer (and direction), in order.
        stateful: carry states across batches (fixed batch size needed).

    A stateful stack carries the states itself, as non-trainable variables
    (:attr:`carried_states`, one row per batch row), passed to its layers as their initial
    state and assigned their final one. Keras' own ``stateful`` layers keep theirs in
    untracked variables, which the JAX backend's stateless training step never sees: there the
    state silently stayed zero (measured: two ``predict`` calls gave the same output). Tracked
    variables come back from every backend's step. Like Keras' own, the carried state is not
    part of a checkpoint (``save_own_variables`` skips it), so checkpoints of either kind load,
    nor of ``weights`` (``get_weights`` is what it was).
    """

    def __init__(
        self,
        cell: str | type[keras.layers.Layer] = "lstm",
        units: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        merge_mode: str = "concat",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        residual: bool = False,
        return_sequences: bool = True,
        return_state: bool = False,
        stateful: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cell_class = resolve_cell(cell)
        # === Layers ===
        self.rnn_layers = []
        templates = []
        for index in range(num_layers):
            layer = recurrent_layer(
                cell_class,
                units,
                return_sequences=return_sequences or index < num_layers - 1,
                return_state=return_state or stateful,  # the stack carries the states
                recurrent_dropout=recurrent_dropout,
                name=f"{cell_name(cell_class)}_{index}",
            )
            if bidirectional:
                templates.append(layer)
                layer = keras.layers.Bidirectional(
                    layer, merge_mode=merge_mode, name=f"bidirectional_{index}"
                )
            self.rnn_layers.append(layer)
        # Bidirectional copies its template through get_config. Inside load_model Keras
        # records every serialised object by id(); a template freed here can pass its id on
        # to the next one, which is then "shared" with it: both directions the same layer, or
        # two layers with one set of weights (seen at random on 3-layer stacks). Keeping the
        # templates alive as long as the stack keeps their ids unique. A plain holder, so
        # Keras does not track them as sublayers.
        self._bidirectional_templates = SimpleNamespace(layers=templates)
        self.dropout_layers = [
            keras.layers.SpatialDropout1D(dropout, name=f"dropout_{index}")
            for index in range(1, num_layers)
        ]
        # === Config ===
        self.cell = cell_name(cell_class)
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.residual = residual
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.stateful = stateful
        self.carried_states: list[keras.Variable] = []  # made by build() when stateful
        # Set by pin_training_batch (the runner), not part of the config: see call().
        self.training_batch_size: int | None = None
        self.supports_masking = True
        state_size = cell_class(units).state_size  # unbuilt, only to count states per cell
        self._states_per_layer = (2 if bidirectional else 1) * (
            len(state_size) if isinstance(state_size, list | tuple) else 1
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for index, layer in enumerate(self.rnn_layers):
            if index > 0:
                self.dropout_layers[index - 1].build(shape)
            layer.build(shape)
            output_shape = layer.compute_output_shape(shape)
            shape = tuple(output_shape[0] if self.return_state or self.stateful else output_shape)
        self.carried_states = []
        if self.stateful:
            if input_shape[0] is None:
                raise ValueError("stateful: the stack needs a fixed batch size to carry states")
            self.carried_states = [
                self.add_weight(
                    shape=(input_shape[0], self.units),
                    initializer="zeros",
                    trainable=False,
                    name=f"carried_state_{index}",
                )
                for index in range(self.num_layers * self._states_per_layer)
            ]

    def call(self, inputs, mask=None, training=None):
        rows = self._padded_rows(inputs, training)
        if rows is None:
            return self._run(inputs, mask, training)
        # A batch of unknown size (TensorFlow traces fit's step once for every batch of the
        # stream, partial ones included) runs as ``rows`` rows: padded, then given that
        # static size, the recurrent loops run faster (benchmarks/speed_pin.py: sample-config
        # epochs 1.06–1.21x).
        # The extra rows are masked out and cut off again, so outputs and gradients are the
        # same as without them.
        count = ops.shape(inputs)[0]
        inputs = pad_rows(inputs, rows)
        if mask is not None:
            mask = pad_rows(mask, rows)
        outputs = self._run(inputs, mask, training)
        if isinstance(outputs, list):
            return [output[:count] for output in outputs]
        return outputs[:count]

    def _padded_rows(self, inputs, training) -> int | None:
        """The rows a training batch runs as (:attr:`training_batch_size`), or None to run it
        as it is: not training, no size set, a stateful stack (its batch is fixed), or a
        batch whose size the step already knows (JAX compiles a step per shape)."""
        if not training or not self.training_batch_size or self.stateful:
            return None
        if inputs.shape[0] is not None or any(size is None for size in inputs.shape[2:]):
            return None
        return self.training_batch_size

    def _run(self, inputs, mask, training):
        x = inputs
        states = []
        per_layer = self._states_per_layer
        for index, layer in enumerate(self.rnn_layers):
            layer_input = x
            if index > 0 and self.dropout > 0:
                layer_input = self.dropout_layers[index - 1](x, training=training)
            carried = self.carried_states[index * per_layer : (index + 1) * per_layer]
            initial = {"initial_state": [v.value for v in carried]} if carried else {}
            output = layer(layer_input, mask=mask, training=training, **initial)
            if self.return_state or self.stateful:
                output, *layer_states = output
                states.extend(layer_states)
                for variable, state in zip(carried, layer_states[: len(carried)], strict=True):
                    variable.assign(ops.cast(state, variable.dtype))  # none if not stateful
            x = self._residual(index, output, x)
        return [x, *states] if self.return_state else x

    @property
    def weights(self):
        """The layers' weights without the carried states: those are state, not weights (as
        for Keras' own stateful layers), so ``get_weights``/``set_weights`` move weights
        between a stateful model and a stateless one. They stay in ``variables`` (and so in
        ``non_trainable_variables``), which a training step carries."""
        carried = {id(v) for v in getattr(self, "carried_states", ())}
        return [w for w in super().weights if id(w) not in carried]

    def save_own_variables(self, store):
        """Nothing of the stack's own: its only variables are the carried states, which a
        checkpoint does not keep (as for Keras' own stateful layers)."""

    def load_own_variables(self, store):
        """See :meth:`save_own_variables`."""

    def _residual(self, index: int, output, layer_input):
        """The residual rule: a layer after the first adds its input when the shapes match
        (not for a last layer that returns only its final step)."""
        same_shape = len(output.shape) == len(layer_input.shape)
        if self.residual and index > 0 and same_shape and output.shape[-1] == layer_input.shape[-1]:
            return output + layer_input
        return output

    @property
    def cells(self) -> list[keras.layers.Layer]:
        """The recurrent cell of every layer, bottom first (unidirectional stacks)."""
        if self.bidirectional:
            raise ValueError("cells/step: a bidirectional stack cannot run step by step")
        return [layer.cell for layer in self.rnn_layers]

    def initial_states(self, batch_size) -> list[list]:
        """Zero states for :meth:`step`: one list per layer (``[h, c]`` for LSTMs, ``[h]``
        otherwise)."""
        states = []
        for cell in self.cells:
            sizes = (
                cell.state_size if isinstance(cell.state_size, list | tuple) else [cell.state_size]
            )
            states.append(
                [ops.zeros((batch_size, size), dtype=cell.compute_dtype) for size in sizes]
            )
        return states

    def step(self, x, states: list[list]) -> tuple:
        """One time step through every layer with explicit states: (batch, features) and
        per-layer states → (batch, units) output of the last layer, new per-layer states.
        Same weights and residual rule as :meth:`call`; inference only (no dropout); the
        carried state of a stateful stack is not touched."""
        new_states = []
        for index, cell in enumerate(self.cells):
            output, layer_states = cell(x, states[index], training=False)
            if not isinstance(layer_states, list | tuple):
                layer_states = [layer_states]
            new_states.append(list(layer_states))
            x = self._residual(index, output, x)
        return x, new_states

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * (self.num_layers * self._states_per_layer)
        return output_mask

    def reset_states(self) -> None:
        """Zeroes carried states (stateful stacks), e.g. at the start of an epoch."""
        for variable in self.carried_states:
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "cell": self.cell,
                "units": self.units,
                "num_layers": self.num_layers,
                "bidirectional": self.bidirectional,
                "merge_mode": self.merge_mode,
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "residual": self.residual,
                "return_sequences": self.return_sequences,
                "return_state": self.return_state,
                "stateful": self.stateful,
            }
        )
        return config


def pad_rows(x, rows: int):
    """``x`` with zero rows appended up to ``rows``, its first size static (``rows``) and the
    others as they were (known ones static)."""
    dynamic = ops.shape(x)
    extra = [[0, rows - dynamic[0]]] + [[0, 0]] * (len(x.shape) - 1)
    dims = [size if size is not None else dynamic[i] for i, size in enumerate(x.shape)]
    return ops.reshape(ops.pad(x, extra), (rows, *dims[1:]))


def pin_training_batch(model: keras.Model, batch_size: int) -> int:
    """Makes ``model`` run each training batch as ``batch_size`` rows (padded, cut off again:
    same outputs, losses and gradients) when the training step does not know the batch's
    size, as TensorFlow's does not for a stream with partial batches; a static size makes
    recurrent loops faster (``make bench-speed``, section ``pin``). A ``ConfigModel`` pads its
    inputs (so every layer sees the static size); every ``RNNStack`` in it also pads its own
    (what a model of another kind gets). ``batch_size`` must be at least every training
    batch's (the runner passes ``train.batch_size`` per replica). Not saved with the model.
    Returns how many stacks it set."""
    stacks = [layer for layer in model._flatten_layers() if isinstance(layer, RNNStack)]
    for stack in stacks:
        stack.training_batch_size = batch_size
    if hasattr(type(model), "training_batch_size"):  # a ConfigModel pads its whole step
        model.training_batch_size = batch_size
    return len(stacks)
