"""Independent per-token softmax output for taggers, with the same interface as the CRF."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class TagSoftmax(keras.layers.Layer):
    """Per-token tag scores (batch, time, tags) → argmax tag ids (batch, time) int32.

    A drop-in alternative to :class:`models.crf.CRF` (no transition scores): called on
    ``[scores, gold_tags]`` it adds the masked mean cross-entropy over real tokens as a
    layer loss and still returns the decoded tags; called on ``scores`` alone it only
    decodes. Padded steps (by the Keras mask or ``mask``) give tag 0 and no loss.
    """

    def __init__(self, num_tags: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(num_tags) < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        self.num_tags = int(num_tags)
        self.built = True

    @staticmethod
    def _split(inputs, mask):
        scores, tags = inputs if isinstance(inputs, (list, tuple)) else (inputs, None)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        return scores, tags, mask

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None):
        scores, tags, mask = self._split(inputs, mask)
        scores = ops.cast(scores, "float32")
        valid = (
            ops.ones_like(scores[..., 0], dtype="bool") if mask is None else ops.cast(mask, "bool")
        )
        if tags is not None:
            safe = ops.where(valid, ops.cast(tags, "int32"), ops.zeros_like(tags, dtype="int32"))
            losses = keras.losses.sparse_categorical_crossentropy(safe, scores, from_logits=True)
            weights = ops.cast(valid, "float32")
            self.add_loss(ops.sum(losses * weights) / ops.maximum(ops.sum(weights), 1.0))
        decoded = ops.cast(ops.argmax(scores, axis=-1), "int32")
        return ops.where(valid, decoded, ops.zeros_like(decoded))

    def compute_mask(self, inputs: Any, mask: Any = None):
        return self._split(inputs, mask)[2]

    def compute_output_spec(self, inputs: Any, mask: Any = None, training: bool | None = None):
        # Declared, so the symbolic (Functional) pass does not trace ``call`` and add a loss.
        scores = self._split(inputs, None)[0]
        return keras.KerasTensor(tuple(scores.shape[:2]), dtype="int32")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"num_tags": self.num_tags})
        return config
