"""Mask-aware pooling of a sequence of vectors into one vector."""

from __future__ import annotations

import keras
from keras import ops

POOLING_MODES = ("mean", "max", "mean_max", "attention")


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class SequencePooling(keras.layers.Layer):
    """Pools (batch, time, features) → (batch, features) over the unmasked steps.

    Modes: ``mean``, ``max``, ``mean_max`` (both, concatenated) and ``attention``
    (additive self-attention: ``softmax_t(v · tanh(W h_t + b))``-weighted sum). A sequence
    with no unmasked step (an empty text) pools to zeros rather than NaN or -inf.
    """

    def __init__(self, mode: str = "max", attention_units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"unknown pooling {mode!r} (known: {', '.join(POOLING_MODES)})")
        self.mode = mode
        self.attention_units = attention_units
        self.supports_masking = True

    def build(self, input_shape):
        if self.mode == "attention":
            features = input_shape[-1]
            units = self.attention_units or features
            self.attention_kernel = self.add_weight(
                shape=(features, units), initializer="glorot_uniform", name="attention_kernel"
            )
            self.attention_bias = self.add_weight(
                shape=(units,), initializer="zeros", name="attention_bias"
            )
            self.attention_vector = self.add_weight(
                shape=(units,), initializer="glorot_uniform", name="attention_vector"
            )

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        weights = ops.cast(mask, inputs.dtype)[:, :, None]
        count = ops.sum(weights, axis=1)
        any_valid = count > 0
        if self.mode == "attention":
            return self._attend(inputs, mask, weights)
        mean = ops.sum(inputs * weights, axis=1) / ops.maximum(count, 1.0)
        lowest = ops.cast(-1e9, inputs.dtype) if inputs.dtype != "float16" else -6e4
        masked = ops.where(mask[:, :, None], inputs, ops.cast(lowest, inputs.dtype))
        maximum = ops.where(any_valid, ops.max(masked, axis=1), ops.zeros_like(mean))
        if self.mode == "mean":
            return mean
        if self.mode == "max":
            return maximum
        return ops.concatenate([mean, maximum], axis=-1)

    def _attend(self, inputs, mask, weights):
        hidden = ops.tanh(ops.matmul(inputs, self.attention_kernel) + self.attention_bias)
        scores = ops.matmul(hidden, ops.expand_dims(self.attention_vector, -1))[:, :, 0]
        scores = ops.where(mask, scores, ops.cast(-1e4, scores.dtype))
        scores = scores - ops.max(scores, axis=1, keepdims=True)
        exp = ops.exp(scores) * weights[:, :, 0]
        attention = exp / ops.maximum(ops.sum(exp, axis=1, keepdims=True), 1e-9)
        return ops.sum(inputs * attention[:, :, None], axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        if self.mode == "mean_max" and features is not None:
            features *= 2
        return (input_shape[0], features)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "attention_units": self.attention_units})
        return config
