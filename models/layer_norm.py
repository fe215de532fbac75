"""Layer normalisation as plain functions, shared by the layer-normalised cells.

:func:`layer_norm` is the reference form (a step outside a recurrent loop, mixed precision).
The rest serve the cells' fast step inside ``LayerNormRNN``: on a CPU a recurrent step costs
about one pass over memory per elementwise op on a ``(batch, gates·units)`` tensor, so the
fast step keeps those passes few. A projection ``x W`` is centred by centring the columns of
``W`` once per sequence (:func:`centred_columns`: the mean over the last axis of ``x W`` is
then 0 without computing it), normalised by :func:`normalise_centred`, and differentiated by
:func:`normalised_grad`, written out rather than left to autodiff (which adds a reduction and
a reshape for every broadcast).
"""

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


def centred_columns(kernel):
    """``kernel`` minus the mean of each row, so that every ``x @ centred`` has zero mean over
    its last axis: ``x W - mean(x W) = x (W - mean_cols(W))``."""
    return kernel - ops.mean(kernel, axis=-1, keepdims=True)


def normalise_centred(a, epsilon: float) -> tuple:
    """``(a / sqrt(mean(a²) + eps), 1 / sqrt(mean(a²) + eps))`` for an ``a`` whose last axis
    already has zero mean: the layer norm of ``a`` before its gain and shift."""
    inv_std = ops.rsqrt(ops.mean(ops.square(a), axis=-1, keepdims=True) + epsilon)
    return a * inv_std, inv_std


def normalised_grad(d_normed, normed, inv_std, centre: bool = False):
    """The gradient reaching ``a`` from ``d_normed``, the gradient at ``normed`` (= the layer
    norm of ``a`` before gain and shift, with ``inv_std`` from :func:`normalise_centred` or a
    full layer norm).

    ``centre`` subtracts the mean of ``d_normed`` (a layer norm that centred ``a`` itself).
    Without it the result is right for a projection through :func:`centred_columns` weights:
    that centring's own gradient (taken by autodiff outside the loop) removes the mean from
    the weight gradient, and ``d x = d a · Wᵀ`` is unchanged by it since the rows of the
    centred kernel sum to zero.
    """
    correlation = ops.mean(d_normed * normed, axis=-1, keepdims=True)
    if centre:
        d_normed = d_normed - ops.mean(d_normed, axis=-1, keepdims=True)
    return inv_std * (d_normed - normed * correlation)
