"""Running a portable export's graphs: onnxruntime for ``.onnx``, the TFLite interpreter for
``.tflite``; each loaded graph is ``run(inputs: {name: array}) -> {name: array}``.

A TFLite graph converted for a batch of one (recurrent loops need a static batch to lower to
built-in ops) is run row by row here and its outputs stacked, so both formats take the same
batched inputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def load(path: Path, fmt: str) -> Run:
    """The graph at ``path`` (format ``onnx`` or ``tflite``) as a function of named arrays."""
    return load_onnx(path) if fmt == "onnx" else load_tflite(path)


def load_onnx(path: Path) -> Run:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no "Removing initializer" chatter
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, inputs), strict=True))

    return run


def load_tflite(path: Path) -> Run:
    import tensorflow as tf

    with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": it is what TF has
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner("serving_default")
    details = runner.get_input_details()
    one_row = any(d["shape_signature"][:1].tolist() == [1] for d in details.values())

    def call(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in runner(**inputs).items()}

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not one_row:
            return call(inputs)
        rows = len(next(iter(inputs.values())))
        outs = [call({k: v[i : i + 1] for k, v in inputs.items()}) for i in range(rows)]
        return {k: np.concatenate([o[k] for o in outs], axis=0) for k in outs[0]}

    return run
