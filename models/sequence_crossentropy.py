"""Per-token sparse cross-entropy with label smoothing, padding excluded."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class SequenceCrossentropy(keras.losses.Loss):
    """Cross-entropy of (B, T, V) logits against (B, T) integer targets.

    Positions whose target is ``pad_id`` weigh zero and the loss is the mean over the real
    tokens of the batch. Each real token's loss is divided by their count and the reduction
    is a sum, so the result is the same whether or not Keras finds (and applies) the logits'
    own mask, which marks the same positions. With
    ``label_smoothing`` ε the target distribution is ``(1 - ε)`` on the true token plus
    ``ε / V`` on every token (Szegedy et al. 2016), written with sparse targets so that no
    (B, T, V) one-hot tensor is built.
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        pad_id: int = 0,
        name: str = "sequence_crossentropy",
        **kwargs,
    ):
        kwargs.pop("reduction", None)  # fixed: see the class docstring
        super().__init__(name=name, reduction="sum", **kwargs)
        self.label_smoothing = label_smoothing
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(logp, ops.expand_dims(y_true, -1), axis=-1), -1)
        if self.label_smoothing:
            uniform = -ops.mean(logp, axis=-1)
            nll = (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform
        real = ops.not_equal(y_true, self.pad_id)
        count = ops.maximum(ops.sum(ops.cast(real, "float32")), 1.0)
        return ops.where(real, nll / count, 0.0)

    def get_config(self):
        config = super().get_config()
        config.update({"label_smoothing": self.label_smoothing, "pad_id": self.pad_id})
        return config
