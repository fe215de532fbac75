"""Word dropout: during training, replace random tokens with the out-of-vocabulary id."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class TokenDropout(keras.layers.Layer):
    """Replaces each real token id with ``oov_id`` with probability ``rate`` while training.

    Padding (``id == 0``) is never touched, so masks are unchanged. Unlike dropout on
    embeddings, the model sees whole words go missing, which keeps it from leaning on a few
    memorised words (Iyyer et al. 2015; Lample et al. 2016 use the same idea for NER).
    """

    def __init__(self, rate: float, oov_id: int = 1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"token dropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.oov_id = oov_id
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, token_ids, training=None):
        if not training or self.rate == 0.0:
            return token_ids
        noise = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator)
        drop = ops.logical_and(noise < self.rate, token_ids != 0)
        return ops.where(drop, ops.cast(self.oov_id, token_ids.dtype), token_ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "oov_id": self.oov_id, "seed": self.seed})
        return config
