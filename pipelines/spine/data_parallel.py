"""``train.distribution: data_parallel``: Keras' DataParallel over the devices of every
process, and each process's rows of the global batches.

Every process builds the same stream of global batches (same data, same seed, same shuffle)
and keeps its own contiguous block of rows of each: process ``i`` of ``n`` feeds rows
``[i*k, (i+1)*k)``, ``k = rows // n``. Keras joins the blocks into one global array, so one
step sees exactly the global batch a single process would (``train.batch_size`` is global)
and the weights stay the same whatever ``n`` is. Slicing batches rather than sharding
examples before batching is what keeps the processes in step: with length bucketing, shards
batched apart would give each process a different number of batches and different padded
lengths, and a collective step with unequal shapes fails or waits forever.

A batch whose row count is not a multiple of ``n`` (the last of an epoch or of a length
bucket) loses its last ``rows % n`` rows; one with fewer rows than processes is skipped. With
one process nothing is dropped.

Validation is not sliced: every process feeds every validation batch, so the global
evaluation batch is ``n`` copies of it and every metric that is a ratio of sums (loss,
accuracy, AUC, F1 counts) comes out exactly as on one process, on every process. A stateful
model (the char LM's lanes) is the exception: its state has one row per lane of the global
batch, so its validation batches (always ``train.batch_size`` rows) are sliced like training.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pipelines.spine.cluster import Cluster


def distribute() -> int:
    """Makes Keras place variables and batches over every device of every process (call
    before the model is built); returns the device count."""
    import jax

    devices = jax.devices()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    )
    return len(devices)


def local_rows(dataset: tf.data.Dataset, cluster: Cluster) -> tf.data.Dataset:
    """This process's rows of every batch of ``dataset`` (elements: nested tensors with the
    batch on axis 0); see the module docstring for batches that do not divide evenly."""
    if cluster.num_processes == 1:
        return dataset
    n = cluster.num_processes

    def enough(*element):
        return _rows(element) >= n

    return dataset.filter(enough).map(_block(cluster))


def validation_rows(
    dataset: tf.data.Dataset, model: keras.Model, cluster: Cluster
) -> tf.data.Dataset:
    """What this process feeds for validation: every batch whole, or for a stateful model its
    own rows of each (its batches all have ``train.batch_size`` rows, a multiple of the
    process count, so none is dropped and the dataset keeps its length)."""
    stateful = any(getattr(layer, "stateful", False) for layer in model._flatten_layers())
    if cluster.num_processes == 1 or not stateful:
        return dataset
    return dataset.map(_block(cluster))


def _rows(element) -> tf.Tensor:
    return tf.shape(tf.nest.flatten(element)[0])[0]


def _block(cluster: Cluster):
    """A ``Dataset.map`` function keeping this process's block of rows of a batch."""
    n, index = cluster.num_processes, cluster.process_id

    def block(*element):
        k = _rows(element) // n
        sliced = tf.nest.map_structure(lambda t: t[index * k : (index + 1) * k], element)
        return sliced if len(sliced) > 1 else sliced[0]

    return block
