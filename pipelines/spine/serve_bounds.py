"""Input bounds of the export signatures and of ``predict`` (``cfg.serve``, a
:class:`~pipelines.spine.sections.ServeConfig`) as TensorFlow graph code: texts cut to a number
of characters, a batch over the limit rejected before any work is done.

Every task's ``serving.py`` applies them first thing, so a served model's work is bounded
whatever it is sent (a 1 MB "sentence" costs what ``max_chars`` characters cost).
"""

from __future__ import annotations

from typing import Literal

import tensorflow as tf

Keep = Literal["head", "tail"]


def cut_text(text: tf.Tensor, max_chars: int, keep: Keep = "head") -> tuple[tf.Tensor, tf.Tensor]:
    """[batch] strings → (each cut to its first (``keep="head"``) or last (``"tail"``)
    ``max_chars`` UTF-8 characters, [batch] bool: whether it was cut). A byte that is not
    valid UTF-8 counts as one character (as Python's ``errors="replace"`` would)."""
    length = tf.strings.length(text, unit="UTF8_CHAR")
    start = tf.zeros_like(length) if keep == "head" else tf.maximum(length - max_chars, 0)
    size = tf.fill(tf.shape(length), max_chars)  # substr wants pos and len of one shape
    return tf.strings.substr(text, start, size, unit="UTF8_CHAR"), length > max_chars


def check_batch(inputs: tf.Tensor, max_batch: int) -> tf.Tensor:
    """``inputs`` once its batch (first dimension) is at most ``max_batch``; a larger batch
    fails the call (``InvalidArgumentError`` naming ``serve.max_batch``) before the model runs."""
    check = tf.debugging.assert_less_equal(
        tf.shape(inputs)[0],
        tf.constant(max_batch, tf.int32),
        message=f"serve.max_batch: a call takes at most {max_batch} inputs; split the batch",
    )
    # The identity waits for the check, so nothing downstream starts on a rejected batch.
    with tf.control_dependencies([check] if check is not None else []):
        return tf.identity(inputs)
