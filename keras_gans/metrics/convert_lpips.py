"""Convert LPIPS (torchvision backbone + lpips v0.1 heads) to Keras weights (offline, one-off).

``convert_weights("lpips-alex" | "lpips-vgg", out_path=None, source=FILE)`` reads

- the backbone from ``source``: a torchvision state dict as
  ``torch.save(torchvision.models.alexnet(weights="IMAGENET1K_V1").state_dict(), "alexnet.pth")``
  (or ``vgg16`` -> ``vgg16.pth``) writes it on a machine with torchvision and internet access
  (``keras_gans.metrics.lpips.BACKBONE_RECIPES``); keys ``features.<i>.weight`` (OIHW) /
  ``features.<i>.bias``; the ``classifier.*`` tensors are ignored (LPIPS never uses them) and
  listed in the summary;
- the linear heads from the installed PyPI ``lpips`` 0.1.4 package,
  ``lpips/weights/v0.1/<net>.pth`` (``lin<k>.model.1.weight``, ``[1, C, 1, 1]``), located with
  ``importlib.util.find_spec`` and never imported (it imports torchvision);

maps every tensor by name onto ``keras_gans.metrics.lpips.build_lpips(net)`` (the backbone's
``features.<i>`` conv layers, kernels OIHW -> HWIO; heads ``lin<k>``, ``[1, C, 1, 1]`` ->
``[1, 1, C, 1]``) and writes ``model.save_weights(out_path)`` (default:
``keras_gans.metrics.lpips.default_weights_path(net)``). Needs ``torch`` (tested with 2.13.0,
CPU) to read the ``.pth`` files; ``assign`` and ``convert_state_dict`` are torch-free and work on
numpy state dicts. The command line entry is
``keras-gans convert-weights lpips-alex|lpips-vgg --from FILE [--out PATH]``.
"""

from __future__ import annotations

import importlib.util
import os
import re

import numpy as np

from keras_gans.errors import UsageError
from keras_gans.pretrained import check_weights_path, require_torch, save_weights
from keras_gans.metrics import lpips as lpips_lib

TORCH_HINT = "pip install torch==2.13.0"
_FEATURE_KEY = re.compile(r"^features\.(\d+)\.(weight|bias)$")
_HEAD_KEY = re.compile(r"^lin(\d+)\.model\.(\d+)\.weight$")


def _torch():
    return require_torch(f"converting LPIPS weights needs PyTorch to read the .pth files: {TORCH_HINT}")


def _read_pth(path: str, what: str) -> dict[str, np.ndarray]:
    """A ``torch.save``d state dict (tensors only, ``weights_only`` loading) as float32 numpy."""
    torch = _torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any load failure is bad input
        raise UsageError(f"{path} is not a loadable torch state dict ({what}): {e}") from e
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise UsageError(f"{path} is not a state dict of tensors ({what}; got "
                         f"{type(obj).__name__}): save model.state_dict(), not the model")
    return {k: v.detach().cpu().float().numpy() for k, v in obj.items()}


def heads_path(net: str) -> str:
    """``<site-packages>/lpips/weights/v0.1/<net>.pth`` of the installed ``lpips`` (not imported)."""
    lpips_lib.check_net(net)
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the LPIPS linear heads come from the lpips package, which is not "
                         f"installed: {lpips_lib.HEADS_INSTALL}")
    for location in spec.submodule_search_locations:
        path = os.path.join(location, "weights", f"v{lpips_lib.VERSION}", f"{net}.pth")
        if os.path.isfile(path):
            return path
    raise UsageError(f"the installed lpips package has no weights/v{lpips_lib.VERSION}/{net}.pth in "
                     f"{list(spec.submodule_search_locations)}: reinstall it ({lpips_lib.HEADS_INSTALL})")


def load_heads(net: str) -> dict[str, np.ndarray]:
    """The lpips v0.1 linear heads of ``net`` (``lin<k>.model.1.weight``) as numpy."""
    return _read_pth(heads_path(net), f"lpips {net} heads")


def load_state_dict(source: str, net: str | None = None) -> dict[str, np.ndarray]:
    """The torchvision backbone file ``source`` as float32 numpy arrays (keys unchanged);
    ``net`` (optional) only makes the error messages name its recipe."""
    recipes = ([lpips_lib.BACKBONE_RECIPES[lpips_lib.check_net(net)]] if net
               else list(lpips_lib.BACKBONE_RECIPES.values()))
    if not source:
        raise UsageError("no backbone file given: make one with " + " or ".join(recipes))
    source = os.path.expanduser(source)
    if not os.path.isfile(source):
        raise UsageError(f"backbone file {source} does not exist: make it on a machine with "
                         "torchvision and internet with " + " or ".join(recipes))
    return _read_pth(source, "a torchvision backbone, made with " + " or ".join(recipes))


def _layer(model, name: str):
    """A layer of the LPIPS model or of its nested backbone, by name (None if absent)."""
    for container in (model, lpips_lib.backbone_of(model)):
        for layer in container.layers:
            if layer.name == name:
                return layer
    return None


