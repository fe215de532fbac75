"""Which Keras backend a process runs on (``train.backend``).

Keras reads ``KERAS_BACKEND`` once, when it is first imported, and one process cannot switch
afterwards. So the CLI calls :func:`select_backend` after the config is read and before
anything imports Keras; a process that already imported Keras with another backend is refused
with one line rather than training on the wrong one. TensorFlow itself is imported on both
backends: tf.data is the input pipeline whichever backend runs the model.

``evaluate``, ``export`` and ``predict`` always run on ``tensorflow`` (:data:`SERVING`): the
``.keras`` checkpoint is backend-independent, and the SavedModel signatures need TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

BACKENDS = ("tensorflow", "jax")
SERVING = "tensorflow"  # evaluate, export and predict load the checkpoint on this backend
ENV = "KERAS_BACKEND"


class BackendError(ValueError):
    """Keras was already imported on another backend than the one asked for."""


def select_backend(name: str) -> None:
    """Makes this process's Keras run on ``name`` (``tensorflow`` or ``jax``): sets
    ``KERAS_BACKEND`` before Keras is imported. Raises :class:`BackendError` (one line) if
    Keras is already loaded with another backend, and ``ValueError`` for an unknown name."""
    if name not in BACKENDS:
        raise ValueError(f"train.backend: {name!r} is not one of {', '.join(BACKENDS)}")
    loaded = current_backend()
    if loaded is not None and loaded != name:
        raise BackendError(
            f"train.backend: Keras is already loaded on {loaded!r} in this process and cannot "
            f"switch to {name!r}; start a new process (or set {ENV}={name})"
        )
    os.environ[ENV] = name
    if name == "jax":
        # JAX must not take the whole accelerator memory that TensorFlow (tf.data) shares.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def keep_tensorflow_off_accelerators() -> None:
    """On a backend other than TensorFlow, TensorFlow runs the input pipeline only: hiding the
    GPUs from it (after it is imported, before it starts) keeps it from reserving the
    accelerator memory the model needs."""
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # TensorFlow already started: nothing to do
        tf.config.set_visible_devices([], "GPU")


def graph_function(function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``tf.function(function, **options)`` on the TensorFlow backend; elsewhere
    ``function`` itself, run eagerly.

    A model on another backend cannot be traced into a TensorFlow graph, but its
    TensorFlow-side code (string ops, lookups, ``tf.while_loop``) runs eagerly on eager
    tensors and hands the model arrays it converts. So the validation callbacks and samples
    during JAX training use the very functions the TensorFlow export traces."""
    if (current_backend() or os.environ.get(ENV, SERVING)) == "tensorflow":
        import tensorflow as tf

        return tf.function(function, **options)
    return function


def current_backend() -> str | None:
    """The backend Keras runs on in this process, or ``None`` when Keras is not imported."""
    keras = sys.modules.get("keras")
    name = getattr(getattr(keras, "backend", None), "backend", None)  # None mid-import
    return name() if callable(name) else None
