"""Character language model: character ids → embedding → recurrent stack → next-char logits."""

from __future__ import annotations

import keras
from keras import ops

from models.rnn_stack import RNNStack


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class CharLanguageModel(keras.Model):
    """Predicts the next character at every step (teacher forcing): (batch, time) ids →
    (batch, time, vocabulary) float32 logits.

    With ``stateful=True`` the recurrent stack carries its final state into the next batch
    (truncated backpropagation through time over consecutive windows); that needs a fixed
    ``batch_size``, and ``reset_states()`` zeroes the carried state. :meth:`step` runs one
    character through the same cell weights with an explicit state, for sampling and for
    reading hidden units; it never touches the carried state.

    Args:
        vocabulary_size: number of character ids (the unknown id included).
        embedding_dim: character embedding width.
        cell, units, num_layers, dropout, recurrent_dropout, residual: the unidirectional
            recurrent stack (see ``RNNStack``).
        output_dropout: dropout on the last layer's outputs before the softmax layer.
        stateful: carry the recurrent state across batches.
        batch_size: fixed batch size of the input (required when ``stateful``).
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int = 64,
        cell: str = "lstm",
        units: int = 256,
        num_layers: int = 2,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        residual: bool = False,
        output_dropout: float = 0.0,
        stateful: bool = False,
        batch_size: int | None = None,
        **kwargs,
    ):
        if stateful and batch_size is None:
            raise ValueError("batch_size: a stateful model needs a fixed batch size")
        # === Layers ===
        # Unit-variance embeddings, as one-hot inputs are in char-rnn: Keras' default
        # (uniform ±0.05) leaves the gates' input term ~20× smaller than the recurrent one, and
        # plain LSTMs then sit on the unigram plateau for most of the first epoch.
        self.char_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="char_embedding",
        )
        self.encoder = RNNStack(
            cell=cell,
            units=units,
            num_layers=num_layers,
            bidirectional=False,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            residual=residual,
            return_sequences=True,
            stateful=stateful,
            name="encoder",
        )
        self.output_dropout = keras.layers.Dropout(output_dropout, name="output_dropout")
        self.head = keras.layers.Dense(vocabulary_size, dtype="float32", name="next_char_logits")

        # === Functional Model ===
        char_ids = keras.Input(shape=(None,), batch_size=batch_size, dtype="int32", name="char_ids")
        x = self.char_embedding(char_ids)
        x = self.encoder(x)
        x = self.output_dropout(x)
        logits = self.head(x)
        super().__init__(inputs=char_ids, outputs=logits, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.residual = residual
        self.output_dropout_rate = output_dropout
        self.stateful = stateful
        self.batch_size = batch_size

    @property
    def cells(self) -> list[keras.layers.Layer]:
        """The recurrent cell of every layer, bottom first (weights shared with the stack)."""
        return [layer.cell for layer in self.encoder.rnn_layers]

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

    def step(self, char_ids, states: list[list]) -> tuple:
        """One character per row: (batch,) ids and per-layer states → ((batch, vocabulary)
        float32 logits, new per-layer states). Inference only (no dropout)."""
        x = self.char_embedding(char_ids)
        new_states = []
        for index, cell in enumerate(self.cells):
            output, layer_states = cell(x, states[index], training=False)
            if not isinstance(layer_states, list | tuple):
                layer_states = [layer_states]
            new_states.append(list(layer_states))
            if self.residual and index > 0 and output.shape[-1] == x.shape[-1]:
                output = output + x
            x = output
        return self.head(x), new_states

    def reset_states(self) -> None:
        """Zeroes the carried state of a stateful model (no-op otherwise)."""
        if self.stateful:
            self.encoder.reset_states()

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "cell": self.cell,
            "units": self.units,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "residual": self.residual,
            "output_dropout": self.output_dropout_rate,
            "stateful": self.stateful,
            "batch_size": self.batch_size,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
