"""``export --format onnx|tflite``: a run's numeric core as ONNX or TFLite, checked against
the trained model before it is written.

A task's :class:`PortableModel` names its numeric graphs (e.g. token ids → probability); each
is converted (tf2onnx, or the TFLite converter with built-in ops only), run by onnxruntime or
the TFLite interpreter on the part's example, and compared with the same graph run by
TensorFlow: the largest absolute difference goes into ``manifest.json`` and a difference over
:data:`TOLERANCE` fails the export. The directory ``<run>/export_<format>/`` holds one file per
graph, the task's vocabulary and label files, ``manifest.json`` (the input contract) and a
one-page ``README.md``; it replaces an earlier one in one rename.

TFLite: a recurrent layer's loop lowers to built-in ops only with a static batch, so a graph
whose conversion or run fails with a free batch axis is converted again for a batch of one
(``manifest.json`` says which). Select TF ops (Flex) convert too, but the interpreter in the
``tensorflow`` wheel cannot run them, so no parity could be checked: they are not used.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.spine import quiet
from pipelines.spine.atomic import (
    recover_directory,
    replace_directory,
    temp_sibling,
    write_json,
    write_text,
)
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.portable_part import PortablePart
from pipelines.spine.portable_runtime import load
from pipelines.spine.runner import load_best_model, load_run
from pipelines.spine.task import Task

FORMATS = ("onnx", "tflite")
SUFFIXES = {"onnx": ".onnx", "tflite": ".tflite"}
ONNX_OPSET = 17
# Float outputs may differ by at most TOLERANCE × max(1, largest |reference value|); integer
# and boolean outputs (tag ids, masks) must be equal.
TOLERANCE = 1e-4


def export_dir(run_dir: Path, fmt: str) -> Path:
    """Where ``export --format fmt`` writes: ``<run>/export_<fmt>/``."""
    return run_dir / f"export_{fmt}"


def export_portable(task: Task, run_dir: Path, fmt: str) -> dict[str, Any]:
    """Converts the run's best checkpoint to ``fmt`` (``onnx`` or ``tflite``) into
    :func:`export_dir`; returns the manifest. Raises ``ValueError`` (one line) naming the
    graph that does not convert or does not match."""
    if fmt not in FORMATS:
        raise ValueError(f"--format: one of savedmodel, {', '.join(FORMATS)}; got {fmt!r}")
    cfg, info = load_run(task, run_dir)
    model = load_best_model(run_dir)
    portable: PortableModel = task.portable(model, cfg, info)
    path = export_dir(run_dir, fmt)
    recover_directory(path)  # what a kill in an earlier export left
    temp = temp_sibling(path)
    try:
        temp.mkdir()
        parts = {}
        for part in portable.parts:
            task.say(f"{fmt}: converting {part.name}")
            parts[part.name] = _write_part(task, part, fmt, temp)
        for name, text in portable.files.items():
            write_text(temp / name, text)
        manifest = {
            "task": task.name,
            "format": fmt,
            "run": str(run_dir),
            "parts": parts,
            "contract": portable.contract,
            "files": sorted(portable.files),
            "not_included": portable.outside,
            "tolerance": f"max abs diff <= {TOLERANCE:g} x max(1, max |reference|); ints equal",
        }
        write_json(temp / "manifest.json", manifest)
        write_text(temp / "README.md", readme(manifest))
        replace_directory(temp, path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    sizes = ", ".join(f"{n} {p['bytes'] / 1e3:.0f} kB" for n, p in parts.items())
    diffs = max(p["parity_max_abs_diff"] for p in parts.values())
    task.say(f"exported {path} ({sizes}; parity max abs diff {diffs:.2g})")
    return manifest


def _write_part(task: Task, part: PortablePart, fmt: str, folder: Path) -> dict[str, Any]:
    """Converts ``part``, writes it into ``folder``, checks it; its manifest entry."""
    file = folder / f"{part.name}{SUFFIXES[fmt]}"
    reference = reference_outputs(part)
    if fmt == "onnx":
        file.write_bytes(_onnx(task, part))
        batch = None
        try:
            got = load(file, fmt)(part.example)
        except Exception as err:
            raise ValueError(
                f"{task.name}: onnx: {part.name} converts but onnxruntime cannot run it: "
                f"{_one_line(err)}"
            ) from err
    else:
        batch, got = _tflite(task, part, file)
    diff = _check(task, fmt, part, reference, got)
    return {
        "file": file.name,
        "bytes": file.stat().st_size,
        "batch": batch,
        "inputs": [_spec(s, batch) for s in part.inputs],
        "outputs": [
            {"name": k, "dtype": str(v.dtype), "shape": ["batch", *v.shape[1:]]}
            for k, v in sorted(reference.items())
        ],
        "parity_max_abs_diff": diff,
        "parity_rows": len(next(iter(part.example.values()))),
    }


def reference_outputs(part: PortablePart) -> dict[str, np.ndarray]:
    """The part's outputs on its example, run by TensorFlow: what a conversion must match."""
    import tensorflow as tf

    fn = tf.function(part.function, input_signature=list(part.inputs))
    outputs = fn(*(part.example[s.name] for s in part.inputs))
    return {k: np.asarray(v) for k, v in outputs.items()}


