"""The one registry of architectures and presets (keras-hub style).

Each family package registers itself from its ``__init__`` with ``register_family``: its
builder, the model arguments it knows, its presets (plain dicts of ``TrainConfig`` fields) and a
``tiny`` set of model overrides that builds it in seconds (the contract test trains every preset
with them). ``keras_gans.models`` imports every family package, so importing this module (which
imports its parent package first) is enough to see them all; nothing else keeps a family list.

Builders take ``(config, manifest, discriminator=True)`` and return
``keras_gans.models.networks.Networks`` (``discriminator=False``: the generator alone). A builder
with pretrained parts (Projected GAN's frozen feature network) also takes ``restoring``: True when
the caller restores every weight from a training checkpoint right after building, so those parts
need not be read from their files: resume needs only the run directory.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from typing import Callable

from keras_gans.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Family:
    """One architecture family.

    Attributes:
        name: the ``arch`` value of its configs.
        builder: ``(config, manifest[, restoring]) -> Networks``.
        check: ``(config) -> None``: raises ``UsageError`` for model arguments the builder would
            refuse (unknown keys, bad choices, a conditional-only family run unconditionally);
            ``--dry-run`` and config validation call it without data.
        tiny: ``config.model`` overrides that make the networks tiny (tests): a dict, or a
            function of the preset's ``model`` dict returning one (families whose arguments
            depend on a choice, such as MSG-GAN's generator kind).
        description: one line for listings.
    """

    name: str
    builder: Callable
    check: Callable
    tiny: dict | Callable
    description: str = ""

    def tiny_model(self, model: dict) -> dict:
        """``model`` with the tiny overrides applied."""
        extra = self.tiny(model) if callable(self.tiny) else self.tiny
        return {**model, **extra}


FAMILIES: dict[str, Family] = {}
# preset name -> {"arch", "description", "config": plain dict of TrainConfig fields}
PRESETS: dict[str, dict] = {}


def register_family(name: str, builder: Callable, check: Callable, presets: dict,
                    tiny, description: str = "") -> None:
    """Register a family and its presets (``{name: {"description": str, "config": dict}}``).

    Each preset's config gets ``arch = name`` (a preset names no other family); a name taken by
    another family or preset is refused, so two registrations never shadow each other silently.
    """
    if name in FAMILIES and FAMILIES[name].builder is not builder:
        raise ValueError(f"architecture {name!r} is already registered")
    for preset, entry in presets.items():
        if preset in PRESETS and PRESETS[preset]["arch"] != name:
            raise ValueError(f"preset {preset!r} is already registered by {PRESETS[preset]['arch']}")
        config = dict(entry["config"])
        if config.setdefault("arch", name) != name:
            raise ValueError(f"preset {preset!r} of {name} says arch={config['arch']!r}")
        PRESETS[preset] = {"arch": name, "description": entry["description"], "config": config}
    FAMILIES[name] = Family(name, builder, check, tiny if callable(tiny) else dict(tiny), description)


def family(arch: str) -> Family:
    if arch not in FAMILIES:
        raise UsageError(f"unknown architecture {arch!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[arch]


def preset_config(name: str) -> dict:
    """A copy of preset ``name``'s config dict (``preset`` set to its name)."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}; `keras-gans train --list-presets` lists them: "
                         f"{', '.join(sorted(PRESETS))}")
    return {**copy.deepcopy(PRESETS[name]["config"]), "preset": name}


def list_presets() -> dict[str, str]:
    """Preset name -> its one-line description, sorted by name."""
    return {name: PRESETS[name]["description"] for name in sorted(PRESETS)}


def check(config) -> None:
    """Everything about the architecture that can be checked without data."""
    family(config.arch).check(config)


def build(config, manifest, restoring: bool = False, discriminator: bool = True):
    """The config's ``Networks`` for data described by ``manifest``.

    ``discriminator=False``: the generator only (``Networks.discriminator`` is None): what
    export, evaluate and sampling need, without D's memory or its pretrained parts.
    """
    fam = family(config.arch)
    if config.conditional and not manifest.labelled:
        raise UsageError(
            f"preset {config.preset} is class-conditional but {manifest.root} has no labels; prepare "
            "labelled data (--labels folders|FILE) or use an unconditional preset")
    params = inspect.signature(fam.builder).parameters
    kw = {}
    if restoring and "restoring" in params:
        kw["restoring"] = True
    if not discriminator:
        if "discriminator" not in params:
            raise TypeError(f"the {config.arch} builder cannot build the generator alone (it "
                            "takes no `discriminator` argument)")
        kw["discriminator"] = False
    return fam.builder(config, manifest, **kw)


def unknown_keys(family_name: str, kw: dict, known, extra_hint: str = "") -> None:
    """Refuse model arguments outside ``known`` with one message naming both."""
    unknown = sorted(set(kw) - set(known))
    if unknown:
        raise UsageError(f"{family_name}: unknown model arguments {unknown} (known: "
                         f"{extra_hint}{', '.join(sorted(set(known)))})")
