"""JSON <-> NumPy for TF Serving's REST API (``json_tensor.cc``'s rules), and protos as its JSON.

Requests: the row format (``"instances": [...]``, one value or one ``{input: value}`` object per
row) batches every input along a new first dimension; the columnar format (``"inputs": value`` or
``{input: value}``) sends each input whole. Scalar inputs (the ``sample`` signature's ``seed``,
``num``, ``truncation``) need the columnar format: the row format would batch them (as TF Serving
does, which then fails), so it is refused with a message showing the columnar request. Values are
nested lists of numbers checked against the signature's dtype (no silent float -> int, integer
range checked); string inputs take plain strings (UTF-8) or ``{"b64": ...}`` objects.

Responses: ``{"predictions": [...]}`` (row; one object per row when there are several outputs,
which must then share their batch size) or ``{"outputs": ...}`` (columnar). String outputs whose
name ends in ``_bytes`` come back as ``{"b64": ...}``, other strings as text (base64 if not UTF-8).

Protos (status, metadata) print as TF Serving's REST layer prints them (``proto_json``,
``metadata_json``). Errors are ``models.ServeError`` (INVALID_ARGUMENT).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from keras_gans.serving.models import Signature, TensorInfo, invalid

# --- protos as TF Serving's REST JSON -------------------------------------------------------------


def proto_json(message) -> dict:
    """A proto as TF Serving's REST layer prints it (field names kept, defaults printed)."""
    from google.protobuf import json_format

    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def metadata_json(resp) -> dict:
    """GetModelMetadataResponse -> ``{"model_spec": ..., "metadata": {"signature_def": ...}}``."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    sdm = get_model_metadata_pb2.SignatureDefMap()
    resp.metadata["signature_def"].Unpack(sdm)
    return {"model_spec": proto_json(resp.model_spec), "metadata": {"signature_def": proto_json(sdm)}}


# --- JSON <-> arrays (TF Serving's json_tensor.cc rules) ------------------------------------------


def _is_b64(v) -> bool:
    return isinstance(v, dict) and len(v) == 1 and "b64" in v


def _is_object(v) -> bool:
    return isinstance(v, dict) and not _is_b64(v)


def _decode_b64(v, name: str) -> bytes:
    if not isinstance(v["b64"], str):
        raise invalid(f"input '{name}': the value of a {{\"b64\": ...}} object must be a string")
    try:
        return base64.b64decode(v["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"input '{name}': invalid base64 in {{\"b64\": ...}}") from None


def _json_to_bytes(value, name: str) -> np.ndarray:
    def conv(v):
        if isinstance(v, str):
            return v.encode("utf-8")
        if _is_b64(v):
            return _decode_b64(v, name)
        if isinstance(v, list):
            return [conv(x) for x in v]
        raise invalid(f"input '{name}' expects strings (or {{\"b64\": ...}} objects), "
                      f"got JSON {_json_type(v)}")

    arr = np.array(conv(value), dtype=object)
    if not all(isinstance(x, bytes) for x in arr.flat):
        raise invalid(f"input '{name}' is not a rectangular (nested) list: every row must have "
                      "the same shape")
    return arr


def _json_type(v) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null",
            int: "number", float: "number"}.get(type(v), type(v).__name__)


def json_to_array(value, info: TensorInfo, name: str) -> np.ndarray:
    """One input's JSON value (nested lists/numbers/strings/b64 objects) -> array of its dtype."""
    if info.np_dtype is object:
        return _json_to_bytes(value, name)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        raise invalid(f"input '{name}' is not a rectangular (nested) list: every row must have "
                      "the same shape") from None
    target = np.dtype(info.np_dtype)
    if arr.size == 0:
        return arr.astype(target)
    kind = arr.dtype.kind
    if target.kind == "f":
        ok = kind in "iuf"
    elif target.kind in "iu":
        ok = kind in "iu"
        if ok:
            lim = np.iinfo(target)
            if arr.min() < lim.min or arr.max() > lim.max:
                raise invalid(f"input '{name}': value out of range for {info.dtype_name}")
    elif target.kind == "b":
        ok = kind == "b"
    else:
        raise invalid(f"input '{name}': {info.dtype_name} inputs are not supported over JSON")
    if not ok:
        got = {"f": "decimal numbers", "i": "integers", "u": "integers", "b": "booleans",
               "U": "strings", "O": "objects/nulls/mixed values"}.get(kind, arr.dtype.name)
        raise invalid(f"input '{name}' expects {info.dtype_name} values, got {got}")
    return arr.astype(target, copy=False)