def _spec(spec: Any, batch: int | None) -> dict[str, Any]:
    shape = [batch or "batch", *(d if d is not None else "any" for d in spec.shape[1:])]
    return {"name": spec.name, "dtype": spec.dtype.name, "shape": shape}


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Runs the block with stdout and file descriptor 2 discarded (unless
    ``PIPELINES_VERBOSE``): the converters print MLIR diagnostics and Python warnings there
    from native code, and their exceptions already say what failed."""
    if quiet.verbose_requested([]):
        yield
        return
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    previous = logging.getLogger("tensorflow").level
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # "Issue … table_initializer"
    with (
        open(os.devnull, "wb") as null,
        contextlib.redirect_stdout(io.StringIO()),
        quiet.stderr_fd_to(null.fileno()),
    ):
        try:
            yield
        finally:
            logging.getLogger("tensorflow").setLevel(previous)


def _one_line(err: BaseException) -> str:
    """The gist of a converter error: the first op it names and where (its MLIR locations
    run to pages), else its first line."""
    ops = re.findall(r'fused\["(\w+):", "([^"@]+)', str(err))
    if ops:
        op, where = ops[0]
        return f"tf.{op} in {where.rsplit('/', 1)[0]} (needs Flex ops)"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= 160 else text[:160] + "…"


def _onnx(task: Task, part: PortablePart) -> bytes:
    import tensorflow as tf
    import tf2onnx

    fn = tf.function(part.function, input_signature=list(part.inputs))
    try:
        with _silenced():
            proto, _ = tf2onnx.convert.from_function(
                fn, input_signature=list(part.inputs), opset=ONNX_OPSET
            )
    except Exception as err:
        raise ValueError(
            f"{task.name}: onnx: {part.name} does not convert: {_one_line(err)}"
        ) from err
    return proto.SerializeToString()


def _tflite(task: Task, part: PortablePart, file: Path) -> tuple[int | None, dict[str, Any]]:
    """Converts with a free batch axis, else for a batch of one; returns the batch (None =
    any) and the converted graph's outputs on the example."""
    failures = []
    for batch in (None, 1):
        try:
            with _silenced():
                file.write_bytes(_tflite_bytes(part, batch))
                return batch, load(file, "tflite")(part.example)
        except Exception as err:  # the next way, or the one-line error below
            failures.append(f"batch {batch or 'any'}: {_one_line(err)}")
    raise ValueError(
        f"{task.name}: tflite: {part.name} does not convert with built-in ops "
        f"({'; '.join(failures)})"
    )


def _tflite_bytes(part: PortablePart, batch: int | None) -> bytes:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    specs = [tf.TensorSpec([batch, *s.shape[1:]], s.dtype, name=s.name) for s in part.inputs]
    concrete = tf.function(part.function, input_signature=specs).get_concrete_function()
    # Weights as constants: variables read inside a converted WHILE body are left
    # uninitialised by the interpreter ("READ_VARIABLE failed to invoke").
    frozen = convert_variables_to_constants_v2(concrete)
    structure = concrete.structured_outputs

    @tf.function(input_signature=specs)
    def graph(*args):
        return tf.nest.pack_sequence_as(structure, frozen(*args))

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [graph.get_concrete_function()], tf.Module()
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _check(
    task: Task,
    fmt: str,
    part: PortablePart,
    reference: dict[str, np.ndarray],
    got: dict[str, np.ndarray],
) -> float:
    """The largest absolute difference over every output; a ``ValueError`` beyond
    :data:`TOLERANCE` (floats) or any difference (integers)."""
    worst = 0.0
    for name, expected in reference.items():
        actual = np.asarray(got.get(name))
        if actual.shape != expected.shape:
            raise ValueError(
                f"{task.name}: {fmt}: {part.name} output {name!r} has shape "
                f"{list(actual.shape)}, the model's is {list(expected.shape)}"
            )
        diff = float(np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0))
        exact = not np.issubdtype(expected.dtype, np.floating)
        limit = 0.0 if exact else TOLERANCE * max(1.0, float(np.max(np.abs(expected), initial=0)))
        if diff > limit:
            raise ValueError(
                f"{task.name}: {fmt}: {part.name} output {name!r} differs from the model's by "
                f"{diff:.3g} (allowed {limit:.3g})"
            )
        worst = max(worst, diff)
    return worst


def readme(manifest: dict[str, Any]) -> str:
    """The one-page ``README.md`` of an export directory, from its manifest."""
    fmt = manifest["format"]
    lines = [
        f"# {manifest['task']}: {fmt.upper()} export",
        "",
        "The numeric core of the trained model; strings (tokenising, vocabularies, tag names)"
        " stay with the caller, as the contract below says.",
        "",
        "## Graphs",
        "",
    ]
    for part in manifest["parts"].values():
        ins = ", ".join(f"`{s['name']}` {s['dtype']} {s['shape']}" for s in part["inputs"])
        outs = ", ".join(f"`{s['name']}` {s['dtype']} {s['shape']}" for s in part["outputs"])
        lines += [
            f"- `{part['file']}` ({part['bytes']:,} bytes): {ins} → {outs}; parity with the "
            f"Keras model: max abs diff {part['parity_max_abs_diff']:.2g} on "
            f"{part['parity_rows']} rows",
        ]
    lines += ["", "## Input contract", ""]
    lines += [f"- **{k}**: {v}" for k, v in manifest["contract"].items()]
    if manifest["files"]:
        lines += ["", "Files beside the graphs: " + ", ".join(f"`{f}`" for f in manifest["files"])]
    if manifest["not_included"]:
        lines += [
            "",
            f"**Not included** (the SavedModel does it in its graph): {manifest['not_included']}.",
        ]
    run = (
        "`onnxruntime.InferenceSession(path).run(None, {name: array})`"
        if fmt == "onnx"
        else "`tf.lite.Interpreter(model_path=path).get_signature_runner()(**{name: array})`"
        " (a graph with batch 1 takes one row a call)"
    )
    lines += ["", f"Run: {run}. Tolerance: {manifest['tolerance']}.", ""]
    return "\n".join(lines)
