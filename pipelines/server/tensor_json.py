"""TF Serving's JSON tensors: a predict request's body to one array per signature input, and a
signature's outputs back to JSON, in the row (``instances``/``predictions``) or columnar
(``inputs``/``outputs``) format.

Strings are JSON strings (UTF-8; ``{"b64": "..."}`` for raw bytes, as TF Serving accepts),
numbers JSON numbers. Every problem is a :class:`RequestError` naming the input: 400 for what
is malformed, 413 for a batch over ``serve.max_batch``, checked before any array is built.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from pipelines.server.request_error import RequestError
from pipelines.server.tensor_info import TensorInfo

NUMPY_DTYPES = {
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "bool": np.bool_,
}


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object (400 naming the line and column where it is not)."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError as err:
        raise RequestError(400, f"bad JSON: the body is not UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise RequestError(
            400, f"bad JSON: {err.msg} (line {err.lineno} column {err.colno})"
        ) from None
    if not isinstance(data, dict):
        raise RequestError(400, f"bad request: expected a JSON object, got {_kind(data)}")
    return data


def request_arrays(
    data: Mapping[str, Any], specs: Mapping[str, TensorInfo], max_batch: int
) -> tuple[dict[str, np.ndarray], bool]:
    """(one array per input of the signature, whether the request used the row format).
    ``data`` is the parsed body; ``specs`` the signature's inputs."""
    if ("instances" in data) == ("inputs" in data):
        raise RequestError(
            400, 'bad request: expected exactly one of "instances" (rows) or "inputs" (columns)'
        )
    if "instances" in data:
        return _rows(data["instances"], specs, max_batch), True
    return _columns(data["inputs"], specs, max_batch), False


def _too_many(count: int, max_batch: int) -> RequestError:
    # The same words as the signature's own check (serve_bounds.check_batch), plus the count.
    return RequestError(
        413,
        f"serve.max_batch: a call takes at most {max_batch} inputs; split the batch "
        f"(this request has {count})",
    )


def _rows(instances: Any, specs: Mapping[str, TensorInfo], max_batch: int) -> dict:
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, '"instances": expected a non-empty list (one entry per input)')
    if len(instances) > max_batch:
        raise _too_many(len(instances), max_batch)
    scalars = [name for name, spec in specs.items() if not spec.shape]
    if scalars:
        raise RequestError(
            400,
            f"input {scalars[0]!r} is a scalar, which the row format cannot carry: send "
            f'{{"inputs": {{...}}}} (columnar) with every input named',
        )
    names = list(specs)
    columns: dict[str, list] = {name: [] for name in names}
    for index, instance in enumerate(instances):
        if len(names) == 1 and not _named(instance, names):
            columns[names[0]].append(instance)
            continue
        if not isinstance(instance, dict):
            raise RequestError(
                400, f"instances[{index}]: expected an object with the inputs {', '.join(names)}"
            )
        _check_names(instance, specs, f"instances[{index}]")
        for name in names:
            columns[name].append(instance[name])
    return {name: to_array(columns[name], specs[name], name) for name in names}


def _named(instance: Any, names: list[str]) -> bool:
    """Whether a value is an object of named inputs (``{"text": ...}``), not one input's value:
    a list, a string, a number or ``{"b64": ...}`` (bytes) of a one-input signature."""
    return isinstance(instance, dict) and not (set(instance) == {"b64"} and names != ["b64"])


def _columns(inputs: Any, specs: Mapping[str, TensorInfo], max_batch: int) -> dict:
    names = list(specs)
    if not isinstance(inputs, dict) or (len(names) == 1 and not _named(inputs, names)):
        if len(names) != 1:
            raise RequestError(
                400, f'"inputs": expected an object with the inputs {", ".join(names)}'
            )
        inputs = {names[0]: inputs}
    _check_names(inputs, specs, '"inputs"')
    for name, spec in specs.items():
        if spec.shape and isinstance(inputs[name], list) and len(inputs[name]) > max_batch:
            raise _too_many(len(inputs[name]), max_batch)
    return {name: to_array(inputs[name], specs[name], name) for name in names}


def _check_names(given: Mapping[str, Any], specs: Mapping[str, TensorInfo], where: str) -> None:
    takes = ", ".join(specs)
    for name in specs:
        if name not in given:
            raise RequestError(
                400, f"{where}: missing input {name!r} (the signature takes {takes})"
            )
    for name in given:
        if name not in specs:
            raise RequestError(
                400, f"{where}: unknown input {name!r} (the signature takes {takes})"
            )


