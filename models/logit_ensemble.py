"""Averages the logits of several heads; in training, each example may use one head alone."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class LogitEnsemble(keras.layers.Layer):
    """Mean of ``n`` heads' logits, with per-example "solo" training.

    In training, each example uses, with probability ``solo_rate``, one head chosen uniformly
    at random instead of the mean. On such an example the chosen head gets exactly the gradient
    it would get if it were trained alone, so no head can lean on another: a fast-learning head
    (a bag of n-grams) keeps learning after a slower one (a recurrent encoder) has memorised
    the training set, and the mean at inference is a true ensemble of heads that each work
    alone. ``solo_rate=0`` is plain joint training of the summed model.

    Args:
        solo_rate: probability in [0, 1] that a training example uses a single head.
        seed: seed of the head choice.

    Input: a list of ``n >= 2`` tensors of equal shape ``(batch, classes)``; output: the same
    shape, the mean logits (inference) or the per-example mix (training).
    """

    def __init__(self, solo_rate: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= solo_rate <= 1.0:
            raise ValueError(f"LogitEnsemble: solo_rate must be in [0, 1], got {solo_rate}")
        self.solo_rate = solo_rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, logits, training=None):
        if len(logits) < 2:
            raise ValueError(f"LogitEnsemble: needs at least 2 heads, got {len(logits)}")
        stacked = ops.stack(logits, axis=1)  # (batch, heads, classes)
        mean = ops.mean(stacked, axis=1)
        if not training or self.solo_rate == 0.0:
            return mean
        batch = ops.shape(stacked)[0]
        heads = len(logits)
        pick = keras.random.randint((batch,), 0, heads, seed=self.seed_generator)
        one_head = ops.sum(stacked * ops.one_hot(pick, heads, dtype=stacked.dtype)[:, :, None], 1)
        solo = keras.random.uniform((batch, 1), seed=self.seed_generator) < self.solo_rate
        return ops.where(solo, one_head, mean)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"solo_rate": self.solo_rate, "seed": self.seed})
        return config