def instances_to_arrays(instances, sig: Signature) -> dict:
    """Row format ``"instances": [...]`` -> ``{input: array}`` batched along a new first axis."""
    if not isinstance(instances, list):
        raise invalid("Expecting 'instances' to be a list/array")
    if not instances:
        raise invalid("No values in 'instances' array")
    scalars = [k for k, i in sig.inputs.items() if i.shape == ()]
    if scalars:
        raise invalid(
            f"signature '{sig.name}' has scalar input(s) ({', '.join(scalars)}): the row format "
            "('instances') batches every input along a new first dimension, so scalars cannot be "
            "sent that way. Use the columnar format instead: "
            '{"signature_name": "' + sig.name + '", "inputs": {'
            + ", ".join(f'"{k}": ...' for k in sig.inputs) + "}}")
    if _is_object(instances[0]):
        want = set(sig.inputs)
        for i, inst in enumerate(instances):
            if not _is_object(inst):
                raise invalid(f"Expecting object but got {_json_type(inst)} at item {i} of 'instances'")
            if set(inst) != want:
                raise invalid(f"item {i} of 'instances' must have exactly the keys "
                              f"{', '.join(sorted(want))} (got {', '.join(sorted(inst)) or 'none'})")
        columns = {k: [inst[k] for inst in instances] for k in sig.inputs}
    else:
        if len(sig.inputs) != 1:
            raise invalid("instances is a plain list, but signature "
                          f"'{sig.name}' has several inputs ({', '.join(sig.inputs)}): send a "
                          "list of objects, one key per input")
        for i, inst in enumerate(instances):
            if _is_object(inst):
                raise invalid(f"Expecting value/list but got object at item {i} of 'instances'")
        columns = {next(iter(sig.inputs)): instances}
    return {k: json_to_array(v, sig.inputs[k], k) for k, v in columns.items()}


def inputs_to_arrays(inputs, sig: Signature) -> dict:
    """Columnar format ``"inputs": value | {name: value}`` -> ``{input: array}``."""
    if _is_object(inputs):
        unknown = sorted(set(inputs) - set(sig.inputs))
        if unknown:
            raise invalid(f"unknown input(s) {', '.join(unknown)} in 'inputs'. Signature "
                          f"'{sig.name}' takes: {sig.describe_inputs()}")
        missing = sorted(set(sig.inputs) - set(inputs))
        if missing:
            raise invalid(f"Missing named input(s): {', '.join(missing)} in 'inputs' object. "
                          f"Signature '{sig.name}' takes: {sig.describe_inputs()}")
        return {k: json_to_array(v, sig.inputs[k], k) for k, v in inputs.items()}
    if len(sig.inputs) != 1:
        raise invalid("inputs is a plain value/list, but signature "
                      f"'{sig.name}' has several inputs ({', '.join(sig.inputs)}): send an "
                      "object with one key per input")
    key = next(iter(sig.inputs))
    return {key: json_to_array(inputs, sig.inputs[key], key)}


def array_to_json(arr: np.ndarray, name: str):
    """Output array -> JSON value; strings of ``*_bytes`` outputs become ``{"b64": ...}``."""
    if arr.dtype != object and arr.dtype.kind not in "SU":
        return arr.tolist()
    as_b64 = name.endswith("_bytes")

    def conv(v):
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, str):
            v = v.encode("utf-8")
        if not as_b64:
            try:
                return v.decode("utf-8")
            except UnicodeDecodeError:
                pass  # not text: fall back to base64 rather than emit invalid JSON
        return {"b64": base64.b64encode(v).decode("ascii")}

    return conv(arr.tolist())


def outputs_to_json(outputs: dict, row_format: bool) -> dict:
    """``{output: array}`` -> the response: ``{"outputs": ...}`` (columnar; the bare value when
    there is one output) or ``{"predictions": [...]}`` (row; objects when there are several)."""
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": array_to_json(outputs[names[0]], names[0])}
        return {"outputs": {k: array_to_json(outputs[k], k) for k in names}}
    batch = None
    for k in names:
        arr = outputs[k]
        if arr.ndim == 0:
            raise invalid(f"Tensor name: {k} has no shape information (a scalar output cannot "
                          "be returned in the row format: use the columnar 'inputs' format)")
        if batch is not None and arr.shape[0] != batch:
            raise invalid(f"Tensor name: {k} has inconsistent batch size: {arr.shape[0]} "
                          f"expecting: {batch} (use the columnar 'inputs' format)")
        batch = arr.shape[0]
    if len(names) == 1:
        return {"predictions": array_to_json(outputs[names[0]], names[0])}
    cols = {k: array_to_json(outputs[k], k) for k in names}
    return {"predictions": [{k: cols[k][i] for k in names} for i in range(batch)]}
