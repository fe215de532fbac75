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

A task that reads only its own share of the data (the char LM's ``data.source: stream``: each
process reads its own lanes) says so with ``Prepared.per_process``; the runner then slices
nothing, and the task keeps the same rule: process ``i``'s batches are rows ``[i*k, (i+1)*k)``
of the global ones, and every process has as many batches of the same shapes
(:func:`process_share` tells it ``i`` and ``n``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import numpy as np
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


def forward_per_device(model: keras.Model) -> None:
    """Runs ``model``'s forward pass on each device's rows alone (``jax.shard_map``), so its
    gradient is summed over devices once per step.

    Left to Keras' automatic partitioning, the weights' gradient inside a recurrent layer's
    loop is a sum over the sharded batch axis at every time step, and XLA all-reduces it at
    every step: thousands of small collectives per training step, which made two processes
    13× slower than one. Per device, the loop's sums stay local and the one all-reduce happens
    where the replicated weights enter the mapped function.

    What changes against one process: dropout draws its own masks on each device (the seed is
    offset by the device index; one shared seed would repeat the same mask on every shard),
    and a loss added by a layer (``add_loss``: the CRF, the tag softmax) is the mean of the
    devices' values rather than one value over the global batch. Without either, the weights
    equal one process's (tests/test_workers.py). A stateful stack's carried state (one row per
    lane of the global batch) is split by rows like the batch."""
    import jax
    from jax.sharding import PartitionSpec

    distribution = keras.distribution.distribution()
    mesh, axis = distribution.device_mesh.backend_mesh, distribution.batch_dim_name
    rows, whole = PartitionSpec(axis), PartitionSpec()
    whole_call = model.stateless_call

    def stateless_call(trainable, non_trainable, *args, return_losses=False, **kwargs):
        # Read at trace time: a model built by its first batch has no variables before it.
        carried = [
            v
            for layer in model._flatten_layers()
            for v in getattr(layer, "carried_states", ())  # models.rnn_stack.RNNStack
        ]
        by_rows = {id(v) for v in carried}
        variables = model.non_trainable_variables
        specs = [rows if id(v) in by_rows else whole for v in variables]
        seeds = [v.path.endswith("seed_generator_state") for v in variables]

        def offset_seeds(values, sign):
            shift = jax.lax.axis_index(axis).astype("uint32") * np.uint32(_SEED_STRIDE)
            shift = shift if sign > 0 else -shift  # uint32 wraps around, so this undoes it
            return [v.at[0].add(shift) if s else v for v, s in zip(values, seeds, strict=True)]

        def local(trainable, non_trainable, args):
            with _rows_of_one_device(carried, mesh.shape[axis]):
                out = whole_call(
                    trainable,
                    offset_seeds(non_trainable, 1),
                    *args,
                    return_losses=return_losses,
                    **kwargs,
                )
            outputs, non_trainable = out[0], offset_seeds(out[1], -1)
            if not return_losses:
                return outputs, non_trainable
            return outputs, non_trainable, [jax.lax.pmean(loss, axis) for loss in out[2]]

        mapped = jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(whole, specs, rows),
            out_specs=(rows, specs, whole) if return_losses else (rows, specs),
            check_vma=False,  # the seeds and pmean'd losses are equal on every device
        )
        return mapped(trainable, non_trainable, args)

    model.stateless_call = stateless_call


@contextlib.contextmanager
def _rows_of_one_device(carried: list[keras.Variable], devices: int) -> Iterator[None]:
    """While one device's rows are traced, a carried state's variable has the shape of its
    share: Keras checks each value it is given against its variable's shape."""
    shapes = [v.shape for v in carried]
    try:
        for variable, shape in zip(carried, shapes, strict=True):
            variable._shape = (shape[0] // devices, *shape[1:])
        yield
    finally:
        for variable, shape in zip(carried, shapes, strict=True):
            variable._shape = shape


# Added to a seed generator's first word per device index (the golden-ratio constant, so
# the devices' seeds are far apart).
_SEED_STRIDE = 0x9E3779B9


def process_share(distribution: str) -> tuple[int, int]:
    """(this process's index, the process count) for a task that reads only its own share of
    the data (``Prepared.per_process``); ``(0, 1)`` unless ``distribution`` is data_parallel.
    Its batches must hold rows ``[i*k, (i+1)*k)`` of the global batch, as :func:`local_rows`
    keeps, and every process the same number of batches."""
    if distribution != "data_parallel":
        return 0, 1
    import jax

    return jax.process_index(), jax.process_count()


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
