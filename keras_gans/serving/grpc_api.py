"""TF Serving's gRPC API (``tensorflow_serving/apis/*_service.proto``).

``tensorflow.serving.PredictionService``: ``Predict`` (with ``output_filter``) and
``GetModelMetadata`` (``signature_def`` only); ``Classify``, ``Regress`` and ``MultiInference``
answer UNIMPLEMENTED. ``tensorflow.serving.ModelService``: ``GetModelStatus``. Errors carry TF
Serving's status codes: NOT_FOUND (unknown model or version), INVALID_ARGUMENT (bad inputs, an
invalid model name, unknown label, both version and label), FAILED_PRECONDITION (unknown
signature, as TF Serving's Predict answers), RESOURCE_EXHAUSTED, INTERNAL (server faults only).

Messages are capped at ``max_body_bytes`` by gRPC itself; a TensorProto's declared shape is checked
against ``max_batch`` rows and the message's element budget before it is decoded, since a proto
with one value and a huge shape would otherwise be broadcast into a huge array. Needs
``tensorflow-serving-api`` (and grpcio), imported only when the gRPC front end starts.
"""

from __future__ import annotations

import logging
from concurrent import futures

import numpy as np

from keras_gans.errors import UsageError
from keras_gans.serving.models import (ModelManager, ServeError, invalid,
                                       metadata_response, status_response)

log = logging.getLogger("keras_gans.serving")


def _spec_from_proto(spec):
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label if spec.WhichOneof("version_choice") == "version_label" else None
    return spec.name, version, label


def _check_proto_size(key: str, proto, max_batch: int, max_elements: int) -> None:
    """Refuse before decoding a TensorProto whose declared shape is over the limits (a proto
    with one value and a huge shape would otherwise be broadcast into a huge array)."""
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise invalid(f"input '{key}': negative dimension in tensor_shape {dims}")
    if dims and dims[0] > max_batch:
        raise invalid(f"input '{key}' has {dims[0]} rows; this server takes at most {max_batch} "
                      "per request (--max-batch)")
    if int(np.prod(dims, dtype=np.float64)) > max_elements:
        raise invalid(f"input '{key}' declares {int(np.prod(dims, dtype=np.float64))} elements, "
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
                raise invalid(f"input '{key}': malformed TensorProto: {e}") from None
        wanted = list(request.output_filter)
        unknown = [k for k in wanted if k not in sig.outputs]
        if unknown:
            raise invalid(f"output tensor alias not found in signature: {', '.join(unknown)}")
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


def start_grpc_server(manager: ModelManager, address: str, *, max_batch: int, max_body_bytes: int,
                      workers: int = 8):
    """Serve both services for ``manager`` on ``address`` (``host:port``; port 0 picks a free
    one); returns ``(grpc.Server, bound port)``. OSError when the port cannot be bound;
    UsageError when tensorflow-serving-api is missing."""
    try:
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
    except ImportError as e:
        raise UsageError(f"gRPC needs tensorflow-serving-api ({e}): `pip install "
                         "tensorflow-serving-api`, or pass --grpc-port -1 for REST only") from None

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keras-gans-grpc"),
        options=[("grpc.max_receive_message_length", max_body_bytes),
                 ("grpc.max_send_message_length", -1), ("grpc.so_reuseport", 0)])
    predict, models = _grpc_servicers(manager, max_batch, max_body_bytes)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(predict, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:
        bound, err = 0, e
    else:
        err = None
    if not bound:
        raise OSError(f"cannot listen for gRPC on {address}" + (f": {err}" if err else ""))
    server.start()
    return server, bound