def to_array(value: Any, spec: TensorInfo, name: str) -> np.ndarray:
    """``value`` (nested JSON lists) as an array of ``spec``'s dtype, its shape checked against
    ``spec``'s (400 naming ``name`` on a wrong dtype, a ragged list or a wrong shape)."""
    if spec.dtype == "string":
        shape, leaves = _nested(value, name)
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        array = array.reshape(shape)
    else:
        array = _numbers(value, spec, name)
    if len(array.shape) != len(spec.shape) or any(
        want is not None and got != want for got, want in zip(array.shape, spec.shape, strict=True)
    ):
        got = "[" + ", ".join(str(d) for d in array.shape) + "]"
        raise RequestError(400, f"input {name!r}: expected shape {spec.shape_text()}, got {got}")
    return array


def _nested(value: Any, name: str) -> tuple[tuple[int, ...], list]:
    """(shape, leaves in row-major order) of nested lists of strings."""
    if isinstance(value, list):
        shapes, leaves = [], []
        for item in value:
            shape, items = _nested(item, name)
            shapes.append(shape)
            leaves.extend(items)
        if any(shape != shapes[0] for shape in shapes):
            raise RequestError(400, f"input {name!r}: lists of different lengths (ragged)")
        return (len(value), *(shapes[0] if shapes else ())), leaves
    return (), [_string(value, name)]


def _string(value: Any, name: str) -> str | bytes:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error:
            raise RequestError(400, f"input {name!r}: invalid base64 in a b64 value") from None
    raise RequestError(400, f"input {name!r}: expected strings, got {_kind(value)}")


def _numbers(value: Any, spec: TensorInfo, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError:  # numpy 2 refuses ragged nesting
        raise RequestError(400, f"input {name!r}: lists of different lengths (ragged)") from None
    want = np.dtype(NUMPY_DTYPES.get(spec.dtype, np.float32))
    kind = array.dtype.kind
    got = {"U": "strings", "b": "true/false", "O": "values that are not all numbers"}.get(
        kind, "numbers"
    )
    if want.kind == "b":
        if kind != "b":
            raise RequestError(400, f"input {name!r}: expected true/false, got {got}")
        return array
    fractions = kind == "f" and want.kind in "iu" and not _integral(array)
    if kind not in "iuf" or fractions:
        got = "numbers that are not whole" if fractions else got
        wanted = "integers" if want.kind in "iu" else "numbers"
        raise RequestError(400, f"input {name!r}: expected {wanted} ({spec.dtype}), got {got}")
    if want.kind in "iu" and array.size:
        bounds = np.iinfo(want)
        if array.min() < bounds.min or array.max() > bounds.max:
            raise RequestError(400, f"input {name!r}: a value is out of the range of {spec.dtype}")
    return array.astype(want)


def _integral(array: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(array)) and np.all(array == np.round(array)))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "a list",
        str: "strings",
        int: "numbers",
        float: "numbers",
    }.get(type(value), type(value).__name__)


def response(outputs: Mapping[str, np.ndarray], rows: bool, batch: int | None) -> dict[str, Any]:
    """TF Serving's answer: ``{"predictions": [...]}`` (rows: one entry per instance, an object
    by output name when there are several) or ``{"outputs": ...}`` (columns: the one output's
    value, or an object by output name)."""
    plain = {name: to_json(name, array) for name, array in outputs.items()}
    if not rows:
        return {"outputs": next(iter(plain.values())) if len(plain) == 1 else plain}
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != batch:
            raise RequestError(
                400,
                f"output {name!r} has no row per instance (shape {list(array.shape)}): "
                f'use the columnar format {{"inputs": ...}}',
            )
    if len(plain) == 1:
        return {"predictions": next(iter(plain.values()))}
    return {"predictions": [{name: plain[name][i] for name in plain} for i in range(batch or 0)]}


def to_json(name: str, array: np.ndarray) -> Any:
    """An output array as JSON values: strings decoded from UTF-8 (bytes that are not become
    U+FFFD; an output named ``*_bytes`` is ``{"b64": ...}`` as in TF Serving), numbers as
    numbers."""
    if array.dtype.kind not in ("O", "S", "U"):
        return array.tolist()
    if name.endswith("_bytes"):
        return _map(array.tolist(), lambda b: {"b64": base64.b64encode(b).decode("ascii")})
    return _map(
        array.tolist(), lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b
    )


def _map(value: Any, leaf: Any) -> Any:
    if isinstance(value, list):
        return [_map(v, leaf) for v in value]
    return leaf(value)
