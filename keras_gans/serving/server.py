"""``keras-gans serve``: a local model server speaking TF Serving's REST and gRPC APIs.

It serves the SavedModels that ``keras-gans export`` writes (``MODEL_BASE/NAME/<int version>/``),
so a client written against it works unchanged against the official ``tensorflow_model_server``
and the other way round. It is meant for laptops, tests and CI (production uses TF Serving's
Docker image); it binds ``127.0.0.1`` by default and has no authentication.

REST (``tensorflow_serving/g3doc/api_rest.md``; status codes as ``http_server.cc`` maps them)::

    GET  /v1/models/NAME[/versions/N | /labels/L]             model status (GetModelStatusResponse)
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata    signature defs (GetModelMetadata)
    POST /v1/models/NAME[/versions/N | /labels/L]:predict
         {"signature_name"?, "instances": [...]}  -> {"predictions": [...]}   (row format)
         {"signature_name"?, "inputs": ... }      -> {"outputs": ...}         (columnar format)

Errors are ``{"error": "..."}``: 400 bad JSON / dtype / shape / missing or unknown inputs / both
formats / unknown signature / unknown label (TF Serving answers the last two with
INVALID_ARGUMENT, hence 400, not 404), 404 unknown model or version (and unknown endpoints),
405 wrong method, 411 no Content-Length, 413 body over ``max_body_bytes``, 501 ``:classify`` and
``:regress``, 500 only for server faults. String inputs take plain strings or ``{"b64": ...}``;
string outputs whose name ends in ``_bytes`` come back as ``{"b64": ...}``. Scalar inputs (the
``sample`` signature's ``seed``, ``num``, ``truncation``) need the columnar format: the row format
batches every input along a new first dimension (as TF Serving does, which then fails).

gRPC: ``tensorflow.serving.PredictionService`` (``Predict``, ``GetModelMetadata``; ``Classify``,
``Regress`` and ``MultiInference`` answer UNIMPLEMENTED) and ``tensorflow.serving.ModelService``
(``GetModelStatus``), with TF Serving's status codes (NOT_FOUND, INVALID_ARGUMENT, ...).

Models: every directory under MODEL_BASE whose name matches ``[A-Za-z0-9._-]+`` (not starting with
``.``) is a model; its integer subdirectories holding a ``saved_model.pb`` are versions (anything
else, such as an export's ``.tmp-*`` directory, is ignored). Every version on disk is loaded; the
highest available version answers requests without an explicit version (TF Serving's default);
``labels.json`` in a model directory (``{"stable": 1, "canary": 2}``) maps version labels. A
background thread re-scans every ``poll_seconds`` (0: load once): a new version is loaded while
the previous ones keep answering and becomes the default only once loaded; a version whose
directory disappears is unloaded (requests already running on it finish). A version that fails
to load is reported in its status (state END with the error) and retried when its files change.

Limits: ``max_body_bytes`` per request (REST body, gRPC message) and ``max_batch`` rows per input
(also caps a scalar ``num`` input, the sample count of ``sample``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gc
import json
import logging
import os
import re
import signal
import socket
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import numpy as np

from keras_gans.errors import UsageError

log = logging.getLogger("keras_gans.serving")

DEFAULT_SIGNATURE = "serving_default"
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
DEFAULT_MAX_BATCH = 1024
LABELS_FILE = "labels.json"
# Scalar integer inputs that are a batch size (the `sample` signature's sample count): capped by
# max_batch like the first dimension of batched inputs.
BATCH_SIZE_INPUTS = ("num",)
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_VERSION_DIR_RE = re.compile(r"^[0-9]+$")
# TF Serving's URL grammar (http_rest_api_util.cc), case-insensitive like it.
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/([0-9]+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/([0-9]+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE)

# gRPC status code -> HTTP status, as TF Serving's http_server.cc maps them.
HTTP_STATUS = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServeError(Exception):
    """A request the server refuses: ``code`` is a gRPC status code name (``NOT_FOUND``, ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def _invalid(message: str) -> ServeError:
    return ServeError("INVALID_ARGUMENT", message)


def check_model_name(name: str) -> str:
    """Reject names that are not plain directory names (``..``, slashes, ...): INVALID_ARGUMENT."""
    if not name or not MODEL_NAME_RE.match(name) or name in (".", ".."):
        raise _invalid(f"Invalid model name {name!r}: letters, digits, '.', '_' and '-' only")
    return name


# --- signatures -------------------------------------------------------------------------------


class TensorInfo(NamedTuple):
    """One signature input or output: dtype (enum, name, NumPy type) and shape (None: unknown rank)."""

    dtype_enum: int
    dtype_name: str          # "DT_FLOAT", ...
    np_dtype: object         # np.float32, ..., object for DT_STRING
    shape: tuple | None      # -1 for unknown dimensions


def _tensor_info(proto) -> TensorInfo:
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    dtype = tf.dtypes.as_dtype(proto.dtype)
    shape = None if proto.tensor_shape.unknown_rank else tuple(d.size for d in proto.tensor_shape.dim)
    np_dtype = object if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)
    return TensorInfo(proto.dtype, types_pb2.DataType.Name(proto.dtype), np_dtype, shape)


def _shape_str(shape) -> str:
    return "unknown" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


