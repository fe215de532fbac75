"""Distribution strategy and precision from the ``train`` config section."""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from pipelines.spine.sections import TrainConfig


def configure(train: TrainConfig):
    """Sets the precision policy and returns the strategy scope to build the model in.

    ``mirrored`` uses every GPU; on a machine without GPUs it splits the CPU into
    ``train.mirrored_cpu_devices`` logical devices, which exercises the same code path (it is
    not faster). That split has to happen before TensorFlow initialises its devices.
    """
    keras.mixed_precision.set_global_policy("mixed_float16" if train.mixed_precision else "float32")
    if train.strategy == "default":
        return contextlib.nullcontext(), 1
    if not tf.config.list_physical_devices("GPU"):
        wanted = train.mirrored_cpu_devices
        cpu = tf.config.list_physical_devices("CPU")[0]
        # Fails with RuntimeError once TensorFlow has started in this process; checked below.
        with contextlib.suppress(RuntimeError):
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * wanted
            )
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        if len(devices) < wanted:
            raise ValueError(
                f"train.strategy: mirrored needs {wanted} logical CPU devices but TensorFlow "
                f"already started with {len(devices)}; run training in a fresh process"
            )
        strategy = tf.distribute.MirroredStrategy(devices[:wanted])
    else:
        strategy = tf.distribute.MirroredStrategy()
    return strategy.scope(), strategy.num_replicas_in_sync
