"""keras-gans serve / the serving client, against tiny fixture SavedModels, on 127.0.0.1 only.

One server (free ports, 0.3 s polling, small limits) serves a module-scoped MODEL_BASE:
``gen`` (unconditional, version 1 + a ``.tmp-*`` export in progress + labels.json),
``cond`` (class-conditional), ``png`` (a string input, for b64), ``broken`` (a version that fails
to load) and ``hot`` (versions copied in and removed while it runs). Expected values come from
calling the same SavedModels in-process (``tf.saved_model.load``).
"""

import base64
import http.client
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import numpy as np
import pytest

from helpers import serving_fixtures as fx

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_serving.apis")

from keras_gans.cli import main as cli_main  # noqa: E402
from keras_gans.errors import UsageError  # noqa: E402
from keras_gans.serving import client as client_lib  # noqa: E402
from keras_gans.serving import codec, export, models, names  # noqa: E402
from keras_gans.serving import rest as rest_lib  # noqa: E402
from keras_gans.serving import server as server_lib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_BODY = 256 * 1024
MAX_BATCH = 64


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    mb = str(root / "models")
    fx.export_fixture(mb, "gen", 1)
    fx.export_fixture(mb, "cond", 1, conditional=True)
    fx.export_png_decoder(mb, "png")
    os.makedirs(os.path.join(mb, "gen", ".tmp-inprogress"))            # an export being written
    os.makedirs(os.path.join(mb, "gen", "notes"))                      # not a version
    with open(os.path.join(mb, "gen", "labels.json"), "w") as f:
        json.dump({"stable": 1}, f)
    os.makedirs(os.path.join(mb, "broken", "1", "variables"))
    with open(os.path.join(mb, "broken", "1", "saved_model.pb"), "wb") as f:
        f.write(b"this is not a SavedModel")
    templates = str(root / "templates")
    v1 = fx.export_fixture(templates, "hot", 1)
    v2 = fx.export_fixture(templates, "hot", 2)
    fx.copy_version(v1, os.path.join(mb, "hot"), 1)
    return {"models": mb, "hot_v1": v1, "hot_v2": v2}


@pytest.fixture(scope="module")
def server(base):
    s = server_lib.ModelServer(base["models"], host="127.0.0.1", rest_port=0, grpc_port=0,
                               poll_seconds=0.3, max_body_bytes=MAX_BODY, max_batch=MAX_BATCH)
    ports = s.start()
    assert ports.rest and ports.grpc
    s.wait_until_ready(120)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def direct(base):
    """In-process signatures of the served SavedModels: {(model, version): loaded}."""
    cache = {}

    def get(model, version=1):
        path = os.path.join(base["models"], model, str(version))
        if (model, version) not in cache:
            cache[(model, version)] = tf.saved_model.load(path)
        return cache[(model, version)].signatures

    return get


def call(sigs, name, **inputs):
    return {k: v.numpy() for k, v in sigs[name](**{k: tf.constant(v) for k, v in inputs.items()}).items()}


def rest(server, method, path, body=None, headers=None):
    """One request on a fresh connection: (status, response headers, parsed JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.ports.rest, timeout=30)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, dict(resp.getheaders()), (json.loads(raw) if raw else None)
    finally:
        conn.close()


def raw_request(server, data: bytes) -> tuple[int, dict]:
    """Send raw bytes, return (status, JSON body) of the reply."""
    with socket.create_connection(("127.0.0.1", server.ports.rest), timeout=30) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, rest_ = buf.partition(b"\r\n\r\n")
        length = int([h.split(b":")[1] for h in head.split(b"\r\n")
                      if h.lower().startswith(b"content-length")][0])
        while len(rest_) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest_ += chunk
        return int(head.split()[1]), json.loads(rest_[:length])


Z = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)


# --- REST ----------------------------------------------------------------------------------------


def test_status_versions_labels_and_load_errors(server):
    ok = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                    "status": {"error_code": "OK", "error_message": ""}}]}
    for path in ("/v1/models/gen", "/v1/models/gen/versions/1", "/v1/models/gen/labels/stable",
                 "/V1/MODELS/gen"):  # TF Serving's URL grammar is case-insensitive
        status, headers, doc = rest(server, "GET", path)
        assert (status, doc) == (200, ok), path
        assert headers["Content-Type"] == "application/json"
    # a version that fails to load is reported, not fatal
    status, _, doc = rest(server, "GET", "/v1/models/broken")
    (entry,) = doc["model_version_status"]
    assert status == 200 and entry["state"] == "END" and entry["status"]["error_code"] != "OK"
    assert entry["status"]["error_message"]
    assert rest(server, "POST", "/v1/models/broken:predict", {"instances": [[0, 0, 0, 0]]})[0] == 404


def test_metadata_is_tf_serving_json_of_the_signature_defs(server, base):
    status, _, doc = rest(server, "GET", "/v1/models/cond/metadata")
    assert status == 200
    assert doc["model_spec"] == {"name": "cond", "version": "1", "signature_name": ""}
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "sample"} <= set(sigs)
    z = sigs["serving_default"]["inputs"]["z"]
    assert z["dtype"] == "DT_FLOAT"
    assert z["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}],
                                 "unknown_rank": False}
    assert sigs["sample"]["inputs"]["seed"]["dtype"] == "DT_INT64"
    assert sigs["sample"]["inputs"]["num"]["tensor_shape"]["dim"] == []
    assert sigs["serving_default"]["outputs"]["images"]["dtype"] == "DT_UINT8"
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    # exactly the SavedModel's signature defs
    want = models.read_signature_defs(os.path.join(base["models"], "cond", "1"))
    assert sigs["sample"] == codec.proto_json(want["sample"])
    assert rest(server, "GET", "/v1/models/cond/versions/1/metadata")[2] == doc


def test_predict_row_and_columnar_match_the_direct_call(server, direct):
    want = call(direct("gen"), "serving_default", z=Z)
    png = [{"b64": base64.b64encode(b).decode()} for b in want["images_png_bytes"]]
    # row format, single input: bare values; outputs: one object per row
    status, _, doc = rest(server, "POST", "/v1/models/gen:predict", {"instances": Z.tolist()})
    assert status == 200
    rows = doc["predictions"]
    assert np.array_equal(np.array([r["images"] for r in rows], np.uint8), want["images"])
    assert [r["images_png_bytes"] for r in rows] == png
    # row format, named objects; explicit version and signature
    status, _, doc2 = rest(server, "POST", "/v1/models/gen/versions/1:predict",
                           {"signature_name": "serving_default", "instances": [{"z": r} for r in Z.tolist()]})
    assert status == 200 and doc2 == doc
    # columnar: bare value and named object
    for inputs in (Z.tolist(), {"z": Z.tolist()}):
        status, _, doc = rest(server, "POST", "/v1/models/gen/labels/stable:predict", {"inputs": inputs})
        assert status == 200
        assert np.array_equal(np.array(doc["outputs"]["images"], np.uint8), want["images"])
        assert doc["outputs"]["images_png_bytes"] == png
    # conditional model, two inputs per row
    ids = np.array([0, 2, 1], np.int32)
    want = call(direct("cond"), "serving_default", z=Z, class_id=ids)
    status, _, doc = rest(server, "POST", "/v1/models/cond:predict",
                          {"instances": [{"z": z, "class_id": int(c)} for z, c in zip(Z.tolist(), ids)]})
    assert status == 200
    assert np.array_equal(np.array([r["images"] for r in doc["predictions"]], np.uint8), want["images"])
    # `sample` takes scalars: columnar only; z comes back bit-exact
    want = call(direct("cond"), "sample", seed=np.int64(7), num=np.int32(5), truncation=np.float32(0.5),
                class_id=np.array([-1], np.int32))
    status, _, doc = rest(server, "POST", "/v1/models/cond:predict",
                          {"signature_name": "sample",
                           "inputs": {"seed": 7, "num": 5, "truncation": 0.5, "class_id": [-1]}})
    assert status == 200
    out = doc["outputs"]
    assert np.array_equal(np.array(out["z"], np.float32), want["z"])
    assert np.array_equal(np.array(out["images"], np.uint8), want["images"])
    assert np.array_equal(np.array(out["class_id"]), want["class_id"])
    status, _, doc = rest(server, "POST", "/v1/models/cond:predict",
                          {"signature_name": "sample", "instances": [{"seed": 7, "num": 5, "truncation": 0.5,
                                                                      "class_id": -1}]})
    assert status == 400 and "columnar" in doc["error"] and '"inputs"' in doc["error"]


def test_b64_string_inputs_and_bytes_outputs(server, direct):
    images = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)
    pngs = [tf.io.encode_png(im).numpy() for im in images]
    b64 = [{"b64": base64.b64encode(p).decode()} for p in pngs]
    status, _, doc = rest(server, "POST", "/v1/models/png:predict", {"instances": b64})
    assert status == 200
    rows = doc["predictions"]
    assert np.array_equal(np.array([r["images"] for r in rows], np.uint8), images)
    assert [r["echo_bytes"] for r in rows] == b64                       # *_bytes -> {"b64": ...}
    assert [r["length_text"] for r in rows] == [str(len(p)) for p in pngs]  # plain string output
    status, _, doc = rest(server, "POST", "/v1/models/png:predict", {"inputs": {"png_bytes": ["plain text"]}})
    assert status == 400 and "png" in doc["error"].lower()               # a plain string is UTF-8 bytes
    status, _, doc = rest(server, "POST", "/v1/models/png:predict", {"inputs": [{"b64": "***"}]})
    assert status == 400 and "base64" in doc["error"]


BAD_REQUESTS = [
    # (method, path, body, status, words in the error)
    ("POST", "/v1/models/gen:predict", b"{not json", 400, "JSON Parse error"),
    ("POST", "/v1/models/gen:predict", b"", 400, "empty"),
    ("POST", "/v1/models/gen:predict", b"[1, 2]", 400, "not an object"),
    ("POST", "/v1/models/gen:predict", {"instances": [[1, 2, 3]]}, 400, "expects shape"),
    ("POST", "/v1/models/gen:predict", {"instances": [["a", "b", "c", "d"]]}, 400, "DT_FLOAT"),
    ("POST", "/v1/models/gen:predict", {"instances": [[1, 2, 3, 4], [1]]}, 400, "rectangular"),
    ("POST", "/v1/models/gen:predict", {"instances": [[0] * 4], "inputs": [[0] * 4]}, 400, "only one of"),
    ("POST", "/v1/models/gen:predict", {"signature_name": "serving_default"}, 400, "Missing 'inputs'"),
    ("POST", "/v1/models/gen:predict", {"instances": []}, 400, "No values"),
    ("POST", "/v1/models/gen:predict", {"signature_name": 3, "inputs": [[0] * 4]}, 400, "signature_name"),
    ("POST", "/v1/models/gen:predict", {"inputs": {"z": [[0] * 4], "w": 1}}, 400, "unknown input"),
    ("POST", "/v1/models/cond:predict", {"inputs": {"z": [[0] * 4]}}, 400, "Missing named input"),
    ("POST", "/v1/models/cond:predict", {"inputs": {"z": [[0] * 4], "class_id": [2**40]}}, 400,
     "out of range"),
    ("POST", "/v1/models/cond:predict", {"inputs": {"z": [[0] * 4], "class_id": [1.5]}}, 400, "DT_INT32"),
    ("POST", "/v1/models/cond:predict", {"inputs": {"z": [[0] * 4], "class_id": [7]}}, 400, ""),  # TF error
    ("POST", "/v1/models/gen:predict", {"instances": [[0] * 4] * (MAX_BATCH + 1)}, 400, "--max-batch"),
    ("POST", "/v1/models/gen:predict",
     {"signature_name": "sample", "inputs": {"seed": 0, "num": 10**6, "truncation": 0}}, 400, "--max-batch"),
    ("POST", "/v1/models/gen:predict", {"inputs": [[0] * 4], "pad": "x" * MAX_BODY}, 413, "--max-body-bytes"),
    ("POST", "/v1/models/nope:predict", {"instances": [[0] * 4]}, 404, "Servable not found"),
    ("POST", "/v1/models/gen/versions/9:predict", {"instances": [[0] * 4]}, 404, "Specific(gen, 9)"),
    ("POST", "/v1/models/gen/labels/canary:predict", {"instances": [[0] * 4]}, 400, "label: canary"),
    ("POST", "/v1/models/gen:predict", {"signature_name": "nope", "inputs": [[0] * 4]}, 400, "nope"),
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/gen/versions/9", None, 404, "Could not find version 9"),
    ("GET", "/v1/models/gen/labels/canary", None, 400, "label"),
    ("GET", "/v1/models/gen/versions/9/metadata", None, 404, "Servable not found"),
    ("GET", "/v1/models/..%2Fetc", None, 400, "Invalid model name"),
    ("GET", "/v1/models/%2e%2e/metadata", None, 400, "Invalid model name"),
    ("GET", "/v1/models/123", None, 400, "Invalid model name '123'"),  # reads as a version
    ("POST", "/v1/models/..%2F..%2Fetc%2Fpasswd:predict", {"instances": [1]}, 400, "Invalid model name"),
    ("GET", "/v1/models/../etc", None, 404, "Malformed request"),
    ("GET", "/v1/models", None, 400, "Missing model name"),
    ("GET", "/favicon.ico", None, 404, "Malformed request"),
    ("GET", "/v1/models/gen:predict", None, 405, "use POST"),
    ("POST", "/v1/models/gen", {}, 405, "use GET"),
    ("DELETE", "/v1/models/gen", None, 405, "use GET"),
    ("POST", "/v1/models/gen:classify", {"examples": []}, 501, ":predict"),
]


def test_malformed_requests_get_json_4xx_and_the_server_keeps_serving(server):
    for method, path, body, want, words in BAD_REQUESTS:
        status, headers, doc = rest(server, method, path, body)
        assert status == want, (method, path, status, doc)
        assert headers["Content-Type"] == "application/json"
        assert isinstance(doc, dict) and isinstance(doc.get("error"), str), (path, doc)
        assert words in doc["error"], (path, doc["error"])
    # raw protocol abuse: no/bad Content-Length, an oversized body announced with Expect, garbage
    assert raw_request(server, b"POST /v1/models/gen:predict HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 411
    status, doc = raw_request(server, b"POST /v1/models/gen:predict HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: 999999999\r\nExpect: 100-continue\r\n\r\n")
    assert status == 413 and "--max-body-bytes" in doc["error"]
    status, doc = raw_request(server, b"POST /v1/models/gen:predict HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
    assert status == 400 and "Content-Length" in doc["error"]
    with socket.create_connection(("127.0.0.1", server.ports.rest), timeout=30) as s:
        s.sendall(b"GARBAGE\r\n\r\n")  # not HTTP at all: answered (HTTP/0.9 style) and closed
        assert b"error" in s.recv(65536)
    # still healthy
    assert rest(server, "GET", "/v1/models/gen")[0] == 200
    assert rest(server, "POST", "/v1/models/gen:predict", {"instances": [[0] * 4]})[0] == 200


# --- gRPC ----------------------------------------------------------------------------------------


def test_grpc_predict_metadata_status_and_error_codes(server, direct):
    import grpc
    from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                         model_service_pb2_grpc, predict_pb2,
                                         prediction_service_pb2_grpc)

    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "cond"
        req.inputs["z"].CopyFrom(tf.make_tensor_proto(Z))
        req.inputs["class_id"].CopyFrom(tf.make_tensor_proto(np.array([0, 1, 2], np.int32)))
        resp = stub.Predict(req, timeout=30)
        want = call(direct("cond"), "serving_default", z=Z, class_id=np.array([0, 1, 2], np.int32))
        assert resp.model_spec.name == "cond" and resp.model_spec.version.value == 1
        assert resp.model_spec.signature_name == "serving_default"
        assert np.array_equal(tf.make_ndarray(resp.outputs["images"]), want["images"])
        assert list(tf.make_ndarray(resp.outputs["images_png_bytes"])) == list(want["images_png_bytes"])
        req.output_filter.append("images")
        assert list(stub.Predict(req, timeout=30).outputs) == ["images"]

        meta_req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        meta_req.model_spec.name = "cond"
        meta = stub.GetModelMetadata(meta_req, timeout=30)
        sdm = get_model_metadata_pb2.SignatureDefMap()
        assert meta.metadata["signature_def"].Unpack(sdm)
        assert sdm.signature_def["sample"].inputs["seed"].dtype == tf.int64.as_datatype_enum
        assert meta.model_spec.version.value == 1

        status_req = get_model_status_pb2.GetModelStatusRequest()
        status_req.model_spec.name = "gen"
        st = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_req, timeout=30)
        assert [(s.version, s.state) for s in st.model_version_status] == [
            (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]

        def code_of(request, method=stub.Predict):
            with pytest.raises(grpc.RpcError) as e:
                method(request, timeout=30)
            return e.value.code()

        bad = predict_pb2.PredictRequest()
        bad.CopyFrom(req)
        bad.model_spec.name = "nope"
        assert code_of(bad) == grpc.StatusCode.NOT_FOUND
        bad.CopyFrom(req)
        bad.model_spec.version.value = 9
        assert code_of(bad) == grpc.StatusCode.NOT_FOUND
        bad.CopyFrom(req)
        bad.inputs["z"].CopyFrom(tf.make_tensor_proto(Z.astype(np.float64)))  # wrong dtype
        assert code_of(bad) == grpc.StatusCode.INVALID_ARGUMENT
        bad.CopyFrom(req)
        bad.model_spec.signature_name = "nope"
        assert code_of(bad) == grpc.StatusCode.FAILED_PRECONDITION  # as TF Serving's Predict
        bad.CopyFrom(req)
        bad.inputs["z"].tensor_shape.dim[0].size = 10**9  # a huge declared shape: refused up front
        assert code_of(bad) == grpc.StatusCode.INVALID_ARGUMENT
        bad.CopyFrom(req)
        del bad.inputs["class_id"]
        assert code_of(bad) == grpc.StatusCode.INVALID_ARGUMENT
        bad.CopyFrom(req)
        bad.model_spec.name = "../etc"
        assert code_of(bad) == grpc.StatusCode.INVALID_ARGUMENT
        meta_req.metadata_field[:] = ["nope"]
        assert code_of(meta_req, stub.GetModelMetadata) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(predict_pb2.PredictRequest(), stub.Classify) == grpc.StatusCode.UNIMPLEMENTED


# --- client --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_against_both_protocols(server, direct, protocol):
    url = server.rest_url if protocol == "rest" else server.grpc_target
    with client_lib.Client(url, protocol=protocol) as c:
        assert c.status("gen")["model_version_status"][0]["state"] == "AVAILABLE"
        assert c.status("gen", version="stable") == c.status("gen", version=1)
        meta = c.metadata("cond")
        assert meta == client_lib.Client(server.rest_url).metadata("cond")  # same JSON both ways
        want = call(direct("cond"), "serving_default", z=Z, class_id=np.array([2, 0, 1], np.int32))
        for fmt in ("columnar", "row"):
            out = c.predict("cond", {"z": Z.astype(np.float64), "class_id": [2, 0, 1]}, format=fmt)
            assert out["images"].dtype == np.uint8 and np.array_equal(out["images"], want["images"])
            assert list(out["images_png_bytes"]) == list(want["images_png_bytes"])
        images, z = c.sample("cond", 6, seed=3, truncation=0.7, class_id=1)
        want = call(direct("cond"), "sample", seed=np.int64(3), num=np.int32(6),
                    truncation=np.float32(0.7), class_id=np.array([1], np.int32))
        assert np.array_equal(images, want["images"]) and np.array_equal(z, want["z"])
        assert z.dtype == np.float32 and images.shape == (6, 8, 8, 1)
        images, z = c.sample("gen", 2, seed=1, version=1)
        assert images.shape == (2, 8, 8, 1)
        with pytest.raises(ValueError, match="not class-conditional"):
            c.sample("gen", 2, class_id=1)
        with pytest.raises(client_lib.ServingError) as e:
            c.predict("nope", {"z": Z})
        assert e.value.status == 404 and e.value.is_client_error
        assert "Servable not found" in e.value.message or "nope" in e.value.message
        with pytest.raises(client_lib.ServingError) as e:
            c.predict("cond", {"z": Z, "class_id": [9, 9, 9]})
        assert e.value.status == 400
        assert e.value.code == ("INVALID_ARGUMENT" if protocol == "grpc" else None)


def test_client_reports_an_unreachable_server():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(client_lib.ServingError) as e:
        client_lib.Client(f"http://127.0.0.1:{port}", timeout=5).status("gen")
    assert e.value.status is None


# --- hot reload ----------------------------------------------------------------------------------


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_new_version_is_hot_loaded_and_removed_versions_unloaded(server, base):
    hot = os.path.join(base["models"], "hot")
    v1 = tf.saved_model.load(base["hot_v1"]).signatures
    v2 = tf.saved_model.load(base["hot_v2"]).signatures
    want1 = call(v1, "serving_default", z=Z)["images"]
    want2 = call(v2, "serving_default", z=Z)["images"]
    assert not np.array_equal(want1, want2)
    c = client_lib.Client(server.rest_url, metadata_ttl=0)
    assert np.array_equal(c.predict("hot", {"z": Z})["images"], want1)

    fx.copy_version(base["hot_v2"], hot, 2)  # an export lands while the server runs
    _wait_for(lambda: [s["version"] for s in c.status("hot")["model_version_status"]
                       if s["state"] == "AVAILABLE"] == ["2", "1"])
    assert np.array_equal(c.predict("hot", {"z": Z})["images"], want2)            # new default
    assert np.array_equal(c.predict("hot", {"z": Z}, version=1)["images"], want1)  # old one still answers

    shutil.rmtree(os.path.join(hot, "1"))
    _wait_for(lambda: {s["version"]: s["state"] for s in c.status("hot")["model_version_status"]}
              == {"2": "AVAILABLE", "1": "END"})
    with pytest.raises(client_lib.ServingError) as e:
        c.predict("hot", {"z": Z}, version=1)
    assert e.value.status == 404
    assert np.array_equal(c.predict("hot", {"z": Z})["images"], want2)


# --- load ----------------------------------------------------------------------------------------


def test_concurrent_requests_all_succeed(server, direct):
    want = call(direct("gen"), "serving_default", z=Z)["images"]
    errors, done = [], []

    def worker(i):
        protocol = "grpc" if i % 2 else "rest"
        c = client_lib.Client(server.grpc_target if protocol == "grpc" else server.rest_url,
                              protocol=protocol)
        try:
            for _ in range(20):
                out = c.predict("gen", {"z": Z}, format="row" if i % 4 == 0 else "columnar")
                assert np.array_equal(out["images"], want)
                done.append(1)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(done) == 160


# --- the model-name rule ------------------------------------------------------------------------

GOOD_NAMES = ["gen", "a", "0a", "7b", "1.5", "v1.0-rc_2", "A..b"]
BAD_NAMES = ["", ".", "..", ".hidden", ".tmp-x", "-x", "_x", "~x", "7", "0123", "a/b", "a b", "ü",
             "gen\n", "../etc"]
BAD_DIRS = [n for n in BAD_NAMES if n not in ("", ".", "..") and "/" not in n]  # creatable ones


def test_export_and_the_server_share_one_model_name_rule(tmp_path, caplog):
    for name in GOOD_NAMES:
        assert names.check_model_name(name) == name
        export._check_name(name)
    for name in BAD_NAMES:
        with pytest.raises(names.InvalidModelName, match="Invalid model name"):
            names.check_model_name(name)
        with pytest.raises(UsageError, match="^--name: Invalid model name"):
            export._check_name(name)
    # the scan serves the directories export can write and ignores the others, saying so once
    for name in GOOD_NAMES + BAD_DIRS:
        os.makedirs(tmp_path / name / "1")
        (tmp_path / name / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    manager = models.ModelManager(str(tmp_path), poll_seconds=0, freeze_gc=False)
    with caplog.at_level(logging.DEBUG, logger="keras_gans.serving"):
        manager.poll_once()
        manager.poll_once()
    assert manager.model_names() == sorted(GOOD_NAMES)
    ignored = {r.args[1]: r.levelno for r in caplog.records if "ignoring directory" in r.msg}
    assert len([r for r in caplog.records if "ignoring directory" in r.msg]) == len(BAD_DIRS)
    assert ignored == {n: logging.DEBUG if n.startswith(".") else logging.WARNING for n in BAD_DIRS}
    # requests: REST paths and what gRPC calls (manager.resolve / version_status)
    api = rest_lib.RestApi(manager)
    for name in GOOD_NAMES:
        status, doc, _ = api.handle("GET", f"/v1/models/{quote(name, safe='')}", None)
        assert status == 200 and doc["model_version_status"][0]["state"] == "END"  # not loadable
        with pytest.raises(models.ServeError) as e:
            manager.resolve(name)
        assert e.value.code == "NOT_FOUND"
    for name in BAD_NAMES:
        for lookup in (manager.resolve, manager.version_status):
            with pytest.raises(models.ServeError, match="Invalid model name") as e:
                lookup(name)
            assert e.value.code == "INVALID_ARGUMENT"
        if name:
            status, doc, _ = api.handle("GET", f"/v1/models/{quote(name, safe='')}", None)
            assert status == 400 and doc["error"].startswith(f"Invalid model name {name!r}:"), doc


# --- command lines -------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_sample_command_writes_a_png_grid(server, tmp_path, capsys, protocol):
    from PIL import Image

    out = str(tmp_path / f"grid-{protocol}.png")
    url = server.rest_url if protocol == "rest" else server.grpc_target
    rc = cli_main(["sample", "--server", url, "--model", "cond", "--num", "5", "--out", out,
                   "--seed", "4", "--class-id", "2", "--truncation", "1.0", "--protocol", protocol])
    assert rc == 0 and capsys.readouterr().out.strip() == out
    img = Image.open(out)
    assert img.mode == "L" and img.size == (3 * 10 + 2, 2 * 10 + 2)  # 3x2 cells of 8 px, pad 2
    # the server's refusal is bad usage: exit code 2 with its message
    assert cli_main(["sample", "--server", url, "--model", "nope", "--num", "2", "--out", out,
                     "--protocol", protocol]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-gans sample: error: ") and "Servable not found" in err
    assert cli_main(["sample", "--server", url, "--model", "cond", "--num", "0", "--out", out]) == 2
    assert "--num must be >= 1" in capsys.readouterr().err
    assert cli_main(["sample", "--server", url, "--model", "cond", "--out", out]) == 2  # no --num
    assert "--num" in capsys.readouterr().err
    assert cli_main(["sample", "--server", "https://127.0.0.1", "--model", "cond", "--num", "1",
                     "--out", out]) == 2
    assert "https is not supported" in capsys.readouterr().err


def test_serve_command_usage_errors(tmp_path, capsys):
    def serve_error(*argv):
        assert cli_main(["serve", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("keras-gans serve: error: "), err
        return err

    assert "not a directory" in serve_error(str(tmp_path / "missing"))
    assert "--rest-port" in serve_error(str(tmp_path), "--rest-port", "x")
    assert "nothing to serve" in serve_error(str(tmp_path), "--rest-port", "-1", "--grpc-port", "-1")
    assert "--max-batch" in serve_error(str(tmp_path), "--max-batch", "0", "--grpc-port", "-1")
    os.makedirs(tmp_path / "model" / "1")
    (tmp_path / "model" / "1" / "saved_model.pb").write_bytes(b"")
    assert "pass its parent" in serve_error(str(tmp_path / "model"))   # one model's dir, not MODEL_BASE
    assert "two levels up" in serve_error(str(tmp_path / "model" / "1"))  # one version's dir
    with socket.socket() as s:  # a taken port
        s.bind(("127.0.0.1", 0))
        s.listen()
        err = serve_error(str(tmp_path), "--rest-port", str(s.getsockname()[1]), "--grpc-port", "-1")
    assert "cannot listen on 127.0.0.1" in err


def test_serve_runs_until_stopped_in_a_thread(base):
    """The library function behind the command: a `stop` event instead of signals off the
    main thread, and the two announced lines."""
    lines, stop = [], threading.Event()

    def announce(line):
        lines.append(line)
        if "ready:" in line:
            stop.set()

    t = threading.Thread(target=server_lib.serve, args=(base["models"],),
                         kwargs=dict(rest_port=0, grpc_port=-1, poll_seconds=0, stop=stop,
                                     announce=announce))
    t.start()
    t.join(120)
    assert not t.is_alive() and len(lines) == 2, lines
    assert "REST http://127.0.0.1:" in lines[0] and "gRPC off" in lines[0]
    assert "gen [1]" in lines[1] and "broken (no loadable version)" in lines[1]


def test_serve_command_serves_until_sigterm(base):
    code = "import sys; from keras_gans.cli import main; sys.exit(main(['serve', *sys.argv[1:]]))"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-c", code, base["models"], "--rest-port", "0",
                             "--grpc-port", "-1", "--poll-seconds", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        url = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if "REST http://" in line:
                url = line.split("REST ")[1].split(",")[0]
            if "ready:" in line:
                break
        assert url, "the server never printed its address"
        assert client_lib.Client(url).status("gen")["model_version_status"][0]["state"] == "AVAILABLE"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_png_grid_of_served_png_bytes_decodes(server):
    """images_png_bytes are real PNGs of the same pixels."""
    from PIL import Image

    out = client_lib.Client(server.rest_url).predict("gen", {"z": Z})
    for png, image in zip(out["images_png_bytes"], out["images"]):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)))[..., None], image)
