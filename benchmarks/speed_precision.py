"""Speed section ``precision``: a BiLSTM(128) train step (T=200, B=64) under ``mixed_bfloat16``
and ``mixed_float16`` against ``float32``, interleaved in one process.

Keras fixes a layer's dtype policy when the layer is made, so the three models live side by
side: the global policy is set before building each one and put back to float32 after. Also
recorded: the policy ``train.mixed_precision: true`` picks on this machine, the CPU's 16-bit
features, and whether the losses stayed finite and the outputs float32 under each policy.
"""

from __future__ import annotations

import math
from typing import Any

from benchmarks.speed_timing import compare

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
CPU_FLAGS = ("avx512_bf16", "amx_bf16", "avx512_fp16", "f16c")


def cpu_flags() -> list[str]:
    """Which of :data:`CPU_FLAGS` this CPU reports (``/proc/cpuinfo``)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in CPU_FLAGS if flag in present]
    except OSError:
        pass
    return []


def has_gpu() -> bool:
    """Whether Keras' backend sees a GPU (TensorFlow, or JAX on a machine without TF)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _model(policy: str, units: int, vocabulary: int):
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = keras.Sequential(
            [
                # int32 ids: otherwise the input takes the policy's float16 and rounds them
                keras.Input(shape=(None,), dtype="int32"),
                keras.layers.Embedding(vocabulary, units),
                keras.layers.Bidirectional(keras.layers.LSTM(units)),
                # float32 output, as every task's head is under mixed precision
                keras.layers.Dense(1, activation="sigmoid", dtype="float32"),
            ]
        )
        # mixed_float16: compile wraps Adam in a LossScaleOptimizer by itself
        model.compile(optimizer="adam", loss="binary_crossentropy")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


def step_ratios(
    units: int = 128, length: int = 200, batch: int = 64, repeats: int = 7, steps: int = 2
) -> dict[str, Any]:
    """Train steps of the three policies' models, interleaved: the :func:`compare` record plus
    whether each policy's losses stayed finite and its outputs were float32."""
    import keras
    import numpy as np

    vocabulary = 5000
    rng = np.random.default_rng(0)
    x = rng.integers(1, vocabulary, size=(batch, length)).astype("int32")
    y = rng.integers(0, 2, size=(batch, 1)).astype("float32")
    models = {policy: _model(policy, units, vocabulary) for policy in POLICIES}
    losses: dict[str, list[float]] = {policy: [] for policy in POLICIES}

    def arm(policy: str):
        def step() -> None:
            for _ in range(steps):  # float(): waits for the step (an accelerator is async)
                losses[policy].append(float(models[policy].train_on_batch(x, y)))

        return step

    failed: dict[str, str] = {}
    for policy in POLICIES[1:]:  # a policy the backend's kernels refuse is recorded, not fatal
        try:
            arm(policy)()
        except Exception as err:  # e.g. JAX's cuDNN RNN has no bfloat16 kernel
            failed[policy] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    working = [p for p in POLICIES if p not in failed]
    timing = compare({p: arm(p) for p in working}, repeats=repeats, warmup=1)
    return {
        "failed": failed,
        "shape": {
            "model": f"Embedding → Bidirectional(keras LSTM({units})) → Dense",
            "sequence_length": length,
            "batch": batch,
            "steps_per_round": steps,
        },
        "timing": timing,
        "losses_finite": {p: all(math.isfinite(v) for v in losses[p]) for p in working},
        "output_dtype": {
            p: keras.backend.standardize_dtype(models[p](x[:2]).dtype) for p in working
        },
    }


def measure(quick: bool) -> dict[str, Any]:
    """The step ratios bf16/fp32 and fp16/fp32 (medians of interleaved rounds)."""
    import keras

    from pipelines.spine.devices import precision_policy

    # the shape in both modes (a shorter sequence changes the ratio); quick: fewer rounds
    units, length, batch = 128, 200, 64
    repeats, steps = (5, 1) if quick else (7, 2)
    found = step_ratios(units, length, batch, repeats, steps)
    ratios = found["timing"]["ratio"]
    finite, outputs = found["losses_finite"], found["output_dtype"]
    works = not found["failed"] and all(finite.values()) and set(outputs.values()) == {"float32"}
    gpu = has_gpu()
    return {
        **found,
        "auto_policy_here": precision_policy(True, gpu),
        "backend": keras.backend.backend(),
        "gpu": gpu,
        "cpu_16bit_flags": cpu_flags(),
        "goals": [
            {
                # issue 14: "mixed precision that helps where it runs"; true picks bfloat16 here
                "name": "bfloat16 / float32 train step (true on CPU)",
                "value": ratios.get("mixed_bfloat16"),
                "op": "<=",
                "target": 1.0,
                "unit": "×",
            }
        ],
        "figures": [
            {
                "name": "float16 / float32 train step",
                "value": ratios.get("mixed_float16"),
                "unit": "×",
            },
            {
                "name": "losses finite and outputs float32 under every policy",
                "value": works,
            },
        ],
        "notes": (
            f"keras LSTM, T={length}, B={batch}; medians of {repeats} interleaved rounds of "
            f"{steps} step(s) each; ratio = paired per round"
        ),
    }
