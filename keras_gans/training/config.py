"""Training configuration: one dataclass, named presets, ``--set key=value`` overrides.

A preset is plain data (a dict of ``TrainConfig`` fields) that its family registers in
``keras_gans.models.registry``; ``resolve(name, overrides)`` applies CLI
overrides with type checks, and the resolved config is saved as ``config.json`` in the run
directory (``--dry-run`` prints it). Units are in the names: ``total_kimg``, ``tick_kimg``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from keras_gans.errors import UsageError
from keras_gans.models import registry


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs besides the data directory.

    Args:
        preset: the preset name it came from.
        arch: architecture key in ``keras_gans.models.registry``.
        model: architecture arguments (e.g. ``latent_dim``, ``base_filters``).
        conditional: train a class-conditional model (the data must be labelled).
        batch: global images per discriminator update (over all replicas).
        d_steps: discriminator updates per generator update.
        accumulation_steps: micro-batches per update (batch 2048 as 8 x 256).
        total_kimg: training length in thousands of real images shown to D.
        loss: adversarial loss: ns | wgan | hinge | rahinge | lsgan.
        regularizers: ``[{"type": "gp" | "r1" | "drift" | "ortho" | "ms" | "l2" | "label" |
            "l1", ...}]``.
        optimizer: adam | rmsprop.
        g_lr, d_lr, beta_1, beta_2, epsilon: optimizer settings.
        lr_decay: pix2pix's linear learning-rate decay (``keras_gans.training.callbacks.
            lr_decay_factor``): ``{"epoch_kimg": E, "constant_epochs": N, "decay_epochs": M}``
            keeps the rates for N epochs of E kimg, then lowers them linearly over M epochs,
            once per epoch; ``{}`` = constant rates.
        ema: ``keras_gans.training.ema.EmaSchedule`` arguments.
        growth: ProGAN progressive growing, ``keras_gans.training.growth.GrowthSchedule``
            arguments without ``final_resolution`` (the data's); empty = no growing. While
            growing, its per-resolution ``batch`` / ``g_lr`` / ``d_lr`` tables (and
            ``batch_base``, ``g_lr_base``, ``d_lr_base``, defaulting to ``batch``, ``g_lr``,
            ``d_lr``) replace ``batch``, ``g_lr`` and ``d_lr``.
        fake_labels: "sample" (uniform classes) or "real" (the real batch's classes).
        g_first: the generator update runs before the discriminator updates (Projected GAN).
        reuse_fakes: with ``g_first``, the discriminator update scores the generator update's
            fakes instead of new ones (pix2pix ``optimize_parameters``); needs ``d_steps=1``.
        d_reg_interval: StyleGAN2-ADA's lazy-regularization bookkeeping for D's Adam: with
            interval I > 0, D's learning rate is ``d_lr * I / (I + 1)`` and its betas
            ``beta ** (I / (I + 1))`` (training_loop.py ``mb_ratio``); Projected GAN keeps
            ``D_reg_interval = 16`` although its "Dreg" phase computes nothing. 0 = off.
        flip: random horizontal flips of real images (of both images of a pair alike).
        jitter_load_size: paired data: resize both images to this side, then take one random
            crop of the data's resolution from both (pix2pix's ``loadSize`` 286 / ``fineSize``
            256 jitter); None = no jitter.
        augment: DiffAugment policy for every image the discriminator sees in training
            (``"color,translation,cutout"``, Projected GAN; "" = none), differentiable so the
            generator learns through it (``keras_gans.layers.diffaugment``).
        seed: seed of weights, data order and every random draw in the train step.
        deterministic: bit-identical runs (op determinism; slower).
        jit: XLA-compile the train step.
        mixed_precision: none | float16 | bfloat16.
        replicas: 0 = all GPUs (or the CPU); N > 0 on a CPU-only machine splits the CPU into N
            logical devices (tests, benchmarks).
        tick_kimg: progress, TensorBoard scalars and metrics.jsonl every this many kimg.
        snapshot_ticks: checkpoint every this many ticks (and at the end).
        sample_ticks: sample grid (TensorBoard + samples/) every this many ticks.
        histogram_ticks: TensorBoard weight histograms every this many ticks (0 = off).
        keep_checkpoints: checkpoints kept.
        nan_policy: "stop" (stop and name the last good checkpoint) or "rollback" (restore the
            last checkpoint and continue with fresh randomness, at most ``max_rollbacks``).
        max_rollbacks: rollbacks allowed per run.
        data_name: dataset name in run directory names (default: the data folder's name).
        max_minutes: stop at the first tick after this many minutes of training (0 = no
            limit), with a checkpoint; ``--resume`` continues the run (a wall-clock budget for
            scheduled jobs, and equal-time comparisons).
        eval: evaluate during training (empty = off): ``{"kimg": N, "metric": "fid2000",
            "feature_net": "inception" | "digits", "weights": PATH, "resize": "clean",
            "protocol": NAME}``; every N kimg the metric goes to TensorBoard (``eval/``) and
            metrics.jsonl, and the best checkpoint by it is kept in ``RUN_DIR/best/``
            (``keras_gans.training.callbacks.Evaluator``); ``protocol`` (default: the preset's)
            is the evaluation protocol, ``keras_gans.metrics.protocols``.
    """

    preset: str = "custom"
    arch: str = "dcgan"
    model: dict = dataclasses.field(default_factory=dict)
    conditional: bool = False
    batch: int = 64
    d_steps: int = 1
    accumulation_steps: int = 1
    total_kimg: float = 100.0
    loss: str = "ns"
    regularizers: list = dataclasses.field(default_factory=list)
    optimizer: str = "adam"
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    epsilon: float = 1e-8
    lr_decay: dict = dataclasses.field(default_factory=dict)
    ema: dict = dataclasses.field(default_factory=lambda: {"beta": 0.999})
    growth: dict = dataclasses.field(default_factory=dict)
    fake_labels: str = "sample"
    g_first: bool = False
    reuse_fakes: bool = False
    d_reg_interval: int = 0
    flip: bool = False
    jitter_load_size: int | None = None
    augment: str = ""
    seed: int = 0
    deterministic: bool = False
    jit: bool = False
    mixed_precision: str = "none"
    replicas: int = 0
    tick_kimg: float = 4.0
    snapshot_ticks: int = 5
    sample_ticks: int = 1
    histogram_ticks: int = 0
    keep_checkpoints: int = 3
    nan_policy: str = "stop"
    max_rollbacks: int = 3
    data_name: str = ""
    max_minutes: float = 0.0
    eval: dict = dataclasses.field(default_factory=dict)

    def validate(self) -> "TrainConfig":
        problems = []
        if self.batch < 1 or self.d_steps < 1 or self.accumulation_steps < 1:
            problems.append("batch, d_steps and accumulation_steps must be >= 1")
        if self.batch % self.accumulation_steps:
            problems.append(f"batch {self.batch} is not divisible by accumulation_steps {self.accumulation_steps}")
        if self.total_kimg <= 0 or self.tick_kimg <= 0:
            problems.append("total_kimg and tick_kimg must be positive")
        if self.optimizer not in ("adam", "rmsprop"):
            problems.append(f"optimizer must be adam or rmsprop, got {self.optimizer!r}")
        if self.mixed_precision not in ("none", "float16", "bfloat16"):
            problems.append(f"mixed_precision must be none, float16 or bfloat16, got {self.mixed_precision!r}")
        if self.nan_policy not in ("stop", "rollback"):
            problems.append(f"nan_policy must be stop or rollback, got {self.nan_policy!r}")
        if self.fake_labels not in ("sample", "real"):
            problems.append(f"fake_labels must be sample or real, got {self.fake_labels!r}")
        if self.loss not in ("ns", "logistic", "nonsaturating", "wgan", "hinge", "rahinge", "lsgan"):
            problems.append(f"loss must be ns, wgan, hinge, rahinge or lsgan, got {self.loss!r}")
        if self.reuse_fakes and not (self.g_first and self.d_steps == 1):
            problems.append("reuse_fakes needs g_first=true and d_steps=1")
        if self.jitter_load_size is not None and (
                isinstance(self.jitter_load_size, bool) or not isinstance(self.jitter_load_size, int)
                or self.jitter_load_size < 1):
            problems.append(f"jitter_load_size must be a positive integer (the side to resize to "
                            f"before the random crop) or null, got {self.jitter_load_size!r}")
        if self.lr_decay:
            keys = {"epoch_kimg", "constant_epochs", "decay_epochs"}
            if not isinstance(self.lr_decay, dict) or set(self.lr_decay) != keys:
                problems.append(f"lr_decay must be {{}} or have exactly the keys {sorted(keys)}, "
                                f"got {self.lr_decay!r}")
            elif not (float(self.lr_decay["epoch_kimg"]) * 1000 >= 1
                      and int(self.lr_decay["constant_epochs"]) >= 0
                      and int(self.lr_decay["decay_epochs"]) >= 1):
                problems.append("lr_decay: epoch_kimg must be >= 0.001, constant_epochs >= 0 and "
                                f"decay_epochs >= 1, got {self.lr_decay!r}")
        if self.d_reg_interval < 0:
            problems.append(f"d_reg_interval must be >= 0, got {self.d_reg_interval}")
        if self.max_minutes < 0:
            problems.append(f"max_minutes must be >= 0, got {self.max_minutes}")
        if self.augment:
            from keras_gans.layers.diffaugment import parse_policy

            try:
                parse_policy(self.augment)
            except ValueError as e:
                problems.append(f"augment: {e}")
        problems += self._component_problems()
        if problems:
            raise UsageError("invalid training config: " + "; ".join(problems))
        return self

    def _component_problems(self) -> list[str]:
        """What the parts the config names would refuse, asked without data: the architecture's
        model arguments, the regularizers, the EMA and growth schedules, the eval metric."""
        from keras_gans.losses import regularizers as regularizers_lib
        from keras_gans.training.ema import EmaSchedule
        from keras_gans.training.growth import GrowthSchedule

        problems = []
        try:
            registry.check(self)
        except UsageError as e:
            problems.append(str(e))
        for reg in self.regularizers:
            try:
                regularizers_lib.from_config(reg)
            except (ValueError, TypeError, KeyError) as e:
                problems.append(f"regularizer {reg}: {e}")
        try:
            EmaSchedule(**self.ema)
        except (ValueError, TypeError) as e:
            problems.append(f"ema {self.ema}: {e}")
        if self.growth:
            # The final resolution is the data's; the largest one the tables name stands in.
            tables = [self.growth.get(k) for k in ("batch", "g_lr", "d_lr")]
            named = [int(r) for t in tables if isinstance(t, dict) for r in t]
            final = max([int(self.growth.get("initial_resolution", 4)) * 2, *named])
            try:
                GrowthSchedule(final_resolution=final, batch_base=self.batch,
                               g_lr_base=self.g_lr, d_lr_base=self.d_lr, **self.growth)
            except (ValueError, TypeError) as e:
                problems.append(f"growth {self.growth}: {e}")
        if self.eval:
            from keras_gans.metrics import protocols
            from keras_gans.metrics.specs import parse_metrics

            try:
                parse_metrics(str(self.eval.get("metric", "fid2000")))
            except UsageError as e:
                problems.append(f"eval: {e}")
            protocol = self.eval.get("protocol")
            if protocol is not None and protocol != protocols.DEFAULT:
                try:
                    protocols.get(str(protocol))
                except UsageError as e:
                    problems.append(f"eval: {e}")
        return problems

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown config keys {unknown}; known: {sorted(known)}")
        return cls(**data).validate()


