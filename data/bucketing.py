"""Batches of variable-length examples, bucketed by length, with their exact count.

Sentiment, NER, POS and translation batch through :func:`batch_by_length`. With bucketing a
batch holds examples of similar length, so the recurrent layers run over little padding;
each length bucket ends with its own partial batch, so a pass has more batches than
``ceil(examples / batch_size)``. The count is computed from the lengths and declared on the
dataset (``assert_cardinality``), so Keras, learning-rate schedules and progress lines know
the true epoch length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from data.dataset_options import without_autotune


@dataclass(frozen=True)
class Batches:
    """A batched dataset and the number of batches in one pass over it."""

    dataset: tf.data.Dataset
    count: int


def length_boundaries(longest: int, first: int = 8, ratio: float = 1.2) -> list[int]:
    """Geometric bucket edges (×``ratio`` from ``first`` tokens) up to ``longest``: a batch
    pads at most ~20% at any length, for sentences of 5 tokens and reviews of 2,700 alike."""
    boundaries, edge = set(), float(first)
    while edge < longest:
        boundaries.add(int(edge))
        edge *= ratio
    return sorted(boundaries)


def batch_count(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    bucketed: bool,
    counts: Sequence[int] | np.ndarray | None = None,
) -> int:
    """Batches :func:`batch_by_length` yields for examples of these ``lengths`` (``lengths[i]``
    ``counts[i]`` times when given: a histogram, for streams never held in memory)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    counts = np.ones_like(lengths) if counts is None else np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if not bucketed or total == 0:
        return -(-total // batch_size)
    # tf.data's bucket i holds boundaries[i-1] <= length < boundaries[i].
    buckets = np.searchsorted(length_boundaries(int(lengths.max())), lengths, side="right")
    per_bucket = np.bincount(buckets, weights=counts).astype(np.int64)
    return int(np.sum(-(-per_bucket // batch_size)))


GRID_FIRST, GRID_RATIO = 8, 1.5


def grid_size(size: int) -> int:
    """The smallest size on the padding grid (8, then ×1.5 rounded up: 8, 12, 18, 27, 41,
    62, 93, 140, ...) that holds ``size``."""
    edge = GRID_FIRST
    while edge < size:
        edge = math.ceil(edge * GRID_RATIO)
    return edge


def _grid(up_to: int = 1 << 24) -> list[int]:
    sizes = [GRID_FIRST]
    while sizes[-1] < up_to:
        sizes.append(grid_size(sizes[-1] + 1))
    return sizes


def pad_to_grid(batch: Any, spec: Any) -> Any:
    """Every tensor of ``batch`` padded with 0 at the end of each axis after the first whose
    size ``spec`` leaves open, up to :func:`grid_size` of its size in this batch."""
    grid = tf.constant(_grid(), tf.int32)

    def pad(tensor: tf.Tensor, tensor_spec: tf.TensorSpec) -> tf.Tensor:
        open_axes = [i for i, d in enumerate(tensor_spec.shape) if i > 0 and d is None]
        if not open_axes:
            return tensor
        shape = tf.shape(tensor)
        paddings = [[0, 0] for _ in tensor_spec.shape]
        for axis in open_axes:
            at = tf.searchsorted(grid, shape[axis : axis + 1], side="left")[0]
            paddings[axis] = [0, tf.gather(grid, at) - shape[axis]]
        return tf.pad(tensor, paddings)

    return tf.nest.map_structure(pad, batch, spec)


def compiles_per_shape() -> bool:
    """Whether the training step is compiled once per input shape (Keras on JAX), so that
    batches should come in few shapes: see :func:`batch_by_length`."""
    import keras

    return keras.config.backend() == "jax"


def batch_by_length(
    ds: tf.data.Dataset,
    lengths: Sequence[int] | np.ndarray,
    *,
    batch_size: int,
    length_of: Callable[..., tf.Tensor],
    padded_shapes: Any,
    bucket_by_length: bool,
    map_batch: Callable[..., Any] | None = None,
    few_shapes: bool | None = None,
    counts: Sequence[int] | np.ndarray | None = None,
) -> Batches:
    """Pads ``ds`` (one example per element, ``lengths[i]`` the length ``length_of`` gives
    for element ``i``) into batches of ``batch_size``, bucketed by length when asked. With
    ``counts``, ``lengths`` is a histogram: ``counts[i]`` elements have length ``lengths[i]``
    (a stream's lengths, counted in a pass, never held one per element).

    Padding is 0. ``map_batch`` is mapped over the padded batches (e.g. to split inputs from
    targets). The result is prefetched, autotune off (see ``dataset_options``).

    ``few_shapes`` (default: when Keras runs on JAX, which compiles the step once per input
    shape) pads every open axis further, up to the next size of a ×1.5 grid
    (:func:`grid_size`): a pass then has a dozen sequence lengths instead of one per batch,
    for ≤ 50% more padding on a batch (which the masks ignore as they do any padding).
    """
    if len(lengths) == 0 or (counts is not None and int(np.sum(counts)) == 0):
        raise ValueError("no examples to batch")
    if bucket_by_length:
        boundaries = length_boundaries(int(np.max(lengths)))
        ds = ds.bucket_by_sequence_length(
            element_length_func=length_of,
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=padded_shapes,
        )
    else:
        ds = ds.padded_batch(batch_size, padded_shapes=padded_shapes)
    count = batch_count(lengths, batch_size, bucket_by_length, counts)
    ds = ds.apply(tf.data.experimental.assert_cardinality(count))
    if compiles_per_shape() if few_shapes is None else few_shapes:
        spec = ds.element_spec
        ds = ds.map(lambda *batch: pad_to_grid(batch if len(batch) > 1 else batch[0], spec))
    if map_batch is not None:
        ds = ds.map(map_batch)
    return Batches(without_autotune(ds.prefetch(2)), count)