def assign(model, state_dict: dict[str, np.ndarray]) -> dict:
    """Set every weight of ``model`` (``build_lpips(net)``) from ``state_dict``: torchvision
    ``features.<i>.weight``/``bias`` plus lpips ``lin<k>.model.<j>.weight``; ``classifier.*``
    tensors are ignored.

    Raises ``UsageError`` for a tensor with no Keras counterpart (another architecture, e.g.
    ``vgg16_bn``'s batch norms or a vgg19 file), a shape that does not fit, a Keras weight the
    source lacks, or any other key; asserts that no Keras weight is assigned twice. Returns
    ``{"tensors", "numbers", "backbone_numbers", "head_numbers", "ignored"}``.
    """
    net = lpips_lib.net_of(model)
    arch = lpips_lib.ARCHS[net]
    hint = (f"is it a torchvision {arch['torchvision']} state dict "
            f"({lpips_lib.BACKBONE_RECIPES[net]}) and the lpips v{lpips_lib.VERSION} {net} heads?")
    convs = {f"features.{i}" for i, s in enumerate(arch["features"]) if s[0] == "conv"}
    variables = {}
    for name in sorted(convs):
        layer = _layer(model, name)
        variables[f"{name}.weight"], variables[f"{name}.bias"] = layer.kernel, layer.bias
    for k in range(len(arch["taps"])):
        variables[f"lin{k}"] = _layer(model, f"lin{k}").kernel
    keras_ids = {id(v): key for key, v in variables.items()}
    all_weights = {id(w) for w in model.weights}
    if set(keras_ids) != all_weights:  # the table above must cover the model exactly
        raise AssertionError(f"LPIPS {net}: {len(all_weights)} Keras weights, {len(keras_ids)} mapped")

    assigned: dict[int, str] = {}
    ignored = []
    counts = {"backbone_numbers": 0, "head_numbers": 0}
    for key in sorted(state_dict):
        value = np.asarray(state_dict[key], np.float32)
        if key.startswith("classifier."):
            ignored.append(key)
            continue
        feature, head = _FEATURE_KEY.match(key), _HEAD_KEY.match(key)
        if feature:
            target = key
            if f"features.{feature.group(1)}" not in convs:
                raise UsageError(f"{key} {value.shape} has no counterpart in LPIPS {net} (its convs "
                                 f"are {', '.join(sorted(convs, key=lambda s: int(s.split('.')[1])))}): {hint}")
            kind = "backbone_numbers"
        elif head:
            target = f"lin{head.group(1)}"
            if target not in variables:
                raise UsageError(f"{key} {value.shape}: LPIPS {net} has heads lin0..lin"
                                 f"{len(arch['taps']) - 1} only: {hint}")
            kind = "head_numbers"
        else:
            raise UsageError(f"unexpected tensor {key!r} {value.shape} in the LPIPS {net} source: {hint}")
        variable = variables[target]
        if id(variable) in assigned:
            raise AssertionError(f"{target} assigned twice ({assigned[id(variable)]} and {key})")
        if value.ndim == 4:  # OIHW -> HWIO (conv kernels and the [1, C, 1, 1] heads)
            value = np.transpose(value, (2, 3, 1, 0))
        if tuple(variable.shape) != value.shape:
            raise UsageError(f"{key} has shape {tuple(np.asarray(state_dict[key]).shape)}, which does "
                             f"not fit LPIPS {net}'s {target} {tuple(variable.shape)} (HWIO): {hint}")
        variable.assign(value)
        assigned[id(variable)] = key
        counts[kind] += int(value.size)

    missing = [key for vid, key in keras_ids.items() if vid not in assigned]
    if missing:
        raise UsageError(f"the LPIPS {net} source lacks {len(missing)} tensors: "
                         f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}: {hint}")
    return {"tensors": len(assigned), "numbers": counts["backbone_numbers"] + counts["head_numbers"],
            **counts, "ignored": ignored}


def convert_state_dict(state: dict[str, np.ndarray], net: str, out_path: str,
                       source: str = "<state_dict>") -> dict:
    """Backbone + heads (one numpy state dict, keys as in ``assign``) -> ``out_path``."""
    lpips_lib.check_net(net)
    out_path = check_weights_path(out_path)
    model = lpips_lib.build_lpips(net)
    counts = assign(model, state)
    save_weights(model, out_path)
    return {"network": f"lpips-{net}", "version": lpips_lib.VERSION, "source": source,
            "out_path": out_path, **counts}


def convert_weights(name: str, out_path: str | None = None, source: str | None = None) -> dict:
    """The ``keras-gans convert-weights lpips-alex|lpips-vgg`` entry.

    ``source``: the torchvision backbone file (required; see ``lpips.BACKBONE_RECIPES``);
    ``out_path`` None: ``lpips.default_weights_path(net)``. The heads come from the installed
    ``lpips`` package. Returns the summary of ``convert_state_dict`` plus ``heads`` (their path).
    """
    nets = {f"lpips-{n}": n for n in lpips_lib.NETS}
    if name not in nets:
        raise UsageError(f"convert_lpips converts {', '.join(nets)}, not {name!r}")
    net = nets[name]
    if not source:
        raise UsageError(f"{name} needs --from FILE, the torchvision {lpips_lib.ARCHS[net]['torchvision']} "
                         f"backbone weights (not downloadable here): {lpips_lib.convert_command(net)}")
    out_path = check_weights_path(out_path or lpips_lib.default_weights_path(net))
    backbone = load_state_dict(source, net)
    clash = sorted(k for k in backbone if _HEAD_KEY.match(k))
    if clash:
        raise UsageError(f"{source} already holds LPIPS heads ({', '.join(clash[:3])}): pass the "
                         "bare torchvision backbone; the heads come from the lpips package")
    heads_file = heads_path(net)
    summary = convert_state_dict({**backbone, **load_heads(net)}, net, out_path,
                                 source=os.path.abspath(os.path.expanduser(source)))
    summary["heads"] = heads_file
    return summary
