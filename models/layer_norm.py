"""Layer normalisation as a plain function, shared by the layer-normalised cells."""

from __future__ import annotations

from keras import ops


def layer_norm(x, gamma, beta, epsilon: float = 1e-5):
    """Normalises the last axis of ``x`` to zero mean and unit variance, then scales/shifts.

    Statistics are computed in float32 so that mixed-precision (float16) cells stay stable.
    """
    dtype = x.dtype
    x32 = ops.cast(x, "float32")
    mean = ops.mean(x32, axis=-1, keepdims=True)
    var = ops.mean(ops.square(x32 - mean), axis=-1, keepdims=True)
    normed = ops.cast((x32 - mean) * ops.rsqrt(var + epsilon), dtype)
    return normed * ops.cast(gamma, dtype) + ops.cast(beta, dtype)
