"""Distribution strategy and precision from the ``train`` config section."""

from __future__ import annotations

import contextlib

import keras

from pipelines.spine.sections import TrainConfig


def precision_policy(mixed_precision: bool | str, has_gpu: bool) -> str:
    """The Keras dtype policy ``train.mixed_precision`` asks for on this machine.

    ``false`` → ``float32``; ``true`` or ``auto`` → ``mixed_bfloat16`` on a CPU and
    ``mixed_float16`` on a GPU; ``bfloat16`` / ``float16`` → that one wherever it runs.
    Why the default differs: a CPU without float16 arithmetic converts every float16 op
    (a BiLSTM train step took 2.2× float32's time here), while bfloat16 matmuls run natively
    on AVX512_BF16/AMX CPUs and are at worst emulated (the same step took 1.2× here: its
    per-step matmuls are small and its elementwise ops convert); GPUs have float16 tensor
    cores, and Keras' loss scaling keeps float16 gradients from underflowing. Variables and
    the models' outputs stay float32 under every policy.
    """
    if mixed_precision is False:
        return "float32"
    if mixed_precision in (True, "auto"):
        return "mixed_float16" if has_gpu else "mixed_bfloat16"
    if mixed_precision in ("bfloat16", "float16"):
        return f"mixed_{mixed_precision}"
    raise ValueError(f"train.mixed_precision: {mixed_precision!r} is not a precision")


def configure(train: TrainConfig):
    """Sets the precision policy and returns the strategy scope to build the model in.

    ``mirrored`` uses every GPU; on a machine without GPUs it splits the CPU into
    ``train.mirrored_cpu_devices`` logical devices, which exercises the same code path (it is
    not faster). That split has to happen before TensorFlow initialises its devices.
    """
    import tensorflow as tf  # here: precision_policy alone needs no TensorFlow

    has_gpu = bool(train.mixed_precision) and bool(tf.config.list_physical_devices("GPU"))
    keras.mixed_precision.set_global_policy(precision_policy(train.mixed_precision, has_gpu))
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