class Signature:
    """A callable signature of a loaded version, with the input checks TF Serving leaves to TF."""

    def __init__(self, name: str, fn, signature_def):
        self.name = name
        self.fn = fn
        self.inputs = {k: _tensor_info(v) for k, v in sorted(signature_def.inputs.items())}
        self.outputs = {k: _tensor_info(v) for k, v in sorted(signature_def.outputs.items())}

    def describe_inputs(self) -> str:
        return ", ".join(f"{k} {i.dtype_name} {_shape_str(i.shape)}" for k, i in self.inputs.items())

    def validate(self, arrays: dict, max_batch: int) -> None:
        """Names, dtypes, shapes and batch limits of ``{name: np.ndarray}``; raises ServeError."""
        missing = sorted(set(self.inputs) - set(arrays))
        extra = sorted(set(arrays) - set(self.inputs))
        if missing or extra:
            what = "; ".join(([f"missing input(s): {', '.join(missing)}"] if missing else [])
                             + ([f"unknown input(s): {', '.join(extra)}"] if extra else []))
            raise _invalid(f"{what}. Signature '{self.name}' takes: {self.describe_inputs()}")
        for key, info in self.inputs.items():
            arr = arrays[key]
            if info.np_dtype is object:
                ok = arr.dtype == object and all(isinstance(x, bytes) for x in arr.flat)
            else:
                ok = arr.dtype == info.np_dtype
            if not ok:
                raise _invalid(f"input '{key}' of signature '{self.name}' expects {info.dtype_name}, "
                               f"got {_dtype_name(arr.dtype)}")
            if info.shape is not None and (
                    arr.ndim != len(info.shape)
                    or any(d >= 0 and d != n for d, n in zip(info.shape, arr.shape))):
                raise _invalid(f"input '{key}' of signature '{self.name}' expects shape "
                               f"{_shape_str(info.shape)} (-1: any size), got {list(arr.shape)}")
            if arr.ndim >= 1 and arr.shape[0] > max_batch:
                raise _invalid(f"input '{key}' has {arr.shape[0]} rows; this server takes at most "
                               f"{max_batch} per request (--max-batch)")
            if (arr.ndim == 0 and key in BATCH_SIZE_INPUTS and arr.dtype.kind in "iu"
                    and int(arr) > max_batch):
                raise _invalid(f"input '{key}' asks for {int(arr)} rows; this server takes at most "
                               f"{max_batch} per request (--max-batch)")

    def run(self, arrays: dict, max_batch: int) -> dict:
        """Validate, call the signature, return ``{output: np.ndarray}``; raises ServeError."""
        import tensorflow as tf

        self.validate(arrays, max_batch)
        feed = {k: tf.constant(v, dtype=tf.dtypes.as_dtype(self.inputs[k].dtype_enum))
                for k, v in arrays.items()}
        try:
            result = self.fn(**feed)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError,
                tf.errors.FailedPreconditionError) as e:
            raise _invalid(_first_lines(e.message)) from None
        except tf.errors.ResourceExhaustedError as e:
            raise ServeError("RESOURCE_EXHAUSTED", _first_lines(e.message)) from None
        except (ValueError, TypeError) as e:  # argument binding: shapes/dtypes the checks missed
            raise _invalid(_first_lines(str(e))) from None
        return {k: v.numpy() for k, v in result.items()}


def _first_lines(text: str, limit: int = 600) -> str:
    text = text.split("\n\t [[", 1)[0].strip()  # drop TF's graph-node trailer
    return text if len(text) <= limit else text[:limit] + "..."


_NP_TO_DT = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF", "int8": "DT_INT8",
             "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64", "uint8": "DT_UINT8",
             "uint16": "DT_UINT16", "uint32": "DT_UINT32", "uint64": "DT_UINT64", "bool": "DT_BOOL",
             "object": "DT_STRING"}


def _dtype_name(dtype) -> str:
    return _NP_TO_DT.get(np.dtype(dtype).name, np.dtype(dtype).name)


def read_signature_defs(path: str) -> dict:
    """``{name: SignatureDef}`` of a SavedModel's serving meta graph, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    graphs = [g for g in sm.meta_graphs if "serve" in g.meta_info_def.tags] or list(sm.meta_graphs)
    return dict(graphs[0].signature_def) if graphs else {}


class Servable:
    """One loaded version: the ``tf.saved_model.load`` object and its signatures."""

    def __init__(self, name: str, version: int, path: str):
        import tensorflow as tf

        self.name, self.version, self.path = name, version, path
        self.signature_defs = read_signature_defs(path)
        self._loaded = tf.saved_model.load(path)
        self.signatures = {k: Signature(k, fn, self.signature_defs[k])
                           for k, fn in self._loaded.signatures.items() if k in self.signature_defs}

    def signature(self, name: str | None, grpc: bool = False) -> Signature:
        """A signature by name (default ``serving_default``); unknown: INVALID_ARGUMENT as TF
        Serving's REST layer answers, FAILED_PRECONDITION as its gRPC Predict does (both 400)."""
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            have = f"(model {self.name} version {self.version} has: {', '.join(sorted(self.signatures))})"
            if grpc:
                raise ServeError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found. {have}')
            raise _invalid(f'Serving signature name: "{name}" not found in signature def {have}')
        return self.signatures[name]


# --- model manager ----------------------------------------------------------------------------


class VersionStatus(NamedTuple):
    state: str            # START, LOADING, AVAILABLE, UNLOADING, END (ModelVersionStatus.State)
    error_code: str       # OK or a gRPC code name
    error_message: str


