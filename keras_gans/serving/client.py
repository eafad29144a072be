"""A client for TF Serving's REST and gRPC APIs (``keras-gans serve`` or ``tensorflow_model_server``).

    from keras_gans.serving.client import Client
    c = Client("http://127.0.0.1:8501")               # or Client("127.0.0.1:8500", protocol="grpc")
    c.status("mnist")                                  # {"model_version_status": [...]}
    c.metadata("mnist")                                # {"model_spec": ..., "metadata": ...}
    out = c.predict("mnist", {"z": z})                 # {"images": uint8 [N,H,W,C], ...}
    images, z = c.sample("mnist", num=16, seed=0)      # the `sample` signature
    images, z = c.generate("edges", open("in.png", "rb").read(), num=8)  # image-conditioned

Only the documented APIs are used: REST is plain JSON per ``api_rest.md`` (inputs are cast to the
signature's dtypes from the model metadata, outputs decoded back to NumPy with them); gRPC sends
``PredictRequest`` / ``TensorProto`` (``tf.make_tensor_proto`` / ``tf.make_ndarray``). The REST
path needs only NumPy; gRPC imports ``tensorflow-serving-api`` (and so TensorFlow) on first use.
Failures raise ``ServingError`` with the HTTP status or gRPC code and the server's message.

``keras-gans sample`` (``keras_gans.commands.sample``) is this client's ``sample`` plus a PNG grid.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from urllib.parse import quote, urlsplit

import numpy as np

DEFAULT_SIGNATURE = "serving_default"
REST_PORT, GRPC_PORT = 8501, 8500

# TF Serving's status codes -> HTTP (http_server.cc), used to give gRPC errors an HTTP-like status.
_GRPC_TO_HTTP = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
                 "NOT_FOUND": 404, "UNIMPLEMENTED": 501, "RESOURCE_EXHAUSTED": 429,
                 "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504, "PERMISSION_DENIED": 403,
                 "UNAUTHENTICATED": 401, "ALREADY_EXISTS": 409, "ABORTED": 409}
_DT_TO_NP = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_HALF": np.float16,
             "DT_INT8": np.int8, "DT_INT16": np.int16, "DT_INT32": np.int32, "DT_INT64": np.int64,
             "DT_UINT8": np.uint8, "DT_UINT16": np.uint16, "DT_UINT32": np.uint32,
             "DT_UINT64": np.uint64, "DT_BOOL": np.bool_, "DT_STRING": object}


class ServingError(RuntimeError):
    """A failed call: ``status`` (HTTP, also set for gRPC from TF Serving's mapping), ``code``
    (gRPC status name, or None for REST), ``message`` (the server's)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        where = code if code is not None else (f"HTTP {status}" if status is not None else None)
        super().__init__(f"{where}: {message}" if where else message)
        self.message, self.status, self.code = message, status, code

    @property
    def is_client_error(self) -> bool:
        """The request was wrong (bad input, unknown model/version/signature), not the server."""
        return self.status is not None and 400 <= self.status < 500


def _parse_target(url: str, protocol: str) -> tuple[str, int, str]:
    """``http://host:port``, ``grpc://host:port`` or ``host[:port]`` -> (host, port, base path)."""
    if "://" not in url:
        url = "scheme://" + url
    parts = urlsplit(url)
    if parts.scheme == "https":
        raise ValueError("https is not supported: use http:// (or put a TLS proxy in front)")
    if not parts.hostname:
        raise ValueError(f"no host in server address {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in server address {url!r}") from None
    return parts.hostname, port or (REST_PORT if protocol == "rest" else GRPC_PORT), parts.path.rstrip("/")


def _version_path(version) -> str:
    if version is None:
        return ""
    if isinstance(version, (int, np.integer)) or (isinstance(version, str) and version.isdigit()):
        return f"/versions/{int(version)}"
    return f"/labels/{quote(str(version), safe='')}"


def _to_json_value(arr: np.ndarray):
    if arr.dtype == object or arr.dtype.kind in "SU":
        def conv(v):
            if isinstance(v, list):
                return [conv(x) for x in v]
            if isinstance(v, str):
                v = v.encode("utf-8")
            return {"b64": base64.b64encode(bytes(v)).decode("ascii")}
        return conv(arr.tolist())
    return arr.tolist()


def _from_json_value(value, dtype_name: str | None) -> np.ndarray:
    np_dtype = _DT_TO_NP.get(dtype_name)
    if np_dtype is object or (np_dtype is None and _has_strings(value)):
        def conv(v):
            if isinstance(v, list):
                return [conv(x) for x in v]
            if isinstance(v, dict) and "b64" in v:
                return base64.b64decode(v["b64"])
            return v.encode("utf-8") if isinstance(v, str) else v
        return np.array(conv(value), dtype=object)
    return np.asarray(value, dtype=np_dtype)


def _has_strings(value) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, (str, dict))


class Client:
    """Talks to one server. Thread-safe (REST keeps one keep-alive connection per thread).

    Args:
        url_or_host: ``http://host:8501`` (REST), ``host:8500`` / ``grpc://host:8500`` (gRPC);
            the port defaults to 8501 (REST) or 8500 (gRPC).
        protocol: ``"rest"`` or ``"grpc"``.
        timeout: seconds per call.
        metadata_ttl: seconds model metadata (used to cast inputs and name outputs) is cached
            for requests without an explicit version (a new version may change it).
    """

    def __init__(self, url_or_host: str, protocol: str = "rest", timeout: float = 60.0,
                 metadata_ttl: float = 10.0):
        if protocol not in ("rest", "grpc"):
            raise ValueError(f"protocol must be 'rest' or 'grpc', got {protocol!r}")
        self.protocol, self.timeout, self.metadata_ttl = protocol, timeout, metadata_ttl
        self.host, self.port, self._base = _parse_target(url_or_host, protocol)
        self._local = threading.local()
        self._meta_cache: dict = {}
        self._meta_lock = threading.Lock()
        self._channel = self._predict_stub = self._model_stub = None
        if protocol == "grpc":
            import grpc
            from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

            host = f"[{self.host}]" if ":" in self.host else self.host
            self._channel = grpc.insecure_channel(
                f"{host}:{self.port}", options=[("grpc.max_receive_message_length", -1),
                                                ("grpc.max_send_message_length", -1)])
            self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
            self._model_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- REST plumbing
    def _rest(self, method: str, path: str, payload=None) -> dict:
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            fresh = conn is None
            if fresh:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self._local.conn = conn
            try:
                conn.request(method, self._base + path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest) as e:
                conn.close()
                self._local.conn = None
                if fresh or attempt:  # a reused keep-alive connection may have been closed: retry once
                    raise ServingError(f"connection to {self.host}:{self.port} failed: {e}") from e
                continue
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._local.conn = None
                raise ServingError(f"cannot reach {self.host}:{self.port}: {e}") from e
            if resp.will_close:
                conn.close()
                self._local.conn = None
            try:
                doc = json.loads(data) if data else {}
            except ValueError:
                doc = {"error": data[:500].decode("utf-8", "replace")}
            if resp.status != 200:
                msg = doc.get("error", resp.reason) if isinstance(doc, dict) else resp.reason
                raise ServingError(str(msg), status=resp.status)
            return doc
        raise AssertionError("unreachable")

    def _model_path(self, model: str, version) -> str:
        return f"/v1/models/{quote(model, safe='')}{_version_path(version)}"

    # --- gRPC plumbing
    def _spec(self, spec, model: str, version, signature_name=None):
        spec.name = model
        if version is not None:
            if isinstance(version, (int, np.integer)) or (isinstance(version, str) and version.isdigit()):
                spec.version.value = int(version)
            else:
                spec.version_label = str(version)
        if signature_name:
            spec.signature_name = signature_name

    def _grpc(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code().name if hasattr(e, "code") and e.code() is not None else "UNKNOWN"
            raise ServingError(e.details() if hasattr(e, "details") else str(e),
                               status=_GRPC_TO_HTTP.get(code, 500),
                               code=code) from None

    # --- API
    def status(self, model: str, version=None) -> dict:
        """GetModelStatus as TF Serving's REST JSON: ``{"model_version_status": [...]}``."""
        if self.protocol == "rest":
            return self._rest("GET", self._model_path(model, version))
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        req = get_model_status_pb2.GetModelStatusRequest()
        self._spec(req.model_spec, model, version)
        resp = self._grpc(self._model_stub.GetModelStatus, req)
        return json_format.MessageToDict(resp, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)

    def metadata(self, model: str, version=None) -> dict:
        """GetModelMetadata as TF Serving's REST JSON:
        ``{"model_spec": {...}, "metadata": {"signature_def": {"signature_def": {name: ...}}}}``."""
        if self.protocol == "rest":
            return self._rest("GET", self._model_path(model, version) + "/metadata")
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        req = get_model_metadata_pb2.GetModelMetadataRequest()
        self._spec(req.model_spec, model, version)
        req.metadata_field.append("signature_def")
        resp = self._grpc(self._predict_stub.GetModelMetadata, req)
        sdm = get_model_metadata_pb2.SignatureDefMap()
        resp.metadata["signature_def"].Unpack(sdm)
        opts = dict(preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        return {"model_spec": json_format.MessageToDict(resp.model_spec, **opts),
                "metadata": {"signature_def": json_format.MessageToDict(sdm, **opts)}}

    def signature(self, model: str, signature_name: str | None = None, version=None) -> dict:
        """One signature def from the (cached) metadata: ``{"inputs": {...}, "outputs": {...}}``."""
        key = (model, None if version is None else str(version))
        now = time.monotonic()
        with self._meta_lock:
            hit = self._meta_cache.get(key)
        if hit is None or (version is None and now - hit[0] > self.metadata_ttl):
            hit = (now, self.metadata(model, version))
            with self._meta_lock:
                self._meta_cache[key] = hit
        sigs = hit[1].get("metadata", {}).get("signature_def", {}).get("signature_def", {})
        name = signature_name or DEFAULT_SIGNATURE
        if name not in sigs:
            raise ServingError(f'model {model} has no signature "{name}" (it has: '
                               f"{', '.join(sorted(k for k in sigs if not k.startswith('__')))})",
                               status=400)
        return sigs[name]

    def predict(self, model: str, inputs: dict, signature_name: str | None = None, version=None,
                format: str = "columnar", output_filter=None) -> dict:
        """Run a signature; returns ``{output name: np.ndarray}``.

        Args:
            inputs: ``{input name: array-like}``; values are cast to the signature's dtypes
                (bytes/str for string inputs, sent as ``{"b64": ...}`` over REST).
            signature_name: default ``serving_default``.
            version: an int version, a version label (str), or None for the server's default.
            format: REST only: ``"columnar"`` (``inputs``) or ``"row"`` (``instances``; every
                input batched, no scalar inputs).
            output_filter: gRPC only: the outputs to return (REST returns all of them).
        """
        if format not in ("columnar", "row"):
            raise ValueError(f"format must be 'columnar' or 'row', got {format!r}")
        sig = self.signature(model, signature_name, version)
        spec_in, spec_out = sig.get("inputs", {}), sig.get("outputs", {})
        arrays = {}
        for k, v in inputs.items():  # cast to the signature's dtype (unknown names: as given)
            arrays[k] = np.asarray(v, dtype=_DT_TO_NP.get(spec_in.get(k, {}).get("dtype")))
        if self.protocol == "grpc":
            import tensorflow as tf
            from tensorflow_serving.apis import predict_pb2

            req = predict_pb2.PredictRequest()
            self._spec(req.model_spec, model, version, signature_name)
            for k, arr in arrays.items():
                req.inputs[k].CopyFrom(tf.make_tensor_proto(arr))
            req.output_filter.extend(output_filter or [])
            resp = self._grpc(self._predict_stub.Predict, req)
            return {k: tf.make_ndarray(v) for k, v in resp.outputs.items()}
        body: dict = {}
        if signature_name:
            body["signature_name"] = signature_name
        if format == "columnar":
            body["inputs"] = {k: _to_json_value(a) for k, a in arrays.items()}
        else:
            sizes = {a.shape[0] if a.ndim else None for a in arrays.values()}
            if None in sizes or len(sizes) != 1:
                raise ValueError("the row format needs every input batched with the same number of "
                                 "rows; use format='columnar'")
            cols = {k: _to_json_value(a) for k, a in arrays.items()}
            n = sizes.pop()
            body["instances"] = (cols[next(iter(cols))] if len(cols) == 1
                                 else [{k: c[i] for k, c in cols.items()} for i in range(n)])
        doc = self._rest("POST", self._model_path(model, version) + ":predict", body)
        names = sorted(spec_out)
        if format == "columnar":
            out = doc.get("outputs")
            if not isinstance(out, dict) or (len(names) == 1 and set(out) != set(names)):
                out = {names[0] if len(names) == 1 else "outputs": out}
            return {k: _from_json_value(v, spec_out.get(k, {}).get("dtype")) for k, v in out.items()}
        rows = doc.get("predictions", [])
        if len(names) == 1 or (rows and not isinstance(rows[0], dict)):
            name = names[0] if names else "predictions"
            return {name: _from_json_value(rows, spec_out.get(name, {}).get("dtype"))}
        keys = rows[0].keys() if rows else names
        return {k: _from_json_value([r[k] for r in rows], spec_out.get(k, {}).get("dtype")) for k in keys}

    def sample(self, model: str, num: int, seed: int = 0, truncation: float = 0.0, class_id=None,
               version=None) -> tuple[np.ndarray, np.ndarray]:
        """The ``sample`` signature: ``num`` images from ``seed`` -> (uint8 [N,H,W,C], z [N, latent]).

        ``class_id`` (conditional models): one id for all images, or ``num`` ids; a negative id
        (and the default, None) draws random classes from the seed.
        """
        sig = self.signature(model, "sample", version)
        if "condition" in sig.get("inputs", {}):
            raise ValueError(f"model {model} is image-conditioned: use generate(model, condition, "
                             "num=..., seed=...) with condition images")
        conditional = "class_id" in sig.get("inputs", {})
        inputs = {"seed": int(seed), "num": int(num), "truncation": float(truncation)}
        if conditional:
            ids = np.asarray(-1 if class_id is None else class_id, dtype=np.int32).reshape(-1)
            inputs["class_id"] = ids
        elif class_id is not None:
            raise ValueError(f"model {model} is not class-conditional: leave class_id out")
        out = self.predict(model, inputs, signature_name="sample", version=version,
                           format="columnar", output_filter=["images", "z"])
        return out["images"], out["z"]

    def generate(self, model: str, condition, num: int = 1, seed: int = 0, z=None,
                 version=None) -> tuple[np.ndarray, np.ndarray]:
        """Outputs of an image-conditioned model for ``condition`` -> (uint8 [N,H,W,C], z [N, latent]).

        Args:
            condition: the condition images: PNG files (``bytes``, or a list of them; sent as
                ``{"b64": ...}`` over REST, TF Serving's binary input form, to ``serving_png`` /
                ``sample_png``) or uint8 arrays ``[M, H, W, C]`` (or one ``[H, W, C]``; to
                ``serving_default`` / ``sample``). The server checks their size and channels
                (a wrong image: ``ServingError`` with status 400 naming the expected shape).
            num, seed: without ``z``: ``num`` outputs per image from ``seed`` (the ``sample``
                signatures; image i's outputs are rows ``i * num .. i * num + num - 1``).
            z: latents ``[M, latent]``, one per condition image (``serving_default`` /
                ``serving_png``); ``num`` and ``seed`` are then unused.
        """
        as_png = isinstance(condition, (bytes, bytearray)) or (
            isinstance(condition, (list, tuple)) and condition
            and all(isinstance(c, (bytes, bytearray)) for c in condition))
        if as_png:
            files = [bytes(condition)] if isinstance(condition, (bytes, bytearray)) else [bytes(c) for c in condition]
            cond = {"condition_png_bytes": np.array(files, dtype=object)}
        else:
            arr = np.asarray(condition)
            if arr.dtype != np.uint8:
                raise ValueError(f"condition images must be uint8 (0..255) arrays or PNG bytes, "
                                 f"got dtype {arr.dtype}")
            cond = {"condition": arr[None] if arr.ndim == 3 else arr}
        if z is None:
            sig = "sample_png" if as_png else "sample"
            out = self.predict(model, {**cond, "seed": int(seed), "num": int(num)},
                               signature_name=sig, version=version, output_filter=["images", "z"])
            return out["images"], out["z"]
        sig = "serving_png" if as_png else "serving_default"
        z = np.asarray(z, np.float32)
        out = self.predict(model, {**cond, "z": z}, signature_name=sig, version=version,
                           output_filter=["images"])
        return out["images"], z


__all__ = ["Client", "ServingError"]