def list_presets() -> dict[str, str]:
    """Every registered preset (``keras_gans.models.registry``) -> its one-line description."""
    return registry.list_presets()


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_override(config: TrainConfig, assignment: str) -> TrainConfig:
    """``key=value`` or ``dotted.key=value`` (into dict fields); values are JSON or strings."""
    if "=" not in assignment:
        raise UsageError(f"--set {assignment!r}: expected key=value")
    key, text = assignment.split("=", 1)
    value = _parse_value(text)
    path = key.strip().split(".")
    data = dataclasses.asdict(config)
    if path[0] not in data:
        raise UsageError(f"--set {key}: unknown key; known: {', '.join(sorted(data))}")
    if len(path) == 1:
        old = data[path[0]]
        if isinstance(old, bool) and not isinstance(value, bool):
            raise UsageError(f"--set {key}: expected true or false, got {text!r}")
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise UsageError(f"--set {key}: expected a number, got {text!r}")
            value = type(old)(value) if not (isinstance(old, int) and isinstance(value, float)) else value
            if isinstance(old, int) and isinstance(value, float):
                if not value.is_integer():
                    raise UsageError(f"--set {key}: expected an integer, got {text!r}")
                value = int(value)
        if isinstance(old, str) and not isinstance(value, str):
            value = text
        if isinstance(old, (list, dict)) and not isinstance(value, type(old)):
            raise UsageError(f"--set {key}: expected JSON {type(old).__name__}, got {text!r}")
        data[path[0]] = value
    else:
        target = data[path[0]]
        if not isinstance(target, dict):
            raise UsageError(f"--set {key}: {path[0]} is not a mapping")
        for part in path[1:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return TrainConfig.from_dict(data)


def resolve(preset: str, overrides: list[str] = ()) -> TrainConfig:
    """Preset ``preset`` (registered data) with ``--set`` overrides applied, validated."""
    config = TrainConfig.from_dict(registry.preset_config(preset))
    for assignment in overrides:
        config = apply_override(config, assignment)
    return config.validate()
