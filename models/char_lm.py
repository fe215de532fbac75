"""Character language model: character ids → embedding → recurrent stack → next-char logits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from models.config_model import ConfigModel
from models.rnn_stack import RNNStack, stack_config


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class CharLanguageModel(ConfigModel):
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
        rnn: the recurrent stack's settings (``models.rnn_stack.STACK_KEYS``; unidirectional),
            over the defaults: 2 LSTM layers of 256 units.
        output_dropout: dropout on the last layer's outputs before the softmax layer.
        stateful: carry the recurrent state across batches.
        batch_size: fixed batch size of the input (required when ``stateful``).
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int = 64,
        rnn: Mapping[str, Any] | None = None,
        output_dropout: float = 0.0,
        stateful: bool = False,
        batch_size: int | None = None,
        **kwargs,
    ):
        stack = stack_config(rnn, cell="lstm", units=256, num_layers=2, bidirectional=False)
        if stack["bidirectional"]:
            raise ValueError("rnn.bidirectional: a language model reads left to right")
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
        self.encoder = RNNStack(**stack, return_sequences=True, stateful=stateful, name="encoder")
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
        self.rnn = stack
        self.output_dropout_rate = output_dropout
        self.stateful = stateful
        self.batch_size = batch_size

    @property
    def cells(self) -> list[keras.layers.Layer]:
        """The recurrent cell of every layer, bottom first (weights shared with the stack)."""
        return self.encoder.cells

    def initial_states(self, batch_size) -> list[list]:
        """Zero states for :meth:`step`: one list per layer (``[h, c]`` for LSTMs, ``[h]``
        otherwise)."""
        return self.encoder.initial_states(batch_size)

    def step(self, char_ids, states: list[list]) -> tuple:
        """One character per row: (batch,) ids and per-layer states → ((batch, vocabulary)
        float32 logits, new per-layer states). Inference only (no dropout); the stack's own
        :meth:`RNNStack.step`, so the residual rule is the full model's."""
        x, states = self.encoder.step(self.char_embedding(char_ids), states)
        return self.head(x), states

    def reset_states(self) -> None:
        """Zeroes the carried state of a stateful model (no-op otherwise)."""
        if self.stateful:
            self.encoder.reset_states()

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "rnn": dict(self.rnn),
                "output_dropout": self.output_dropout_rate,
                "stateful": self.stateful,
                "batch_size": self.batch_size,
            }
        )
        return config
