"""Keras' TensorBoard callback, per-epoch only, without its per-batch work."""

from __future__ import annotations

from pathlib import Path

import keras


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Writes what ``keras.callbacks.TensorBoard(update_freq="epoch")`` writes (epoch
    metrics, the learning rate, validation metrics by step) to ``log_dir``'s ``train/`` and
    ``validation/``, and does nothing per batch.

    Keras' callback calls ``tf.summary.scalar`` for every logged value after every batch even
    with ``update_freq="epoch"``, where nothing is recorded; on the sentiment sample config
    that was 2.6% of an epoch.
    """

    def __init__(self, log_dir: str | Path):
        super().__init__(str(log_dir), write_graph=False, update_freq="epoch", profile_batch=0)

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass
