"""``keras-gans serve``: a local model server speaking TF Serving's REST and gRPC APIs.

It serves the SavedModels that ``keras-gans export`` writes (``MODEL_BASE/NAME/<int version>/``),
so a client written against it works unchanged against the official ``tensorflow_model_server``
and the other way round. It is meant for laptops, tests and CI (production uses TF Serving's
Docker image); it binds ``127.0.0.1`` by default and has no authentication.

The APIs, in short (each module's docstring has the details)::

    REST  GET  /v1/models/NAME[/versions/N | /labels/L][/metadata]      status / signature defs
          POST /v1/models/NAME[/versions/N | /labels/L]:predict         "instances" or "inputs"
    gRPC  tensorflow.serving.PredictionService (Predict, GetModelMetadata)
          tensorflow.serving.ModelService (GetModelStatus)

The package, with dependencies pointing one way (nothing imports this module but the
``keras-gans serve`` command and callers of ``ModelServer``)::

    names     the model-name and version-directory rules (also used by ``export``)
    models    versions on disk: loading, polling, resolving requests; signatures and their
              input checks; ServeError; the status and metadata protos        <- names
    codec     JSON <-> NumPy (TF Serving's json_tensor.cc rules), protos as JSON <- models
    rest      the REST API and its HTTP server                                <- models, codec
    grpc_api  the gRPC services and their server                              <- models
    server    ModelServer (REST + gRPC over one ModelManager), serve()        <- models, rest, grpc_api

Limits: ``max_body_bytes`` per request (REST body, gRPC message) and ``max_batch`` rows per input
(also caps a scalar ``num`` input, the sample count of ``sample``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Callable, NamedTuple

from keras_gans.errors import UsageError
from keras_gans.serving.grpc_api import start_grpc_server
from keras_gans.serving.models import (DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, ModelManager,
                                       check_model_base_layout)
from keras_gans.serving.rest import RestApi, RestServer

log = logging.getLogger("keras_gans.serving")


class Ports(NamedTuple):
    """The bound ports (None: that front end is off)."""

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

    def __init__(self, model_base: str, host: str = "127.0.0.1", rest_port: int | None = 8501,
                 grpc_port: int | None = 8500, poll_seconds: float = 2.0,
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
        self._http: RestServer | None = None
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
                self._http = RestServer((self.host, rest_port), self.api, self.max_body_bytes)
                rest = self._http.server_address[1]
            if grpc_port is not None and grpc_port >= 0:
                self._grpc, grpc_bound = start_grpc_server(
                    self.manager, _hostport(self.host, grpc_port), max_batch=self.max_batch,
                    max_body_bytes=self.max_body_bytes, workers=self.grpc_workers)
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


# --- serving until stopped (what `keras-gans serve` does after parsing) ---------------------------


def _announce(line: str) -> None:
    print(line, flush=True)


def serve(model_base: str, *, host: str = "127.0.0.1", rest_port: int | None = 8501,
          grpc_port: int | None = 8500, poll_seconds: float = 2.0,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_batch: int = DEFAULT_MAX_BATCH,
          stop: threading.Event | None = None, announce: Callable[[str], None] = _announce) -> None:
    """Serve ``model_base`` until SIGINT/SIGTERM or until ``stop`` is set, then shut down.

    Signal handlers are installed only when called from the main thread (and restored on the
    way out); from another thread, set ``stop``. ``announce`` gets two lines meant for a
    terminal, which scripts (the tests, the serving benchmark) parse: the addresses once bound
    (``... REST http://HOST:PORT, gRPC HOST:PORT ...``, ``off`` for a disabled front end), and
    ``... ready: NAME [versions], ...`` once the first scan has loaded every version on disk.

    Raises:
        UsageError: MODEL_BASE missing or laid out wrong (one model's or one version's
            directory), both front ends disabled, bad limits, a port that cannot be bound, or
            gRPC without tensorflow-serving-api.
    """
    check_model_base_layout(model_base)
    if (rest_port is None or rest_port < 0) and (grpc_port is None or grpc_port < 0):
        raise UsageError("both --rest-port and --grpc-port are disabled: nothing to serve")
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding %s: the server has no authentication; anyone who can reach it can "
                    "use it", host)
    server = ModelServer(model_base, host=host, rest_port=rest_port, grpc_port=grpc_port,
                         poll_seconds=poll_seconds, max_body_bytes=max_body_bytes,
                         max_batch=max_batch)
    stop = stop if stop is not None else threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        try:
            server.start()
        except OSError as e:
            raise UsageError(f"cannot listen on {host}: {e} (pick other ports with "
                             "--rest-port/--grpc-port, or 0 for free ones)") from None
        announce(f"keras-gans serve: REST {server.rest_url or 'off'}, gRPC {server.grpc_target or 'off'}"
                 f" (models from {model_base}); Ctrl-C stops")
        announced = False
        while not stop.wait(0.5):
            if not announced and server.manager.wait_until_ready(0):
                announced = True
                models = {n: server.manager.available_versions(n) for n in server.manager.model_names()}
                announce("keras-gans serve: ready: " + (", ".join(
                    f"{n} {v or '(no loadable version)'}" for n, v in models.items()) or
                    f"no models under {model_base} yet"))
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
