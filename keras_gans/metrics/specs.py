"""Metric names: ``fid50k``, ``kid10k``, ``pr10k``, ``is50k``, ``dc10k``, ``ndb10k``, ``lpips2k``.

A name is a kind and its sample count (StyleGAN2-ADA ``metric_main`` style); ``parse_metrics``
turns a comma-separated list into ``MetricSpec``s, and ``primary_value`` names the number a best
checkpoint is chosen by. No TensorFlow: training configs are checked against it without data.
"""

from __future__ import annotations

import dataclasses
import re

from keras_gans.errors import UsageError

KINDS = ("fid", "kid", "is", "pr", "dc", "ndb", "lpips")
FEATURE_KINDS = ("fid", "kid", "is", "pr", "dc", "ndb")  # need a feature net and real data
_NAME_RE = re.compile(r"^(fid|kid|is|pr|dc|ndb|lpips)(\d+)(k?)$")


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str
    num: int


def parse_metrics(text: str) -> list[MetricSpec]:
    """``"fid10k,kid10k,pr5000"`` -> specs; clear errors for anything else."""
    specs = []
    for raw in [t.strip() for t in text.split(",") if t.strip()]:
        m = _NAME_RE.match(raw.lower())
        if not m:
            raise UsageError(f"unknown metric {raw!r}: use <kind><count>[k] with kind one of "
                             f"{', '.join(KINDS)} (e.g. fid50k, kid10k, pr10k, is50k, dc10k, ndb10k, "
                             "lpips2k)")
        num = int(m.group(2)) * (1000 if m.group(3) else 1)
        if num < 2:
            raise UsageError(f"metric {raw!r}: needs at least 2 samples")
        specs.append(MetricSpec(raw.lower(), m.group(1), num))
    if not specs:
        raise UsageError("--metrics is empty: name at least one metric, e.g. fid10k")
    return specs


LOWER_IS_BETTER = ("fid", "kid", "ndb")


def primary_value(spec: MetricSpec, results: dict) -> float:
    """The number a best checkpoint is chosen by: fid/kid/is value, pr precision... (see docs)."""
    key = {"pr": "_precision", "dc": "_coverage", "ndb": "_jsd"}.get(spec.kind, "")  # lpips: the mean
    return results[spec.name + key]
