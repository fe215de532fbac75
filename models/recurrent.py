"""Cell registry and the one factory that turns a cell class into a recurrent layer."""

from __future__ import annotations

import keras

from models.layer_norm_cell import LayerNormCell
from models.layer_norm_gru_cell import LayerNormGRUCell
from models.layer_norm_lstm_cell import LayerNormLSTMCell
from models.layer_norm_rnn import LayerNormRNN

# Config names → cell classes. A new cell type is one entry here, not a branch elsewhere.
CELL_CLASSES: dict[str, type[keras.layers.Layer]] = {
    "rnn": keras.layers.SimpleRNNCell,
    "lstm": keras.layers.LSTMCell,
    "gru": keras.layers.GRUCell,
    "ln_lstm": LayerNormLSTMCell,
    "ln_gru": LayerNormGRUCell,
}

# Built-in cells have layer classes with fused kernels (cuDNN on GPU); same maths as
# RNN(cell), so they are used whenever the cell has one.
_FUSED_LAYERS: dict[type, type[keras.layers.RNN]] = {
    keras.layers.SimpleRNNCell: keras.layers.SimpleRNN,
    keras.layers.LSTMCell: keras.layers.LSTM,
    keras.layers.GRUCell: keras.layers.GRU,
}


def resolve_cell(cell: str | type[keras.layers.Layer]) -> type[keras.layers.Layer]:
    """A cell class from a config name, a registered Keras name, or the class itself."""
    if isinstance(cell, type):
        return cell
    if cell in CELL_CLASSES:
        return CELL_CLASSES[cell]
    registered = keras.saving.get_registered_object(cell)
    if registered is None:
        known = ", ".join(CELL_CLASSES)
        raise ValueError(f"unknown cell {cell!r} (known: {known}, or a registered Keras name)")
    return registered


def cell_name(cell_class: type[keras.layers.Layer]) -> str:
    """The name under which ``cell_class`` round-trips through ``resolve_cell``."""
    for name, cls in CELL_CLASSES.items():
        if cls is cell_class:
            return name
    return keras.saving.get_registered_name(cell_class)


def recurrent_layer(
    cell_class: type[keras.layers.Layer],
    units: int,
    *,
    return_sequences: bool,
    return_state: bool = False,
    stateful: bool = False,
    recurrent_dropout: float = 0.0,
    name: str | None = None,
) -> keras.layers.RNN:
    """One recurrent layer over ``cell_class`` with ``units`` units."""
    common = dict(
        return_sequences=return_sequences, return_state=return_state, stateful=stateful, name=name
    )
    fused = _FUSED_LAYERS.get(cell_class)
    if fused is not None:
        return fused(units, recurrent_dropout=recurrent_dropout, **common)
    if recurrent_dropout:
        raise ValueError(
            f"recurrent_dropout is supported by the built-in cells (rnn, lstm, gru), "
            f"not by {cell_class.__name__}"
        )
    # The layer-normalised cells' own loop layer computes their per-sequence constants once
    # (same weights and paths as keras.layers.RNN(cell): older checkpoints load).
    layer_class = LayerNormRNN if issubclass(cell_class, LayerNormCell) else keras.layers.RNN
    return layer_class(cell_class(units), **common)
