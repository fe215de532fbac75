"""``train.mixed_precision``: which policy it picks where, and that models trained under
bfloat16 (the CPU choice) train with finite losses and export and serve float32 outputs."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from cli_helpers import tiny_config

from pipelines.registry import TASKS, get_task
from pipelines.spine import runner
from pipelines.spine.config import ConfigError, load_config
from pipelines.spine.devices import precision_policy
from pipelines.spine.run_dir import HISTORY_FILE

ONE_STEP = ["train.epochs=1", "train.steps_per_epoch=1", "train.validation_steps=1"]


@pytest.mark.parametrize(
    ("setting", "has_gpu", "policy"),
    [
        (False, False, "float32"),
        (False, True, "float32"),
        (True, False, "mixed_bfloat16"),
        (True, True, "mixed_float16"),
        ("auto", False, "mixed_bfloat16"),
        ("auto", True, "mixed_float16"),
        ("bfloat16", True, "mixed_bfloat16"),
        ("float16", False, "mixed_float16"),
    ],
)
def test_policy_by_setting_and_device(setting, has_gpu, policy):
    assert precision_policy(setting, has_gpu) == policy


def test_config_accepts_booleans_and_the_named_precisions_only():
    task = get_task("sentiment")
    for value, expected in [
        ("true", True),
        ("false", False),
        ("auto", "auto"),
        ("bfloat16", "bfloat16"),
    ]:
        cfg = load_config(
            task.config_class, tiny_config("sentiment"), [f"train.mixed_precision={value}"]
        )
        assert cfg.train.mixed_precision == expected
    with pytest.raises(ConfigError, match=r"train\.mixed_precision"):
        load_config(task.config_class, tiny_config("sentiment"), ["train.mixed_precision=fp16"])


@pytest.fixture
def float32_after():
    yield
    keras.mixed_precision.set_global_policy("float32")  # the policy is process-wide


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_bfloat16_trains_exports_and_serves_float32(task_name, tmp_path, float32_after):
    task = get_task(task_name)
    cfg = load_config(
        task.config_class, tiny_config(task_name), [*ONE_STEP, "train.mixed_precision=bfloat16"]
    )
    run_dir = runner.train(task, cfg, tmp_path / "run")
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"

    history = runner.read_history(run_dir / HISTORY_FILE)
    assert history["loss"] and all(math.isfinite(v) for v in history["loss"])
    model = runner.load_best_model(run_dir)
    dtypes = {layer.compute_dtype for layer in model.layers if layer.trainable_weights}
    assert "bfloat16" in dtypes  # it did compute in bfloat16 somewhere
    assert all(w.dtype == "float32" for w in model.weights if w.dtype.startswith("float"))

    exported = runner.export(task, run_dir)
    served = tf.saved_model.load(str(exported["path"])).signatures["serving_default"]
    specs = served.structured_input_signature[1]
    outputs = served(**{k: tf.constant(v, specs[k].dtype) for k, v in exported["inputs"].items()})
    floats = {k: v for k, v in outputs.items() if v.dtype.is_floating}
    if task_name == "sentiment":
        assert "probability" in floats
    for name, value in floats.items():
        assert value.dtype == tf.float32, name
        assert np.all(np.isfinite(value.numpy())), name
