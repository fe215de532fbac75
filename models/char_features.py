"""Character-level features per word: a char CNN or a char BiLSTM over each word's letters."""

from __future__ import annotations

import keras
from keras import ops

_ENCODERS = ("cnn", "lstm")


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class CharFeatures(keras.layers.Layer):
    """Char ids (batch, words, chars) → one feature vector per word (batch, words, features).

    Id 0 is a padding character (and a word of only padding is a padding word). The words
    of the whole batch are folded into one axis, ``(batch * words, chars)``, encoded, and
    unfolded again with ``keras.ops.reshape`` — not ``TimeDistributed``, which gets shapes
    wrong in graph mode when the word axis is unknown. Results do not depend on how much
    padding a word or a sentence has; padding words give zero vectors and are masked.

    Args:
        vocabulary_size: number of char ids, padding and OOV included.
        embedding_dim: char embedding width.
        encoder: ``"cnn"`` (convolution over chars, max over positions; Ma & Hovy 2016) or
            ``"lstm"`` (final states of a char BiLSTM; Lample et al. 2016).
        units: CNN filters, or LSTM units per direction (the output is then ``2 * units``).
        kernel_size: CNN window in chars.
        dropout: dropout on the char embeddings.
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int = 25,
        encoder: str = "cnn",
        units: int = 50,
        kernel_size: int = 3,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if encoder not in _ENCODERS:
            raise ValueError(f"char encoder must be one of {', '.join(_ENCODERS)}, got {encoder!r}")
        # === Layers ===
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        if encoder == "cnn":
            self.encoder = keras.layers.Conv1D(
                units, kernel_size, padding="same", activation="tanh", name="conv"
            )
        else:
            self.encoder = keras.layers.Bidirectional(keras.layers.LSTM(units), name="bilstm")
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.encoder_type = encoder
        self.units = units
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.output_dim = units if encoder == "cnn" else 2 * units

    def build(self, input_shape):
        self.embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))

    def call(self, char_ids, training=None):
        shape = ops.shape(char_ids)
        flat = ops.reshape(char_ids, (-1, shape[2]))  # (batch * words, chars)
        mask = ops.not_equal(flat, 0)
        x = self.embedding_dropout(self.embedding(flat), training=training)
        # Zeroed padding makes the convolution see a word's edges the same way whatever
        # the padding length (as with zero padding).
        # expand_dims, not [:, :, None]: TFLite has no built-in for a new-axis slice of a
        # tensor with two unknown dimensions (it would need Flex ops).
        x = x * ops.expand_dims(ops.cast(mask, x.dtype), -1)
        if self.encoder_type == "cnn":
            h = self.encoder(x)
            lowest = ops.full_like(h, -65504.0)  # below tanh's range, finite in float16
            h = ops.max(ops.where(ops.expand_dims(mask, -1), h, lowest), axis=1)
        else:
            h = self.encoder(x, mask=mask, training=training)
        has_chars = ops.any(mask, axis=1)[:, None]
        h = ops.where(has_chars, h, ops.zeros_like(h))
        return ops.reshape(h, (shape[0], shape[1], self.output_dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.output_dim)

    def compute_mask(self, inputs, mask=None):
        # Real words have at least one char; the same mask as the word ids' (which matters
        # because Concatenate ORs its inputs' masks).
        return ops.any(ops.not_equal(inputs, 0), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "encoder": self.encoder_type,
                "units": self.units,
                "kernel_size": self.kernel_size,
                "dropout": self.dropout,
            }
        )
        return config
