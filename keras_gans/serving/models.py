"""The model side of ``keras-gans serve``: what is on disk, what is loaded, what a request gets.

Models: every directory under MODEL_BASE whose name is a model name (``keras_gans.serving.names``:
letters, digits, ``_``, ``-``, ``.``, starting with a letter or digit, not all digits; other
directories are ignored with a log line) is a model; its integer subdirectories holding a
``saved_model.pb`` are versions (anything else, such as an export's ``.tmp-*`` directory, is
ignored). Every version on disk is loaded; the highest available version answers requests without
an explicit version (TF Serving's default); ``labels.json`` in a model directory
(``{"stable": 1, "canary": 2}``) maps version labels. A background thread re-scans every
``poll_seconds`` (0: load once): a new version is loaded while the previous ones keep answering
and becomes the default only once loaded; a version whose directory disappears is unloaded
(requests already running on it finish). A version that fails to load is reported in its status
(state END with the error) and retried when its files change.

Requests: ``ModelManager.resolve`` maps (name, version | label) to a ``Servable``, whose
``Signature`` checks inputs (names, dtypes, shapes, ``max_batch`` rows per input, also capping a
scalar ``num`` input: the sample count of the ``sample`` signature) before calling TensorFlow.
Refusals are ``ServeError`` with a gRPC status code name; the REST front end maps it to HTTP
(``HTTP_STATUS``, as TF Serving's ``http_server.cc``), the gRPC one aborts with it.
``status_response`` / ``metadata_response`` build the GetModelStatus / GetModelMetadata protos
both front ends answer with. ``check_model_base_layout`` catches a MODEL_BASE that is really one
model's (or one version's) directory, which would otherwise serve nothing without a word.

This module knows nothing of the REST JSON format, HTTP or gRPC servers: ``codec``, ``rest`` and
``grpc_api`` import it, never the other way round.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from typing import NamedTuple

import numpy as np

from keras_gans.errors import UsageError
from keras_gans.serving.names import VERSION_DIR_RE, InvalidModelName, check_model_name

log = logging.getLogger("keras_gans.serving")

DEFAULT_SIGNATURE = "serving_default"
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
DEFAULT_MAX_BATCH = 1024
LABELS_FILE = "labels.json"
# Scalar integer inputs that are a batch size (the `sample` signature's sample count): capped by
# max_batch like the first dimension of batched inputs.
BATCH_SIZE_INPUTS = ("num",)

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


def invalid(message: str) -> ServeError:
    """The refusal of a bad request: INVALID_ARGUMENT (HTTP 400)."""
    return ServeError("INVALID_ARGUMENT", message)


def check_request_model_name(name: str) -> str:
    """The model name of a request, checked by the one model-name rule (``names``) before it
    goes near a path: ``..``, slashes, hidden or all-digit names are INVALID_ARGUMENT."""
    try:
        return check_model_name(name)
    except InvalidModelName as e:
        raise invalid(str(e)) from None


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

    def __init__(self, name: str, fn, signature_def, notes: dict | None = None):
        self.name = name
        self.fn = fn
        self.inputs = {k: _tensor_info(v) for k, v in sorted(signature_def.inputs.items())}
        self.outputs = {k: _tensor_info(v) for k, v in sorted(signature_def.outputs.items())}
        self.notes = {k: v for k, v in (notes or {}).items() if k in self.inputs}

    def describe_inputs(self) -> str:
        return ", ".join(f"{k} {i.dtype_name} {_shape_str(i.shape)}"
                         + (f" ({self.notes[k]})" if k in self.notes else "")
                         for k, i in self.inputs.items())

    def validate(self, arrays: dict, max_batch: int) -> None:
        """Names, dtypes, shapes and batch limits of ``{name: np.ndarray}``; raises ServeError."""
        missing = sorted(set(self.inputs) - set(arrays))
        extra = sorted(set(arrays) - set(self.inputs))
        if missing or extra:
            what = "; ".join(([f"missing input(s): {', '.join(missing)}"] if missing else [])
                             + ([f"unknown input(s): {', '.join(extra)}"] if extra else []))
            raise invalid(f"{what}. Signature '{self.name}' takes: {self.describe_inputs()}")
        for key, info in self.inputs.items():
            arr = arrays[key]
            if info.np_dtype is object:
                ok = arr.dtype == object and all(isinstance(x, bytes) for x in arr.flat)
            else:
                ok = arr.dtype == info.np_dtype
            if not ok:
                raise invalid(f"input '{key}' of signature '{self.name}' expects {info.dtype_name}, "
                              f"got {_dtype_name(arr.dtype)}")
            if info.shape is not None and (
                    arr.ndim != len(info.shape)
                    or any(d >= 0 and d != n for d, n in zip(info.shape, arr.shape))):
                raise invalid(f"input '{key}' of signature '{self.name}' expects shape "
                              f"{_shape_str(info.shape)} (-1: any size), got {list(arr.shape)}")
            if arr.ndim >= 1 and arr.shape[0] > max_batch:
                raise invalid(f"input '{key}' has {arr.shape[0]} rows; this server takes at most "
                              f"{max_batch} per request (--max-batch)")
            if (arr.ndim == 0 and key in BATCH_SIZE_INPUTS and arr.dtype.kind in "iu"
                    and int(arr) > max_batch):
                raise invalid(f"input '{key}' asks for {int(arr)} rows; this server takes at most "
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
            raise invalid(tf_error_text(e.message)) from None
        except tf.errors.ResourceExhaustedError as e:
            raise ServeError("RESOURCE_EXHAUSTED", tf_error_text(e.message)) from None
        except (ValueError, TypeError) as e:  # argument binding: shapes/dtypes the checks missed
            raise invalid(tf_error_text(str(e))) from None
        return {k: v.numpy() for k, v in result.items()}


def tf_error_text(text: str, limit: int = 600) -> str:
    text = text.split("\n\t [[", 1)[0].strip()  # drop TF's graph-node trailer
    # Drop the eager runtime's preamble ("Graph execution error: ... Detected at node ...
    # <stack traces unavailable>"): the in-graph check's own message is what the client needs.
    marker = "<stack traces unavailable>\n"
    if text.startswith("Graph execution error") and marker in text:
        text = text.split(marker, 1)[1].strip()
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


def input_notes(path: str) -> dict:
    """What a keras-gans export's inputs expect beyond their signature dtype and shape, from its
    metadata (``assets.extra/keras_gans.json``): an image-conditioned generator's condition
    inputs have no static size in the signatures (they are checked in the graph), so refusals
    name the expected ``[N, H, W, C]`` from here. Empty for other SavedModels."""
    from keras_gans.serving.export import condition_description, read_export_metadata

    try:
        meta = read_export_metadata(path) or {}
    except (OSError, ValueError):
        return {}
    shape = meta.get("condition_shape") if isinstance(meta, dict) else None
    if not shape:
        return {}
    expected = condition_description(shape)
    return {"condition": expected, "condition_png_bytes": f"one PNG file each: {expected}"}


class Servable:
    """One loaded version: the ``tf.saved_model.load`` object and its signatures."""

    def __init__(self, name: str, version: int, path: str):
        import tensorflow as tf

        self.name, self.version, self.path = name, version, path
        self.signature_defs = read_signature_defs(path)
        self._loaded = tf.saved_model.load(path)
        notes = input_notes(path)
        self.signatures = {k: Signature(k, fn, self.signature_defs[k], notes)
                           for k, fn in self._loaded.signatures.items() if k in self.signature_defs}

    def signature(self, name: str | None, grpc: bool = False) -> Signature:
        """A signature by name (default ``serving_default``); unknown: INVALID_ARGUMENT as TF
        Serving's REST layer answers, FAILED_PRECONDITION as its gRPC Predict does (both 400)."""
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            have = f"(model {self.name} version {self.version} has: {', '.join(sorted(self.signatures))})"
            if grpc:
                raise ServeError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found. {have}')
            raise invalid(f'Serving signature name: "{name}" not found in signature def {have}')
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
        self._ignored: set[str] = set()  # directories already logged as not models
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
            if not os.path.isdir(model_dir):
                continue
            try:
                check_model_name(name)
            except InvalidModelName as e:
                self._log_ignored(name, e)
                continue
            versions = {}
            try:
                subdirs = os.listdir(model_dir)
            except OSError:
                continue
            for d in subdirs:
                path = os.path.join(model_dir, d)
                if VERSION_DIR_RE.fullmatch(d) and os.path.isfile(os.path.join(path, "saved_model.pb")):
                    versions[int(d)] = path
            found[name] = (versions, self._read_labels(name, model_dir))
        return found

    def _log_ignored(self, name: str, reason: Exception) -> None:
        """Say once per directory that it is not served (hidden ones, such as ``.tmp-*``, only
        at DEBUG: they are meant to be invisible)."""
        if name in self._ignored:
            return
        self._ignored.add(name)
        log.log(logging.DEBUG if name.startswith(".") else logging.WARNING,
                "model base %s: ignoring directory %r: %s", self.model_base, name, reason)

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
            raise invalid(f"Unrecognized servable version label: {label}")
        return model.labels[label]

    def _model_and_version(self, name: str, version: int | None, label: str | None):
        """Validate the request's name / version / label; call with the lock held."""
        check_request_model_name(name)
        if version is not None and label is not None:
            raise invalid(f"Both model version ({version}) and model version label ({label}) "
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
            raise invalid(f"Metadata field {f} is not supported")
    if not fields:
        raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
    resp = get_model_metadata_pb2.GetModelMetadataResponse()
    resp.model_spec.name = servable.name
    resp.model_spec.version.value = servable.version
    sdm = get_model_metadata_pb2.SignatureDefMap()
    for k, v in servable.signature_defs.items():
        sdm.signature_def[k].CopyFrom(v)
    resp.metadata["signature_def"].Pack(sdm)
    return resp


# --- the model base as a whole ------------------------------------------------------------------


def check_model_base_layout(model_base: str) -> None:
    """Catch the common mix-up of passing one model's directory (or one version's) as MODEL_BASE:
    the scan would find no models there and serve nothing, silently. Raises UsageError."""
    if not os.path.isdir(model_base):
        return  # ModelServer says so
    if os.path.isfile(os.path.join(model_base, "saved_model.pb")):
        raise UsageError(f"{model_base} is one SavedModel version: pass the directory two levels up "
                         "(MODEL_BASE holds NAME/<version>/)")
    for d in os.listdir(model_base):
        if VERSION_DIR_RE.fullmatch(d) and os.path.isfile(os.path.join(model_base, d, "saved_model.pb")):
            raise UsageError(f"{model_base} holds versions directly ({d}/): it is one model's directory; "
                             "pass its parent as MODEL_BASE (MODEL_BASE holds NAME/<version>/)")
