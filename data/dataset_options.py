"""tf.data options shared by every input pipeline."""

from __future__ import annotations

import tensorflow as tf


def without_autotune(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data autotune off: it holds ``fit()`` open for seconds after each epoch
    on this stack (STACK.md), and these pipelines are too simple to gain from it."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
