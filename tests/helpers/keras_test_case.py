"""Shared checks for any Keras layer or model: config round trip, eager call, .keras saving.

After keras-hub's ``TestCase`` (``run_serialization_test``, ``run_layer_test``,
``run_model_saving_test``), as plain functions so every layer/model test is a few lines::

    from helpers.keras_test_case import run_layer_test, run_model_saving_test

    run_layer_test(SNDense, {"units": 4}, np.ones((2, 3), "float32"), expected_output_shape=(2, 4))
    run_model_saving_test(model, [z, class_id], tmp_path)
"""

from __future__ import annotations

import json
import os
import tempfile

import keras
import numpy as np

_ATOL = 1e-6


def _to_numpy(structure):
    return keras.tree.map_structure(lambda t: keras.ops.convert_to_numpy(t), structure)


def _to_tensors(structure):
    return keras.tree.map_structure(keras.ops.convert_to_tensor, structure)


def assert_all_close(actual, expected, atol=_ATOL, rtol=_ATOL):
    actual, expected = _to_numpy(actual), _to_numpy(expected)
    for a, e in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
        np.testing.assert_allclose(a, e, atol=atol, rtol=rtol)


def _config_json(instance) -> str:
    return json.dumps(instance.get_config(), sort_keys=True, indent=1, default=str)


def run_serialization_test(instance):
    """``get_config``/``from_config`` and ``serialize``/``deserialize`` round trips give the
    same config (and the config is JSON); returns the revived instance."""
    cls = instance.__class__
    config_json = _config_json(instance)
    json.loads(config_json)
    revived = cls.from_config(instance.get_config())
    assert _config_json(revived) == config_json, "get_config/from_config changed the config"
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(instance)))
    revived = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(revived, cls), f"deserialized a {type(revived).__name__}, not a {cls.__name__}"
    assert _config_json(revived) == config_json, "serialize/deserialize changed the config"
    return revived


def _symbolic_inputs(input_data):
    def spec(x):
        x = np.asarray(keras.ops.convert_to_numpy(x))
        return keras.Input(shape=x.shape[1:], dtype=str(x.dtype))
    return keras.tree.map_structure(spec, input_data)


def run_model_saving_test(model, input_data, directory=None, atol=_ATOL, call_kwargs=None):
    """Save ``model`` as ``.keras``, load it, and check: same class, same config, the same
    weights (by path) and the same inference output on ``input_data``; returns the loaded
    model."""
    call_kwargs = call_kwargs or {}
    input_data = _to_tensors(input_data)
    expected = model(input_data, training=False, **call_kwargs)
    directory = directory or tempfile.mkdtemp()
    path = os.path.join(str(directory), "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is type(model), f"loaded a {type(restored).__name__}"
    if type(model) is not keras.Model and not isinstance(model, keras.Sequential):
        assert _config_json(restored) == _config_json(model)
    before = {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}
    after = {w.path: keras.ops.convert_to_numpy(w) for w in restored.weights}
    assert len(before) == len(model.weights), "weight paths are not unique"
    assert sorted(before) == sorted(after), "the loaded model has other weights"
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    assert_all_close(restored(input_data, training=False, **call_kwargs), expected, atol=atol)
    return restored


def run_layer_test(cls, init_kwargs, input_data, *, expected_output_shape=None,
                   expected_num_trainable_weights=None, expected_num_non_trainable_weights=None,
                   call_kwargs=None, directory=None, run_saving=True):
    """Build ``cls(**init_kwargs)``, call it eagerly (inference and training), check the
    output shape (single-output layers) and weight counts, round-trip its config, and save/load it inside a
    functional model. Returns the layer and its inference output."""
    call_kwargs = call_kwargs or {}
    input_data = _to_tensors(input_data)
    layer = cls(**init_kwargs)
    run_serialization_test(layer)
    first = layer(input_data, training=False, **call_kwargs)
    layer(input_data, training=True, **call_kwargs)
    output = layer(input_data, training=False, **call_kwargs)  # after the training call's updates
    assert keras.tree.map_structure(lambda t: tuple(t.shape), first) == \
        keras.tree.map_structure(lambda t: tuple(t.shape), output)
    if expected_output_shape is not None:
        shape = tuple(output.shape)
        assert shape == tuple(expected_output_shape), f"output shape {shape} != {expected_output_shape}"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, layer.trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, \
            layer.non_trainable_weights
    # The built layer's config still round-trips (build must not change the config).
    run_serialization_test(layer)
    # Symbolic call: the layer works in a functional graph with the same output shape.
    inputs = _symbolic_inputs(input_data)
    fresh = cls.from_config(layer.get_config())
    outputs = fresh(inputs, **call_kwargs)
    if expected_output_shape is not None:
        symbolic = tuple(outputs.shape)[1:]
        assert symbolic == tuple(expected_output_shape)[1:], \
            f"symbolic output shape {symbolic} != {expected_output_shape}"
    if run_saving:
        model = keras.Model(inputs, outputs)
        model.set_weights([keras.ops.convert_to_numpy(w) for w in layer.weights])
        assert_all_close(model(input_data, training=False), output, atol=1e-5)
        run_model_saving_test(model, input_data, directory)
    return layer, output
