"""The recurrent layer of the layer-normalised cells: ``keras.layers.RNN`` with the cell's
per-sequence constants computed once, outside the time loop."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LayerNormRNN(keras.layers.RNN):
    """``keras.layers.RNN`` over a ``LayerNormCell`` that runs the cell's fast step.

    Before the time loop the cell computes what every step shares (centred kernels, summed
    shifts: ``LayerNormCell.sequence_constants``), once per call instead of once per step; the
    loop itself, masks, ``go_backwards``, ``stateful``, ``return_state`` and
    ``Bidirectional`` are Keras' own. Weights live in the cell as in ``keras.layers.RNN(cell)``
    (same names, same paths in a ``.keras`` file), so a model saved with either loads into
    the other.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        with self.cell.running_sequence():
            return super().inner_loop(sequences, initial_state, mask, training=training)