class _Model:
    def __init__(self):
        self.available: dict[int, Servable] = {}
        self.status: dict[int, VersionStatus] = {}
        self.failed: dict[int, tuple] = {}     # version -> file fingerprint of the failed attempt
        self.labels: dict[str, int] = {}


def _fingerprint(path: str) -> tuple:
    out = []
    for root, _, files in os.walk(path):
        for f in files:
            try:
                st = os.stat(os.path.join(root, f))
            except OSError:
                continue
            out.append((os.path.relpath(os.path.join(root, f), path), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


class ModelManager:
    """Loads MODEL_BASE's models and versions, polls for changes, resolves requests to versions."""

    def __init__(self, model_base: str, poll_seconds: float = 2.0, freeze_gc: bool = True):
        self.model_base = model_base
        self.poll_seconds = poll_seconds
        self.freeze_gc = freeze_gc
        self._lock = threading.Lock()
        self._models: dict[str, _Model] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="keras-gans-model-poll", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until the first scan has loaded (or failed) every version on disk."""
        return self._ready.wait(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001  (a bad scan never kills the poller)
                log.exception("model scan of %s failed", self.model_base)
            self._ready.set()
            if self.poll_seconds <= 0 or self._stop.wait(self.poll_seconds):
                break

    # scanning
    def _scan(self) -> dict[str, tuple[dict[int, str], dict[str, int] | None]]:
        found = {}
        try:
            entries = sorted(os.listdir(self.model_base))
        except OSError as e:
            log.error("cannot list model base %s: %s", self.model_base, e)
            return found
        for name in entries:
            model_dir = os.path.join(self.model_base, name)
            if name.startswith(".") or not MODEL_NAME_RE.match(name) or not os.path.isdir(model_dir):
                continue
            versions = {}
            try:
                subdirs = os.listdir(model_dir)
            except OSError:
                continue
            for d in subdirs:
                path = os.path.join(model_dir, d)
                if _VERSION_DIR_RE.match(d) and os.path.isfile(os.path.join(path, "saved_model.pb")):
                    versions[int(d)] = path
            found[name] = (versions, self._read_labels(name, model_dir))
        return found

    @staticmethod
    def _read_labels(name: str, model_dir: str) -> dict[str, int] | None:
        """``labels.json`` as {label: version}; {} when absent; None when unreadable, which the
        poller treats as "keep the labels already served" (a half-written file must not drop
        them)."""
        path = os.path.join(model_dir, LABELS_FILE)
        if not os.path.exists(path):
            return {}
        try:
            with open(path) as f:
                raw = json.load(f)
            if not isinstance(raw, dict) or not all(
                    isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                    for k, v in raw.items()):
                raise ValueError('expected {"label": version, ...}')
            return dict(raw)
        except (OSError, ValueError) as e:
            log.error("model %s: ignoring %s: %s", name, path, e)
            return None

    def poll_once(self) -> None:
        """One scan: load new versions (newest first), unload removed ones, refresh labels."""
        changed = False
        try:
            changed = self._poll()
        finally:
            if changed and self.freeze_gc:
                _refreeze_gc()

    def _poll(self) -> bool:
        changed = False
        found = self._scan()
        with self._lock:
            names = sorted(set(self._models) | set(found))
            for name in names:
                self._models.setdefault(name, _Model())
        for name in names:
            if self._stop.is_set():
                return changed
            versions, labels = found.get(name, ({}, {}))
            model = self._models[name]
            with self._lock:
                if labels is not None:
                    model.labels = labels
                removed = [v for v in model.available if v not in versions]
                for v in removed:
                    del model.available[v]  # in-flight requests hold their own reference
                    model.status[v] = VersionStatus("END", "OK", "")
                for v in list(model.failed):
                    if v not in versions:
                        del model.failed[v]
            for v in removed:
                log.info("model %s: unloaded version %d (its directory is gone)", name, v)
            changed |= bool(removed)
            for v in sorted(versions, reverse=True):
                if self._stop.is_set():
                    return changed
                if v in model.available:
                    continue
                path = versions[v]
                fp = _fingerprint(path)
                if model.failed.get(v) == fp:
                    continue
                with self._lock:
                    model.status[v] = VersionStatus("LOADING", "OK", "")
                t0 = time.perf_counter()
                try:
                    servable = Servable(name, v, path)
                except Exception as e:  # noqa: BLE001  (a broken version never stops the others)
                    code = _error_code_name(e)
                    with self._lock:
                        model.failed[v] = fp
                        model.status[v] = VersionStatus("END", code, f"{type(e).__name__}: {e}"[:2000])
                    log.error("model %s: version %d failed to load from %s: %s", name, v, path, e)
                    continue
                with self._lock:
                    model.available[v] = servable
                    model.failed.pop(v, None)
                    model.status[v] = VersionStatus("AVAILABLE", "OK", "")
                changed = True
                log.info("model %s: loaded version %d in %.1f s (signatures: %s)", name, v,
                         time.perf_counter() - t0, ", ".join(sorted(servable.signatures)))
        return changed

    # lookups
    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def available_versions(self, name: str) -> list[int]:
        with self._lock:
            m = self._models.get(name)
            return sorted(m.available) if m else []

    def _version_for_label(self, name: str, model: _Model | None, label: str) -> int:
        if model is None or label not in model.labels:
            raise _invalid(f"Unrecognized servable version label: {label}")
        return model.labels[label]

    def _model_and_version(self, name: str, version: int | None, label: str | None):
        """Validate the request's name / version / label; call with the lock held."""
        check_model_name(name)
        if version is not None and label is not None:
            raise _invalid(f"Both model version ({version}) and model version label ({label}) "
                           "cannot be supplied.")
        model = self._models.get(name)
        if label is not None:
            version = self._version_for_label(name, model, label)
        return model, version

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable answering a request; raises ServeError (NOT_FOUND, INVALID_ARGUMENT)."""
        with self._lock:
            model, version = self._model_and_version(name, version, label)
            if version is None:
                if model is None or not model.available:
                    raise ServeError("NOT_FOUND", f"Servable not found for request: Latest({name})")
                return model.available[max(model.available)]
            if model is None or version not in model.available:
                raise ServeError("NOT_FOUND",
                                 f"Servable not found for request: Specific({name}, {version})")
            return model.available[version]

    def version_status(self, name: str, version: int | None = None,
                       label: str | None = None) -> list[tuple[int, VersionStatus]]:
        """``[(version, VersionStatus)]``, newest first; raises ServeError like GetModelStatus."""
        with self._lock:
            model, version = self._model_and_version(name, version, label)
            if model is None or not model.status:
                raise ServeError("NOT_FOUND", f"Could not find any versions of model {name}")
            if version is not None:
                if version not in model.status:
                    raise ServeError("NOT_FOUND", f"Could not find version {version} of model {name}")
                return [(version, model.status[version])]
            return sorted(model.status.items(), reverse=True)


def _refreeze_gc() -> None:
    """Move TensorFlow's and the models' millions of long-lived objects out of the garbage
    collector's sight (``gc.freeze``), after collecting what unloaded versions left behind.

    Without it a REST response of a few hundred thousand numbers (64 images of 32x32x3) creates
    enough lists to trigger full collections that walk every TF object: 300+ ms stalls.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _error_code_name(e: Exception) -> str:
    """TF Serving's error code name for a load failure (UNKNOWN for non-TF errors)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import error_codes_pb2

    if isinstance(e, tf.errors.OpError):
        try:
            return error_codes_pb2.Code.Name(e.error_code)
        except ValueError:  # a code this proto version does not name
            return "UNKNOWN"
    return "NOT_FOUND" if isinstance(e, FileNotFoundError) else "UNKNOWN"


# --- protos shared by REST and gRPC ---------------------------------------------------------------


def status_response(manager: ModelManager, name, version=None, label=None):
    """GetModelStatusResponse for a model (all versions, or one)."""
    from tensorflow_serving.apis import get_model_status_pb2, status_pb2

    code_enum = status_pb2.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type
    resp = get_model_status_pb2.GetModelStatusResponse()
    for v, st in manager.version_status(name, version, label):
        item = resp.model_version_status.add()
        item.version = v
        item.state = get_model_status_pb2.ModelVersionStatus.State.Value(st.state)
        item.status.SetInParent()
        item.status.error_code = code_enum.values_by_name[st.error_code].number
        item.status.error_message = st.error_message
    return resp


def metadata_response(servable: Servable, fields=("signature_def",)):
    """GetModelMetadataResponse with the SignatureDefMap packed in an Any, as TF Serving does."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    for f in fields:
        if f != "signature_def":
            raise _invalid(f"Metadata field {f} is not supported")
    if not fields:
        raise _invalid("GetModelMetadataRequest must specify at least one metadata_field")
    resp = get_model_metadata_pb2.GetModelMetadataResponse()
    resp.model_spec.name = servable.name
    resp.model_spec.version.value = servable.version
    sdm = get_model_metadata_pb2.SignatureDefMap()
    for k, v in servable.signature_defs.items():
        sdm.signature_def[k].CopyFrom(v)
    resp.metadata["signature_def"].Pack(sdm)
    return resp


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
        raise _invalid(f"input '{name}': the value of a {{\"b64\": ...}} object must be a string")
    try:
        return base64.b64decode(v["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"input '{name}': invalid base64 in {{\"b64\": ...}}") from None


def _json_to_bytes(value, name: str) -> np.ndarray:
    def conv(v):
        if isinstance(v, str):
            return v.encode("utf-8")
        if _is_b64(v):
            return _decode_b64(v, name)
        if isinstance(v, list):
            return [conv(x) for x in v]
        raise _invalid(f"input '{name}' expects strings (or {{\"b64\": ...}} objects), "
                       f"got JSON {_json_type(v)}")

    arr = np.array(conv(value), dtype=object)
    if not all(isinstance(x, bytes) for x in arr.flat):
        raise _invalid(f"input '{name}' is not a rectangular (nested) list: every row must have "
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
        raise _invalid(f"input '{name}' is not a rectangular (nested) list: every row must have "
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
                raise _invalid(f"input '{name}': value out of range for {info.dtype_name}")
    elif target.kind == "b":
        ok = kind == "b"
    else:
        raise _invalid(f"input '{name}': {info.dtype_name} inputs are not supported over JSON")
    if not ok:
        got = {"f": "decimal numbers", "i": "integers", "u": "integers", "b": "booleans",
               "U": "strings", "O": "objects/nulls/mixed values"}.get(kind, arr.dtype.name)
        raise _invalid(f"input '{name}' expects {info.dtype_name} values, got {got}")
    return arr.astype(target, copy=False)


def instances_to_arrays(instances, sig: Signature) -> dict:
    """Row format ``"instances": [...]`` -> ``{input: array}`` batched along a new first axis."""
    if not isinstance(instances, list):
        raise _invalid("Expecting 'instances' to be a list/array")
    if not instances:
        raise _invalid("No values in 'instances' array")
    scalars = [k for k, i in sig.inputs.items() if i.shape == ()]
    if scalars:
        raise _invalid(
            f"signature '{sig.name}' has scalar input(s) ({', '.join(scalars)}): the row format "
            "('instances') batches every input along a new first dimension, so scalars cannot be "
            "sent that way. Use the columnar format instead: "
            '{"signature_name": "' + sig.name + '", "inputs": {'
            + ", ".join(f'"{k}": ...' for k in sig.inputs) + "}}")
    if _is_object(instances[0]):
        want = set(sig.inputs)
        for i, inst in enumerate(instances):
            if not _is_object(inst):
                raise _invalid(f"Expecting object but got {_json_type(inst)} at item {i} of 'instances'")
            if set(inst) != want:
                raise _invalid(f"item {i} of 'instances' must have exactly the keys "
                               f"{', '.join(sorted(want))} (got {', '.join(sorted(inst)) or 'none'})")
        columns = {k: [inst[k] for inst in instances] for k in sig.inputs}
    else:
        if len(sig.inputs) != 1:
            raise _invalid("instances is a plain list, but signature "
                           f"'{sig.name}' has several inputs ({', '.join(sig.inputs)}): send a "
                           "list of objects, one key per input")
        for i, inst in enumerate(instances):
            if _is_object(inst):
                raise _invalid(f"Expecting value/list but got object at item {i} of 'instances'")
        columns = {next(iter(sig.inputs)): instances}
    return {k: json_to_array(v, sig.inputs[k], k) for k, v in columns.items()}


def inputs_to_arrays(inputs, sig: Signature) -> dict:
    """Columnar format ``"inputs": value | {name: value}`` -> ``{input: array}``."""
    if _is_object(inputs):
        unknown = sorted(set(inputs) - set(sig.inputs))
        if unknown:
            raise _invalid(f"unknown input(s) {', '.join(unknown)} in 'inputs'. Signature "
                           f"'{sig.name}' takes: {sig.describe_inputs()}")
        missing = sorted(set(sig.inputs) - set(inputs))
        if missing:
            raise _invalid(f"Missing named input(s): {', '.join(missing)} in 'inputs' object. "
                           f"Signature '{sig.name}' takes: {sig.describe_inputs()}")
        return {k: json_to_array(v, sig.inputs[k], k) for k, v in inputs.items()}
    if len(sig.inputs) != 1:
        raise _invalid("inputs is a plain value/list, but signature "
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
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": array_to_json(outputs[names[0]], names[0])}
        return {"outputs": {k: array_to_json(outputs[k], k) for k in names}}
    batch = None
    for k in names:
        arr = outputs[k]
        if arr.ndim == 0:
            raise _invalid(f"Tensor name: {k} has no shape information (a scalar output cannot "
                           "be returned in the row format: use the columnar 'inputs' format)")
        if batch is not None and arr.shape[0] != batch:
            raise _invalid(f"Tensor name: {k} has inconsistent batch size: {arr.shape[0]} "
                           f"expecting: {batch} (use the columnar 'inputs' format)")
        batch = arr.shape[0]
    if len(names) == 1:
        return {"predictions": array_to_json(outputs[names[0]], names[0])}
    cols = {k: array_to_json(outputs[k], k) for k in names}
    return {"predictions": [{k: cols[k][i] for k in names} for i in range(batch)]}


# --- REST --------------------------------------------------------------------------------------


class _HttpError(Exception):
    def __init__(self, status: int, message: str, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class RestApi:
    """TF Serving's REST API as a pure function: (method, path, body) -> (status, JSON, headers)."""

    def __init__(self, manager: ModelManager, max_batch: int = DEFAULT_MAX_BATCH):
        self.manager = manager
        self.max_batch = max_batch

    def handle(self, method: str, raw_path: str, body: bytes | None):
        try:
            return (200, *self._route(method, urlsplit(raw_path).path, body))
        except ServeError as e:
            return e.http_status, {"error": e.message}, {}
        except _HttpError as e:
            return e.status, {"error": e.message}, e.headers

    @staticmethod
    def _spec(name, vstr, label):
        name = unquote(name)
        check_model_name(name)
        return name, (int(vstr) if vstr else None), (unquote(label) if label else None)

    def _route(self, method, path, body):
        m = _PREDICT_RE.fullmatch(path)
        if m:
            if method != "POST":
                raise _HttpError(405, f"{method} is not allowed on {path}: use POST", {"Allow": "POST"})
            name, version, label = self._spec(*m.group(1, 2, 3))
            verb = m.group(4).lower()
            if verb != "predict":
                raise ServeError("UNIMPLEMENTED", f":{verb} is not supported by this server "
                                 "(the exported generators have predict signatures): use :predict")
            return self._predict(name, version, label, body), {}
        m = _STATUS_RE.fullmatch(path)
        if m:
            if method not in ("GET", "HEAD"):
                raise _HttpError(405, f"{method} is not allowed on {path}: use GET", {"Allow": "GET"})
            if not m.group(1):
                raise _invalid("Missing model name in request.")
            name, version, label = self._spec(*m.group(1, 2, 3))
            if m.group(4):
                return metadata_json(metadata_response(self.manager.resolve(name, version, label))), {}
            return proto_json(status_response(self.manager, name, version, label)), {}
        raise _HttpError(404, f"Malformed request: {method} {path} (endpoints: GET /v1/models/NAME"
                         "[/versions/N|/labels/L][/metadata], POST /v1/models/NAME"
                         "[/versions/N|/labels/L]:predict)")

    def _predict(self, name, version, label, body) -> dict:
        if not body:
            raise _invalid("JSON Parse error: The document is empty")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise _invalid(f"JSON Parse error: {e}") from None
        if not isinstance(doc, dict):
            raise _invalid("JSON Value: the request body is not an object: expected "
                           '{"signature_name"?, "instances": [...]} or {"signature_name"?, "inputs": ...}')
        sig_name = doc.get("signature_name", "")
        if not isinstance(sig_name, str):
            raise _invalid("'signature_name' key must be a string")
        if "instances" in doc and "inputs" in doc:
            raise _invalid("Not formatted correctly expecting only one of 'inputs' or 'instances' "
                           "keys to exist")
        if "instances" not in doc and "inputs" not in doc:
            raise _invalid("Missing 'inputs' or 'instances' key")
        servable = self.manager.resolve(name, version, label)
        sig = servable.signature(sig_name)
        row = "instances" in doc
        arrays = instances_to_arrays(doc["instances"], sig) if row else inputs_to_arrays(doc["inputs"], sig)
        return outputs_to_json(sig.run(arrays, self.max_batch), row_format=row)


class _RestServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    api: RestApi
    max_body_bytes: int

    def server_activate(self):
        super().server_activate()
        self.open_connections: set = set()
        self.connections_lock = threading.Lock()

    def close_open_connections(self) -> None:
        """Shut idle keep-alive connections (their handler threads then end)."""
        with self.connections_lock:
            conns = list(self.open_connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue  # the peer already closed it: nothing left to shut


class _RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive
    server_version = "keras-gans-serve"
    timeout = 60                    # seconds a connection may sit idle or trickle a body
    disable_nagle_algorithm = True  # else headers + body writes meet delayed ACKs: +40 ms a call

    def setup(self):
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self):
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        super().finish()

    def log_message(self, fmt, *args):  # route http.server's access log to logging
        log.debug("%s " + fmt, self.address_string(), *args)

    def send_error(self, code, message=None, explain=None):  # http.server's own errors, as JSON
        self.close_connection = True
        self._send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def _send_json(self, status: int, payload: dict, headers=None, head_only=False):
        data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def _content_length(self):
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            n = int(raw)
        except ValueError:
            n = -1
        if n < 0:
            raise _HttpError(400, f"invalid Content-Length: {raw!r}")
        return n

    def handle_expect_100(self):  # refuse an oversized body before the client sends it
        try:
            n = self._content_length()
        except _HttpError:
            n = None
        if n is not None and n > self.server.max_body_bytes:
            self.close_connection = True
            self._send_json(413, {"error": self._too_large(n)})
            return False
        return super().handle_expect_100()

    def _too_large(self, n):
        return (f"request body of {n} bytes exceeds this server's limit of "
                f"{self.server.max_body_bytes} bytes (--max-body-bytes)")

    def _read_body(self, method):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise _HttpError(411, "chunked request bodies are not supported: send Content-Length")
        n = self._content_length()
        if method != "POST":
            if n:
                self.close_connection = True  # unread body: the connection cannot be reused
            return None
        if n is None:
            self.close_connection = True
            raise _HttpError(411, "a POST needs a Content-Length header")
        if n > self.server.max_body_bytes:
            self.close_connection = True
            self._discard(n)
            raise _HttpError(413, self._too_large(n))
        body = self.rfile.read(n)
        if len(body) != n:
            self.close_connection = True
            raise _HttpError(400, f"request body ended after {len(body)} of {n} bytes")
        return body

    def _discard(self, n: int, cap: int = 16 * 2**20) -> None:
        """Read (and drop) up to ``cap`` bytes of a refused body, so that the client, still
        sending it, gets the error response instead of a connection reset."""
        left = min(n, cap)
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 2**16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            return  # the client hung up: the error response is all that is left to try

    def _dispatch(self, method: str):
        t0 = time.perf_counter()
        headers = {}
        try:
            body = self._read_body(method)
            status, payload, headers = self.server.api.handle(method, self.path, body)
        except _HttpError as e:
            status, payload, headers = e.status, {"error": e.message}, e.headers
        except Exception as e:  # noqa: BLE001  (never let a request take the server down)
            log.exception("internal error on %s %s", method, self.path)
            status, payload = 500, {"error": f"internal error: {type(e).__name__}: {e}"}
        try:
            self._send_json(status, payload, headers, head_only=method == "HEAD")
        except OSError:  # the client went away
            self.close_connection = True
            return
        level = logging.WARNING if status >= 500 and status != 501 else logging.DEBUG
        log.log(level, "%s %s -> %d (%.1f ms)%s", method, self.path, status,
                1000 * (time.perf_counter() - t0), f": {payload['error']}" if status >= 400 else "")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")


# --- gRPC --------------------------------------------------------------------------------------


def _spec_from_proto(spec):
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label if spec.WhichOneof("version_choice") == "version_label" else None
    return spec.name, version, label


def _check_proto_size(key: str, proto, max_batch: int, max_elements: int) -> None:
    """Refuse before decoding a TensorProto whose declared shape is over the limits (a proto
    with one value and a huge shape would otherwise be broadcast into a huge array)."""
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise _invalid(f"input '{key}': negative dimension in tensor_shape {dims}")
    if dims and dims[0] > max_batch:
        raise _invalid(f"input '{key}' has {dims[0]} rows; this server takes at most {max_batch} "
                       "per request (--max-batch)")
    if int(np.prod(dims, dtype=np.float64)) > max_elements:
        raise _invalid(f"input '{key}' declares {int(np.prod(dims, dtype=np.float64))} elements, "
                       f"more than this server's message limit allows ({max_elements})")


def _grpc_servicers(manager: ModelManager, max_batch: int, max_elements: int):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (model_service_pb2_grpc, predict_pb2,
                                         prediction_service_pb2_grpc)

    def call(context, fn, request):
        try:
            return fn(request)
        except ServeError as e:
            context.abort(getattr(grpc.StatusCode, e.code, grpc.StatusCode.UNKNOWN), e.message)
        except Exception as e:  # noqa: BLE001
            log.exception("internal error in a gRPC call")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}: {e}")

    def predict(request):
        name, version, label = _spec_from_proto(request.model_spec)
        servable = manager.resolve(name, version, label)
        sig = servable.signature(request.model_spec.signature_name, grpc=True)
        arrays = {}
        for key, proto in request.inputs.items():
            _check_proto_size(key, proto, max_batch, max_elements)
            try:
                arrays[key] = np.asarray(tf.make_ndarray(proto))
            except Exception as e:  # noqa: BLE001
                raise _invalid(f"input '{key}': malformed TensorProto: {e}") from None
        wanted = list(request.output_filter)
        unknown = [k for k in wanted if k not in sig.outputs]
        if unknown:
            raise _invalid(f"output tensor alias not found in signature: {', '.join(unknown)}")
        outputs = sig.run(arrays, max_batch)
        resp = predict_pb2.PredictResponse()
        resp.model_spec.name = servable.name
        resp.model_spec.version.value = servable.version
        resp.model_spec.signature_name = sig.name
        for k in wanted or sorted(outputs):
            resp.outputs[k].CopyFrom(tf.make_tensor_proto(outputs[k]))
        return resp

    def get_metadata(request):
        name, version, label = _spec_from_proto(request.model_spec)
        return metadata_response(manager.resolve(name, version, label), tuple(request.metadata_field))

    def get_status(request):
        name, version, label = _spec_from_proto(request.model_spec)
        return status_response(manager, name, version, label)

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            return call(context, predict, request)

        def GetModelMetadata(self, request, context):
            return call(context, get_metadata, request)

    class ModelService(model_service_pb2_grpc.ModelServiceServicer):
        def GetModelStatus(self, request, context):
            return call(context, get_status, request)

    return PredictionService(), ModelService()


# --- the server --------------------------------------------------------------------------------


class Ports(NamedTuple):
    rest: int | None
    grpc: int | None


class ModelServer:
    """REST + gRPC front ends over one ModelManager.

    Args:
        model_base: directory of model directories (``NAME/<version>/`` SavedModels).
        host: interface to bind (``127.0.0.1``; ``0.0.0.0`` exposes it unauthenticated).
        rest_port, grpc_port: 0 picks a free port; a negative port disables that front end.
        poll_seconds: re-scan interval for new/removed versions (0: load once at start).
        max_body_bytes: largest REST body / gRPC message accepted.
        max_batch: most rows per input (and largest ``num``) per request.
        grpc_workers: threads serving gRPC calls (REST uses a thread per connection).
    """

    def __init__(self, model_base: str, host: str = "127.0.0.1", rest_port: int = 8501,
                 grpc_port: int = 8500, poll_seconds: float = 2.0,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_batch: int = DEFAULT_MAX_BATCH,
                 grpc_workers: int = 8):
        if not os.path.isdir(model_base):
            raise UsageError(f"model base {model_base!r} is not a directory "
                             "(it holds NAME/<version>/ folders written by `keras-gans export`)")
        if max_body_bytes < 1 or max_batch < 1:
            raise UsageError("--max-body-bytes and --max-batch must be >= 1")
        self.model_base, self.host = model_base, host
        self._want = (rest_port, grpc_port)
        self.max_body_bytes, self.max_batch, self.grpc_workers = max_body_bytes, max_batch, grpc_workers
        self.manager = ModelManager(model_base, poll_seconds)
        self.api = RestApi(self.manager, max_batch)
        self._http: _RestServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc = None
        self.ports = Ports(None, None)

    @property
    def rest_url(self) -> str | None:
        return None if self.ports.rest is None else f"http://{_hostport(self.host, self.ports.rest)}"

    @property
    def grpc_target(self) -> str | None:
        return None if self.ports.grpc is None else _hostport(self.host, self.ports.grpc)

    def start(self) -> Ports:
        """Bind the ports, start serving and the model poller (loading runs in the background)."""
        rest_port, grpc_port = self._want
        rest = grpc_bound = None
        try:
            if rest_port is not None and rest_port >= 0:
                self._http = _RestServer((self.host, rest_port), _RestHandler)
                self._http.api, self._http.max_body_bytes = self.api, self.max_body_bytes
                rest = self._http.server_address[1]
            if grpc_port is not None and grpc_port >= 0:
                grpc_bound = self._start_grpc(grpc_port)
        except BaseException:
            self.stop()
            raise
        if self._http is not None:
            self._http_thread = threading.Thread(
                target=self._http.serve_forever, kwargs={"poll_interval": 0.2}, name="keras-gans-rest",
                daemon=True)
            self._http_thread.start()
        self.manager.start()
        self.ports = Ports(rest, grpc_bound)
        log.info("serving %s: REST %s, gRPC %s", self.model_base, self.rest_url or "off",
                 self.grpc_target or "off")
        return self.ports

    def _start_grpc(self, port: int) -> int:
        try:
            import grpc
            from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
        except ImportError as e:
            raise UsageError(f"gRPC needs tensorflow-serving-api ({e}): `pip install "
                             "tensorflow-serving-api`, or pass --grpc-port -1 for REST only") from None

        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.grpc_workers, thread_name_prefix="keras-gans-grpc"),
            options=[("grpc.max_receive_message_length", self.max_body_bytes),
                     ("grpc.max_send_message_length", -1), ("grpc.so_reuseport", 0)])
        predict, models = _grpc_servicers(self.manager, self.max_batch, self.max_body_bytes)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(predict, server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, server)
        address = _hostport(self.host, port)
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as e:
            bound, err = 0, e
        else:
            err = None
        if not bound:
            raise OSError(f"cannot listen for gRPC on {address}" + (f": {err}" if err else ""))
        server.start()
        self._grpc = server
        return bound

    def wait_until_ready(self, timeout: float | None = 60.0) -> bool:
        """Block until the first scan has loaded every version on disk; TimeoutError otherwise."""
        if not self.manager.wait_until_ready(timeout):
            raise TimeoutError(f"models under {self.model_base} not loaded after {timeout} s")
        return True

    def stop(self, grace: float = 1.0) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace).wait(grace + 5)
            self._grpc = None
        if self._http is not None:
            if self._http_thread is not None:
                self._http.shutdown()
                self._http_thread.join(10)
                self._http_thread = None
            self._http.server_close()
            self._http.close_open_connections()
            self._http = None
        self.manager.stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- command line ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # bad usage -> UsageError (exit code 2 with a one-line reason)
        raise UsageError(message)


def _check_model_base_layout(model_base: str) -> None:
    """Catch the common mix-up of passing one model's directory (or one version's) as MODEL_BASE."""
    if not os.path.isdir(model_base):
        return  # ModelServer says so
    if os.path.isfile(os.path.join(model_base, "saved_model.pb")):
        raise UsageError(f"{model_base} is one SavedModel version: pass the directory two levels up "
                         "(MODEL_BASE holds NAME/<version>/)")
    for d in os.listdir(model_base):
        if _VERSION_DIR_RE.match(d) and os.path.isfile(os.path.join(model_base, d, "saved_model.pb")):
            raise UsageError(f"{model_base} holds versions directly ({d}/): it is one model's directory; "
                             "pass its parent as MODEL_BASE (MODEL_BASE holds NAME/<version>/)")


def run_serve_cli(argv: list[str]) -> int:
    """``keras-gans serve MODEL_BASE [...]``: serve until SIGINT/SIGTERM; returns 0."""
    p = _Parser(prog="keras-gans serve", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                description="serve exported generators over TF Serving's REST and gRPC APIs")
    p.add_argument("model_base", metavar="MODEL_BASE",
                   help="directory of NAME/<version>/ SavedModels (`keras-gans export --out`)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (no authentication!)")
    p.add_argument("--rest-port", type=int, default=8501, help="0: any free port; -1: no REST")
    p.add_argument("--grpc-port", type=int, default=8500, help="0: any free port; -1: no gRPC")
    p.add_argument("--poll-seconds", type=float, default=2.0,
                   help="re-scan for new/removed versions this often (0: load once)")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                   help="largest request body / gRPC message")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help="most rows (images) per request")
    args = p.parse_args(argv)
    _check_model_base_layout(args.model_base)
    if args.rest_port < 0 and args.grpc_port < 0:
        raise UsageError("both --rest-port and --grpc-port are disabled: nothing to serve")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding %s: the server has no authentication; anyone who can reach it can "
                    "use it", args.host)
    server = ModelServer(args.model_base, host=args.host, rest_port=args.rest_port,
                         grpc_port=args.grpc_port, poll_seconds=args.poll_seconds,
                         max_body_bytes=args.max_body_bytes, max_batch=args.max_batch)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        try:
            ports = server.start()
        except OSError as e:
            raise UsageError(f"cannot listen on {args.host}: {e} (pick other ports with "
                             "--rest-port/--grpc-port, or 0 for free ones)") from None
        print(f"keras-gans serve: REST {server.rest_url or 'off'}, gRPC {server.grpc_target or 'off'}"
              f" (models from {args.model_base}); Ctrl-C stops", flush=True)
        announced = False
        while not stop.wait(0.5):
            if not announced and server.manager.wait_until_ready(0):
                announced = True
                models = {n: server.manager.available_versions(n) for n in server.manager.model_names()}
                print("keras-gans serve: ready: " + (", ".join(
                    f"{n} {v or '(no loadable version)'}" for n, v in models.items()) or
                    f"no models under {args.model_base} yet"), flush=True)
        del ports
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
