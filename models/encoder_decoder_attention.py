"""Attention of decoder states over encoder outputs, multiplicative or additive."""

from __future__ import annotations

import keras
from keras import ops

SCORES = ("luong", "bahdanau")


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class EncoderDecoderAttention(keras.layers.Layer):
    """Context vectors for decoder states (queries) from encoder outputs (memory).

    ``score="luong"`` is multiplicative ("general", Luong et al. 2015), scaled as in
    Vaswani et al. 2017: ``score(q, m) = q · W m / sqrt(units)`` with ``W`` projecting the
    memory to the query width ``units``. Unscaled, the scores of wide states grow large early
    in training and the softmax saturates on one source position (often the final full
    stop), where its gradient vanishes and attention stops learning.
    ``score="bahdanau"`` is additive (Bahdanau et al. 2015): ``v · tanh(W_q q + W_m m)``
    with ``units`` hidden units. Padded memory steps get zero weight.

    Called as a layer on ``[query (B, T, units|any), memory (B, S, D)]`` with Keras masks it
    returns ``(context (B, T, D), weights (B, T, S))``. Step-by-step decoding projects the
    memory once (:meth:`project_memory`) and calls :meth:`attend` for each step.

    Args:
        score: ``"luong"`` or ``"bahdanau"``.
        units: luong: the query width; bahdanau: the hidden width of the score.
    """

    def __init__(self, score: str = "luong", units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if score not in SCORES:
            raise ValueError(f"attention score must be one of {SCORES}, got {score!r}")
        # === Layers ===
        self.memory_projection = keras.layers.Dense(units, use_bias=False, name="memory_key")
        self.query_projection = None
        self.score_vector = None
        if score == "bahdanau":
            self.query_projection = keras.layers.Dense(units, name="query_key")
            self.score_vector = keras.layers.Dense(1, use_bias=False, name="score_vector")
        # === Config ===
        self.score = score
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        query_shape, memory_shape = input_shape
        self.memory_projection.build(memory_shape)
        if self.score == "bahdanau":
            self.query_projection.build(query_shape)
            self.score_vector.build((*query_shape[:-1], self.units))
        elif query_shape[-1] is not None and query_shape[-1] != self.units:
            raise ValueError(
                f"luong attention: query width {query_shape[-1]} must equal units={self.units}"
            )

    def project_memory(self, memory):
        """The keys for ``memory`` (computed once per source sentence)."""
        return self.memory_projection(memory)

    def attend(self, query, keys, memory, memory_mask=None):
        """(context, weights) for ``query`` (B, T, ·) over ``memory`` (B, S, D)."""
        if self.score == "luong":
            scores = ops.einsum("btu,bsu->bts", query, keys) / ops.sqrt(
                ops.cast(self.units, query.dtype)
            )
        else:
            hidden = ops.tanh(
                ops.expand_dims(self.query_projection(query), 2) + ops.expand_dims(keys, 1)
            )
            scores = ops.squeeze(self.score_vector(hidden), -1)
        if memory_mask is not None:
            very_negative = -1e9 if scores.dtype == "float32" else -3e4
            scores = ops.where(
                ops.expand_dims(ops.cast(memory_mask, "bool"), 1),
                scores,
                ops.cast(very_negative, scores.dtype),
            )
        weights = ops.softmax(scores, axis=-1)
        context = ops.einsum("bts,bsd->btd", weights, ops.cast(memory, weights.dtype))
        return context, weights

    def call(self, inputs, mask=None):
        query, memory = inputs
        memory_mask = mask[1] if mask is not None else None
        return self.attend(query, self.project_memory(memory), memory, memory_mask)

    def compute_mask(self, inputs, mask=None):
        query_mask = mask[0] if mask is not None else None
        return [query_mask, None]

    def compute_output_shape(self, input_shape):
        query_shape, memory_shape = input_shape
        return (
            (*query_shape[:-1], memory_shape[-1]),
            (*query_shape[:-1], memory_shape[1]),
        )

    def get_config(self):
        config = super().get_config()
        config.update({"score": self.score, "units": self.units})
        return config
