"""TF Serving's REST API over HTTP/1.1 (``tensorflow_serving/g3doc/api_rest.md``)::

    GET  /v1/models/NAME[/versions/N | /labels/L]             model status (GetModelStatusResponse)
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata    signature defs (GetModelMetadata)
    POST /v1/models/NAME[/versions/N | /labels/L]:predict
         {"signature_name"?, "instances": [...]}  -> {"predictions": [...]}   (row format)
         {"signature_name"?, "inputs": ... }      -> {"outputs": ...}         (columnar format)

``GET /`` and ``GET /explore`` answer the explorer page (``explorer``: one self-contained HTML
document that itself calls only the endpoints above); nothing else is added.

The URL grammar is TF Serving's (``http_rest_api_util.cc``), case-insensitive like it; NAME is
URL-decoded and must be a model name (``keras_gans.serving.names``), else 400 before anything
touches the disk. Errors are ``{"error": "..."}`` with the status codes ``http_server.cc`` maps
TF Serving's to: 400 bad JSON / dtype / shape / missing or unknown inputs / both formats / unknown
signature / unknown label / invalid model name (TF Serving answers unknown signatures and labels
with INVALID_ARGUMENT, hence 400, not 404), 404 unknown model or version (and unknown endpoints),
405 wrong method, 411 no Content-Length (or a chunked body), 413 body over ``max_body_bytes``
(refused before reading when the client sends ``Expect: 100-continue``), 501 ``:classify`` and
``:regress``, 500 only for server faults. String inputs take plain strings or ``{"b64": ...}``;
string outputs whose name ends in ``_bytes`` come back as ``{"b64": ...}``. Scalar inputs (the
``sample`` signature's ``seed``, ``num``, ``truncation``) need the columnar format: the row format
batches every input along a new first dimension (as TF Serving does, which then fails). The JSON
rules themselves live in ``codec``.

``RestApi`` is the API as a pure function (method, path, body) -> (status, JSON, headers), so it
is testable without sockets; ``RestServer`` is the threaded keep-alive HTTP server around it.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from keras_gans.serving import explorer
from keras_gans.serving.codec import (inputs_to_arrays, instances_to_arrays, metadata_json,
                                      outputs_to_json, proto_json)
from keras_gans.serving.models import (DEFAULT_MAX_BATCH, ModelManager, ServeError,
                                       check_request_model_name, invalid,
                                       metadata_response, status_response)

log = logging.getLogger("keras_gans.serving")

# TF Serving's URL grammar (http_rest_api_util.cc), case-insensitive like it.
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/([0-9]+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/([0-9]+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE)


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
        """``(status, payload, headers)``: payload is a JSON dict, or ``bytes`` (the explorer
        page, whose headers carry its Content-Type)."""
        try:
            path = urlsplit(raw_path).path
            if path in explorer.PATHS:
                return self._page(method)
            return (200, *self._route(method, path, body))
        except ServeError as e:
            return e.http_status, {"error": e.message}, {}
        except _HttpError as e:
            return e.status, {"error": e.message}, e.headers

    def _page(self, method):
        if method not in ("GET", "HEAD"):
            raise _HttpError(405, f"{method} is not allowed on the explorer page: use GET", {"Allow": "GET"})
        return 200, explorer.page(self.manager), {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": explorer.CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer"}

    @staticmethod
    def _spec(name, vstr, label):
        name = check_request_model_name(unquote(name))
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
                raise invalid("Missing model name in request.")
            name, version, label = self._spec(*m.group(1, 2, 3))
            if m.group(4):
                return metadata_json(metadata_response(self.manager.resolve(name, version, label))), {}
            return proto_json(status_response(self.manager, name, version, label)), {}
        raise _HttpError(404, f"Malformed request: {method} {path} (endpoints: GET /v1/models/NAME"
                         "[/versions/N|/labels/L][/metadata], POST /v1/models/NAME"
                         "[/versions/N|/labels/L]:predict)")

    def _predict(self, name, version, label, body) -> dict:
        if not body:
            raise invalid("JSON Parse error: The document is empty")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise invalid(f"JSON Parse error: {e}") from None
        if not isinstance(doc, dict):
            raise invalid("JSON Value: the request body is not an object: expected "
                          '{"signature_name"?, "instances": [...]} or {"signature_name"?, "inputs": ...}')
        sig_name = doc.get("signature_name", "")
        if not isinstance(sig_name, str):
            raise invalid("'signature_name' key must be a string")
        if "instances" in doc and "inputs" in doc:
            raise invalid("Not formatted correctly expecting only one of 'inputs' or 'instances' "
                          "keys to exist")
        if "instances" not in doc and "inputs" not in doc:
            raise invalid("Missing 'inputs' or 'instances' key")
        servable = self.manager.resolve(name, version, label)
        sig = servable.signature(sig_name)
        row = "instances" in doc
        arrays = instances_to_arrays(doc["instances"], sig) if row else inputs_to_arrays(doc["inputs"], sig)
        return outputs_to_json(sig.run(arrays, self.max_batch), row_format=row)


class RestServer(ThreadingHTTPServer):
    """``RestApi`` over HTTP/1.1: a thread per connection (keep-alive), bodies up to
    ``max_body_bytes``. Binds in the constructor (OSError when the port is taken)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: RestApi, max_body_bytes: int):
        self.api, self.max_body_bytes = api, max_body_bytes
        super().__init__(address, _RestHandler)

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

    def _send_json(self, status: int, payload, headers=None, head_only=False):
        headers = dict(headers or {})
        if isinstance(payload, bytes):  # the explorer page: its headers name its type
            data = payload
        else:
            data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
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
