"""One served export: a run directory's SavedModel, its signatures and its ``serve`` bounds."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from pipelines.registry import config_class
from pipelines.server.request_error import RequestError
from pipelines.server.run_exports import VERSION, export_path, run_task
from pipelines.server.tensor_info import TensorInfo
from pipelines.spine.config import load_config, to_dict
from pipelines.spine.run_dir import CONFIG_FILE, INFO_FILE
from pipelines.spine.sections import ServeConfig

INFO_ENTRY_LIMIT = 4096  # info.json entries larger than this (vocabularies) stay out of /v1/models

# tf.debugging.assert_*: "assertion failed: [<message>] [<data>] [<data>]"
ASSERTION = re.compile(r"assertion failed: \[(.*?)\]((?: \[[^\[\]]*\])*)")


@dataclass
class ServedModel:
    """A loaded export: call :meth:`predict` with arrays; :meth:`summary`, :meth:`status` and
    :meth:`metadata` describe it. Calling one from several threads at once is safe (a loaded
    SavedModel's concrete functions keep no per-call Python state; TensorFlow releases the GIL
    while they run)."""

    name: str
    task: str
    run_dir: Path
    bounds: ServeConfig
    config: dict[str, Any]
    info: dict[str, Any]
    signature_defs: dict[str, Any]
    functions: dict[str, Any] = field(repr=False)
    inputs: dict[str, dict[str, TensorInfo]]
    outputs: dict[str, dict[str, TensorInfo]]
    loaded: Any = field(repr=False)  # owns the functions' variables and tables

    @classmethod
    def load(cls, name: str, run_dir: Path) -> ServedModel:
        """Loads ``run_dir``'s export and reads its config (bounds) and ``info.json``."""
        task = run_task(run_dir)
        cfg = load_config(config_class(task), run_dir / CONFIG_FILE)
        info_path = run_dir / INFO_FILE
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
        loaded = tf.saved_model.load(str(export_path(run_dir)))
        functions = {k: f for k, f in loaded.signatures.items() if not k.startswith("__")}
        return cls(
            name=name,
            task=task,
            run_dir=run_dir.resolve(),
            bounds=cfg.serve,
            config=to_dict(cfg),
            info={k: v for k, v in info.items() if len(json.dumps(v)) <= INFO_ENTRY_LIMIT},
            signature_defs=_signature_defs(export_path(run_dir)),
            functions=functions,
            inputs={k: _input_infos(f) for k, f in functions.items()},
            outputs={k: _output_infos(f) for k, f in functions.items()},
            loaded=loaded,
        )

    def signature(self, name: str | None) -> str:
        """``name`` (default ``serving_default``) once it is one of the model's signatures."""
        name = name or "serving_default"
        if not isinstance(name, str) or name not in self.functions:
            raise RequestError(
                400,
                f"signature_name {name!r} not found (model {self.name!r} has "
                f"{', '.join(sorted(self.functions))})",
            )
        return name

    def predict(self, signature: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls ``signature`` on ``arrays`` (checked against its inputs); outputs as arrays.
        The graph's own refusals (a forecasting window of the wrong shape, NaN, a batch over
        ``serve.max_batch``) become a :class:`RequestError` with their message."""
        specs = self.inputs[signature]
        tensors = {k: tf.constant(v, dtype=specs[k].dtype) for k, v in arrays.items()}
        try:
            outputs = self.functions[signature](**tensors)
        except tf.errors.InvalidArgumentError as err:
            message = graph_message(err)
            status = 413 if message.startswith("serve.max_batch") else 400
            raise RequestError(status, message) from None
        except tf.errors.OpError as err:
            raise RequestError(500, f"the model failed: {graph_message(err)}") from None
        return {k: v.numpy() for k, v in outputs.items()}

    def status(self) -> dict[str, Any]:
        """TF Serving's ``GET /v1/models/<name>`` answer."""
        return {
            "model_version_status": [
                {
                    "version": VERSION,
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    def metadata(self) -> dict[str, Any]:
        """TF Serving's ``GET /v1/models/<name>/metadata`` answer (the SignatureDefs)."""
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": VERSION},
            "metadata": {"signature_def": {"signature_def": self.signature_defs}},
        }

    def summary(self) -> dict[str, Any]:
        """This model's entry in ``GET /v1/models`` (what a page needs to call it)."""
        return {
            "name": self.name,
            "task": self.task,
            "version": VERSION,
            "state": "AVAILABLE",
            "run_dir": str(self.run_dir),
            "page": f"/pages/{self.task}.html",
            "signatures": {
                sig: {
                    "inputs": {k: v.as_json() for k, v in self.inputs[sig].items()},
                    "outputs": {k: v.as_json() for k, v in self.outputs[sig].items()},
                }
                for sig in sorted(self.functions)
            },
            "bounds": to_dict(self.bounds),
            "info": self.info,
            "config": self.config,
        }


def graph_message(err: tf.errors.OpError) -> str:
    """A TensorFlow error's own message: its last line before the graph context TensorFlow
    appends, an assertion's ``[message] [data]`` as ``message data``."""
    text = err.message.split("\n\t [[")[0].split(" [Op:")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else type(err).__name__
    asserted = ASSERTION.fullmatch(last)
    if asserted:
        last = f"{asserted.group(1)}{asserted.group(2)}"
    return last


def _info(spec: Any) -> TensorInfo:
    shape = () if spec.shape.rank is None else tuple(spec.shape.as_list())
    return TensorInfo(spec.dtype.name, shape)


def _input_infos(function: Any) -> dict[str, TensorInfo]:
    return {k: _info(v) for k, v in sorted(function.structured_input_signature[1].items())}


def _output_infos(function: Any) -> dict[str, TensorInfo]:
    return {k: _info(v) for k, v in sorted(function.structured_outputs.items())}


def _signature_defs(path: Path) -> dict[str, Any]:
    """The export's SignatureDefs as TF Serving writes them in JSON (proto field names, default
    values included: ``"unknown_rank": false``, dimension sizes as strings)."""
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    graph = next(g for g in saved.meta_graphs if "serve" in g.meta_info_def.tags)
    return {
        name: json_format.MessageToDict(
            graph.signature_def[name],
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
        )
        for name in sorted(graph.signature_def)
    }
