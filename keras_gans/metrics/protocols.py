"""Evaluation protocols: how a generator is sampled when it is scored.

The same weights give different FIDs depending on which generator is sampled (the EMA copy or
the trained one), whether batch norm uses its running statistics or each batch's own, whether
noise inputs are fixed maps or fresh draws, and whether the truncation trick is on. Each
paper's code made these choices; a protocol names one set of them, so ``keras-gans evaluate``
(and the in-training evaluator) can score a run exactly as that code did, and every result
records the protocol it used (``record["protocol"]``).

This module is the one owner of protocols: the registry (``PROTOCOLS``), which presets default
to which (``PRESET_PROTOCOLS``, then ``FAMILY_RULES``), the resolution of a run's protocol
(``protocol_for``) and the sampling under one (``generate``).

=================== ========= ============ ======= =========== ==========================================
protocol            generator batch norm   noise   truncation  the official code
=================== ========= ============ ======= =========== ==========================================
``keras-gans``      EMA       running      fixed   as built    this library's own (deterministic in z)
``msgan-dcgan``     raw       running      --      off         HelenMao/MSGAN DCGAN-Mode-Seeking
``biggan-cifar``    EMA       batch (50)   --      off         ajbrock/BigGAN-PyTorch launch_cifar_ema.sh
``biggan-imagenet`` EMA       running      --      off         ajbrock/BigGAN-PyTorch launch_BigGAN_bs256x8.sh
``msg-stylegan``    EMA       --           fresh   off         akanimax/msg-stylegan-tf metrics
``projected-fastgan`` EMA     running      fresh   off         autonomousvision/projected_gan metrics
``projected-stylegan2`` EMA   --           fresh   off         autonomousvision/projected_gan metrics
``msgan-pix2pix``   raw       running      --      off         HelenMao/MSGAN Pix2Pix-Mode-Seeking/test.py
=================== ========= ============ ======= =========== ==========================================

Image-conditioned generators (image-to-image translation) are also scored under an
``ImageConditionedProtocol`` (``IMAGE_CONDITIONED``): how many outputs per test input, which
output pairs measure diversity, which split and which real images FID and NDB compare against
(``msgan-pix2pix``: MSGAN's Pix2Pix-MS evaluation; its docstring says where the official
protocol is ambiguous and what was chosen).

What each choice does here:

- ``generator``: ``ema`` samples the EMA generator (the trained one when the run keeps no EMA:
  noted in the record); ``raw`` the trained generator (the checkpoint's ``generator`` entry).
- ``batchnorm``: ``inference`` calls the generator with ``training=False`` (batch norm uses its
  moving statistics; PyTorch's ``G.eval()``); ``batch`` calls it as PyTorch's ``G.train()``
  does, ``training=True``: batch norm normalizes with each batch's own statistics, and spectral
  norm takes its power-iteration step. The generator's non-trainable state (moving statistics,
  spectral-norm ``u``, StyleGAN's w average) is restored after every call, so evaluating never
  changes the model (PyTorch's train-mode sampling does update the running statistics, which
  batch-statistics sampling never reads). With batch statistics the batch matters: the
  protocol's ``batch`` images go through the generator together (the last chunk is padded with
  extra latents, discarded, as the official sampler always draws full batches).
- ``noise``: ``fixed`` uses each noise layer's stored map at inference (deterministic in z);
  ``fresh`` draws new noise for every image (StyleGAN's ``randomize_noise=True``, FastGAN's
  ``NoiseInjection`` which always calls ``torch.randn``). Fresh noise is drawn from the sampler's
  seed and call index (every noise layer's ``SeedGenerator`` is set from them for the call and
  restored after), so a fresh-noise evaluation is reproducible and leaves the generator's noise
  streams where training left them. Generators without noise layers ignore it.
- ``truncation``: ``off`` samples z ~ N(0, I) and disables StyleGAN's w truncation
  (``DlatentAverage.truncation_psi``) for the call, as the official metrics do
  (``is_validation=True``); ``model`` keeps the generator's configured truncation. An explicit
  ``--truncation`` (z truncation) under an ``off`` protocol is applied and recorded as a
  deviation.

Exports (SavedModels) are scored as exported: EMA (or the run's only) generator, running
statistics (or the standing statistics the export recorded), the noise the export was traced
with (``keras-gans export --noise fixed|fresh``). A protocol that asks for something else cannot
be applied to an export: asked for explicitly it is a usage error naming the difference; by
default the record says which protocol the run's preset would use and why it was not applied.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from keras_gans.errors import UsageError

DEFAULT = "default"  # --protocol default: the run's preset's protocol


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One way of sampling a generator for evaluation (see the module docstring).

    Attributes:
        name: the registry name (``--protocol NAME``).
        generator: ``ema`` | ``raw``.
        batchnorm: ``inference`` (moving statistics) | ``batch`` (each batch's statistics).
        noise: ``fixed`` | ``fresh``.
        truncation: ``off`` | ``model`` (the generator's configured w truncation).
        batch: images per generator call (None: any; needed with batch statistics).
        description: one line.
        source: where the official code does it (repository file:line).
    """

    name: str
    generator: str = "ema"
    batchnorm: str = "inference"
    noise: str = "fixed"
    truncation: str = "model"
    batch: int | None = None
    description: str = ""
    source: str = ""

    def __post_init__(self):
        if self.generator not in ("ema", "raw"):
            raise ValueError(f"generator must be ema or raw, got {self.generator!r}")
        if self.batchnorm not in ("inference", "batch"):
            raise ValueError(f"batchnorm must be inference or batch, got {self.batchnorm!r}")
        if self.noise not in ("fixed", "fresh"):
            raise ValueError(f"noise must be fixed or fresh, got {self.noise!r}")
        if self.truncation not in ("off", "model"):
            raise ValueError(f"truncation must be off or model, got {self.truncation!r}")
        if self.batchnorm == "batch" and not self.batch:
            raise ValueError("batch statistics depend on the batch: give the protocol's batch")

    def record(self) -> dict:
        """The protocol as results record it."""
        return {"name": self.name, "generator": self.generator, "batchnorm": self.batchnorm,
                "noise": self.noise, "truncation": self.truncation, "batch": self.batch,
                "source": self.source}

    def describe(self) -> str:
        bn = ("batch norm in inference mode (running statistics)" if self.batchnorm == "inference"
              else f"batch norm with batch statistics (train mode, {self.batch} per batch)")
        return (f"protocol {self.name}: {'EMA' if self.generator == 'ema' else 'raw (non-EMA)'} "
                f"generator, {bn}, {self.noise} noise, truncation {self.truncation}")


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        "keras-gans", "ema", "inference", "fixed", "model",
        description="this library's default: the EMA generator, running statistics, the fixed "
                    "noise maps (deterministic in z), the generator's configured truncation",
        source="keras_gans"),
    Protocol(
        "msgan-dcgan", "raw", "inference", "fixed", "off",
        description="MSGAN's DCGAN: the trained generator (MSGAN keeps no EMA) in eval mode",
        source="HelenMao/MSGAN DCGAN-Mode-Seeking/test.py:29 (model.eval()), :31 and "
               "model.py:102-107 (resume loads 'gen', the only generator), model.py:135-139 "
               "(test_forward: z ~ N(0, I))"),
    Protocol(
        "biggan-cifar", "ema", "batch", "fixed", "off", batch=50,
        description="BigGAN CIFAR-10: the EMA generator in train mode (batch statistics, 50 a "
                    "batch): launch_cifar_ema.sh has --ema --use_ema and no --G_eval_mode",
        source="ajbrock/BigGAN-PyTorch scripts/launch_cifar_ema.sh:3,10 (--batch_size 50, --ema "
               "--use_ema, no --G_eval_mode); train.py:141 (G_batch_size = max(G_batch_size 0, "
               "batch_size)), :158-161 (sample with G_ema), :176-179 (G_ema.train()), :210-212 "
               "(eval mode only with --G_eval_mode); utils.py:216 (--G_eval_mode default False)"),
    Protocol(
        "biggan-imagenet", "ema", "inference", "fixed", "off",
        description="BigGAN ImageNet: the EMA generator in eval mode (--G_eval_mode)",
        source="ajbrock/BigGAN-PyTorch scripts/launch_BigGAN_bs256x8.sh:13,15 (--G_eval_mode, "
               "--ema --use_ema; BigGAN-deep: launch_BigGAN_deep.sh:16); train.py:158-161, "
               ":210-212; train_fns.py:112"),
    Protocol(
        "msg-stylegan", "ema", "inference", "fresh", "off",
        description="MSG-StyleGAN: Gs (the EMA generator), is_validation=True (no truncation), "
                    "randomize_noise=True",
        source="akanimax/msg-stylegan-tf metrics/frechet_inception_distance.py:53-60 "
               "(Gs.get_output_for(latents, None, is_validation=True, randomize_noise=True)); "
               "metrics/metric_base.py:62 (Gs); training/networks_stylegan.py:376-390 "
               "(truncation_psi_val None under is_validation), :320-323 (apply_noise)"),
    Protocol(
        "projected-fastgan", "ema", "inference", "fresh", "off",
        description="Projected GAN's FastGAN: G_ema in eval mode (running statistics); its "
                    "NoiseInjection draws fresh noise in eval mode too",
        source="autonomousvision/projected_gan training/training_loop.py:418 (G=G_ema); "
               "metrics/metric_utils.py:269 (.eval()), :284-286 (z ~ N(0, I)); "
               "pg_modules/blocks.py:259-264 (NoiseInjection: torch.randn whenever noise is None)"),
    Protocol(
        "projected-stylegan2", "ema", "inference", "fresh", "off",
        description="Projected GAN's StyleGAN2 (--cfg stylegan2): G_ema called with no options, "
                    "so noise_mode='random' (fresh noise) and truncation_psi=1",
        source="autonomousvision/projected_gan training/training_loop.py:418 (G=G_ema); "
               "metrics/metric_utils.py:269 (.eval()), :284-286 (z ~ N(0, I), "
               "G(z=z, c=c, **opts.G_kwargs), no noise_mode or truncation given); "
               "pg_modules/networks_stylegan2.py:300, :307-308 (noise_mode='random': torch.randn "
               "times noise_strength), :534 (truncation_psi=1)"),
    Protocol(
        "msgan-pix2pix", "raw", "inference", "fixed", "off",
        description="MSGAN's Pix2Pix-MS: the trained generator (the official model keeps only "
                    "netG, no EMA) in eval mode, z ~ N(0, I) drawn per output",
        source="HelenMao/MSGAN Pix2Pix-Mode-Seeking/test.py:19-21 (create_model, setup, "
               "model.eval()), :36-40 (fresh z per input unless --sync, one netG call per z); "
               "models/pix2pix_model.py:24 (model_names ['G']), :59-64 (get_z_random: "
               "torch.randn), :73-78 (test)"),
)}


@dataclasses.dataclass(frozen=True)
class ImageConditionedProtocol:
    """How an image-conditioned generator's outputs are drawn and scored (``keras-gans
    evaluate`` on a paired dataset).

    Attributes:
        name: the registry name (the sampling ``Protocol`` of the same name says which
            generator and mode).
        outputs_per_input: K, the outputs drawn for every test input.
        pairs: ``consecutive``: the diversity pairs of one input are its outputs (j, j + 1),
            K - 1 of them (independent latents, so these are random pairs of the input's
            outputs, none reused within a pair).
        splits: the split a run is scored on by default: the first of these the dataset has.
        ndb_max_bins, ndb_targets_per_bin: NDB/JSD bins: ``min(ndb_max_bins, targets //
            ndb_targets_per_bin)``, at least 2, k-means on the test targets' features.
        source: where the official code and README define it.
    """

    name: str
    outputs_per_input: int
    pairs: str = "consecutive"
    splits: tuple = ("test", "val", "validation")
    ndb_max_bins: int = 100
    ndb_targets_per_bin: int = 10
    description: str = ""
    source: str = ""

    def ndb_bins(self, num_targets: int) -> int:
        return max(2, min(self.ndb_max_bins, int(num_targets) // self.ndb_targets_per_bin))

    def record(self) -> dict:
        return {"name": self.name, "outputs_per_input": self.outputs_per_input,
                "pairs": self.pairs, "splits": list(self.splits),
                "ndb_max_bins": self.ndb_max_bins, "ndb_targets_per_bin": self.ndb_targets_per_bin,
                "source": self.source}


MSGAN_PIX2PIX = ImageConditionedProtocol(
    "msgan-pix2pix", outputs_per_input=50,
    description="MSGAN's image-to-image protocol: K = 50 outputs per test input (fresh z each), "
                "FID of all outputs against the test targets, LPIPS (and pixel L1) over "
                "consecutive output pairs of one input, NDB/JSD on k-means bins of the targets",
    source="HelenMao/MSGAN README.md 'Evaluation' (Pix2Pix: follow junyanz/BicycleGAN; metrics "
           "FID (bioinf-jku/TTUR), LPIPS (richzhang/PerceptualSimilarity), NDB/JSD "
           "(eitanrich/gans-n-gmms)); Pix2Pix-Mode-Seeking/test.py:33-49 (per input: fresh z, "
           "n_samples + 1 outputs); options/test_options.py:8-10 (--phase val, --num_test 50, "
           "--n_samples 5); junyanz/BicycleGAN README.md 'Metrics' (LPIPS diversity: 20 outputs "
           "per input, the 19 consecutive pairs, 100 inputs)")
"""``msgan-pix2pix``. Where the official protocol is ambiguous, and what we chose:

- Outputs per input: K = 50 per input is the protocol as issue 15 states the paper's (the paper
  text was not available offline to check it against); the official
  ``test.py`` defaults to ``--n_samples 5`` (6 outputs with the 'encoded' slot, which pix2pix
  fills with another random z) over ``--num_test 50`` inputs, and BicycleGAN's README, which
  MSGAN's README defers to, uses 20 outputs over 100 inputs. We default to K = 50
  (``--outputs-per-input`` changes it) over every input of the split (a metric's count caps
  the inputs at ``ceil(count / K)``, or ``ceil(count / (K - 1))`` pairs for lpips).
- Diversity pairs: BicycleGAN's README: the LPIPS distance of consecutive outputs (19 pairs of
  20), averaged over all inputs' pairs; we do the same with K - 1 pairs per input. BicycleGAN
  used LPIPS v0.0; we have v0.1 (the ``lpips`` package default, ``keras_gans.metrics.lpips``).
  The pixel-L1 distance of the same pairs (mean |a - b| in [-1, 1] units) is reported too, and
  is the only diversity value when the LPIPS weights are not installed.
- Split: ``test.py``'s ``--phase val``; we take the first of test / val / validation the
  dataset has (facades has all of them; ``--split`` overrides), else train, noted.
- FID's reals: "the test targets": the ground-truth B images of the same inputs (one per
  input, against K outputs per input), through the chosen feature net.
- NDB/JSD's bins: the official code does not say how many bins for so few targets (facades val:
  100). The gans-n-gmms default of 100 bins would leave one target per bin; we use at most 100
  bins with at least 10 targets each (``ndb_bins``), never fewer than 2.
- z: ``torch.randn`` per output (no ``--sync``); ours ``tf.random.stateless_normal`` from the
  seed and the input chunk, so a rerun draws the same outputs.
"""

IMAGE_CONDITIONED: dict[str, ImageConditionedProtocol] = {MSGAN_PIX2PIX.name: MSGAN_PIX2PIX}


def image_conditioned_protocol(name: str | None = None) -> ImageConditionedProtocol:
    """The image-conditioned scoring protocol (default ``msgan-pix2pix``, the only one)."""
    name = name or MSGAN_PIX2PIX.name
    if name not in IMAGE_CONDITIONED:
        raise UsageError(f"unknown image-conditioned evaluation protocol {name!r}; choices: "
                         f"{', '.join(sorted(IMAGE_CONDITIONED))}")
    return IMAGE_CONDITIONED[name]

# Presets whose paper code evaluated another way than this library's default.
PRESET_PROTOCOLS = {
    "cdcgan-cifar10": "msgan-dcgan",
    "cdcgan-msgan-cifar10": "msgan-dcgan",
    "biggan-cifar10": "biggan-cifar",
    "biggan-imagenet128": "biggan-imagenet",
    "biggan-paper-imagenet128": "biggan-imagenet",
    "projected-sg2-pokemon256": "projected-stylegan2",
    "projected-sg2-lsunchurch256": "projected-stylegan2",
    "projected-sg2-ffhq256": "projected-stylegan2",
    "projected-sg2-mnist32": "projected-stylegan2",
    "biggan-deep-imagenet128": "biggan-imagenet",  # launch_BigGAN_deep.sh:16 --G_eval_mode
    "biggan-deep-imagenet256": "biggan-imagenet",
    "pix2pix-ms-facades256": "msgan-pix2pix",
    "pix2pix-ms-maps256": "msgan-pix2pix",
    "pix2pix-ms-edges2digits32": "msgan-pix2pix",
    "pix2pix-edges2digits32": "msgan-pix2pix",
}


def _is_msg_stylegan(config) -> bool:
    return config.arch == "msggan" and config.model.get("generator") == "stylegan"


# Then generator kinds (every preset and custom config with them): (predicate, name, why).
FAMILY_RULES = (
    (lambda config: config.arch == "pix2pix", "msgan-pix2pix",
     "the default of Pix2Pix(-MS) generators"),
    (_is_msg_stylegan, "msg-stylegan", "the default of MSG-StyleGAN generators"),
    (lambda config: config.arch == "projected" and config.model.get("generator") == "stylegan2",
     "projected-stylegan2", "the default of Projected GAN (StyleGAN2) generators"),
    (lambda config: config.arch == "projected", "projected-fastgan",
     "the default of Projected GAN (FastGAN) generators"),
)


def names() -> list[str]:
    return sorted(PROTOCOLS)


def get(name: str) -> Protocol:
    """The protocol ``name`` or a UsageError listing the choices."""
    if name not in PROTOCOLS:
        raise UsageError(f"unknown evaluation protocol {name!r}; choices: "
                         f"{', '.join([DEFAULT, *names()])} ({DEFAULT}: the run's preset's)")
    return PROTOCOLS[name]


def preset_protocol(config) -> tuple[str, str]:
    """``(protocol name, why)`` a config defaults to: its ``eval.protocol``, else its preset's
    (``PRESET_PROTOCOLS``), else its family's (``FAMILY_RULES``), else ``keras-gans``."""
    chosen = (config.eval or {}).get("protocol")
    if chosen and chosen != DEFAULT:
        return chosen, "the run's config (eval.protocol)"
    if config.preset in PRESET_PROTOCOLS:
        return PRESET_PROTOCOLS[config.preset], f"the default of preset {config.preset}"
    for predicate, name, why in FAMILY_RULES:
        if predicate(config):
            return name, why
    return "keras-gans", "this library's default"


def protocol_for(config, name: str | None = None) -> tuple[Protocol, str]:
    """The protocol to use for a run: ``name`` when given (and not ``default``), else the
    config's default (``preset_protocol``). Returns ``(protocol, why)``."""
    if name and name != DEFAULT:
        return get(name), "given explicitly"
    chosen, why = preset_protocol(config)
    return get(chosen), why


# --- sampling under a protocol --------------------------------------------------------------
def _layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


def noise_layers(model) -> list:
    from keras_gans.layers.stylegan import NoiseInjection

    return [layer for layer in _layers(model) if isinstance(layer, NoiseInjection)]


def has_batchnorm(model) -> bool:
    import keras

    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in _layers(model))


@contextlib.contextmanager
def fresh_noise(model):
    """Inference calls of ``model`` draw fresh noise in every noise layer: their fixed maps
    (``NoiseInjection.fixed_noise``, ``FastGANUpBlock.fixed_noise_2``) are hidden for the
    duration (plain attribute swaps, no variable is created, changed or untracked). Use it
    around eager calls or around the tracing of a function (``keras-gans export --noise
    fresh``); a function traced outside it keeps the fixed maps."""
    from keras_gans.layers.fastgan import FastGANUpBlock

    noisy = {id(layer) for layer in noise_layers(model)}
    hidden = []
    for layer in _layers(model):
        for attr in (("fixed_noise",) if id(layer) in noisy else ()) + (
                ("fixed_noise_2",) if isinstance(layer, FastGANUpBlock) else ()):
            value = getattr(layer, attr, None)
            if value is not None:
                hidden.append((layer, attr, value))
                object.__setattr__(layer, attr, None)  # bypass Keras' attribute tracking
    try:
        yield
    finally:
        for layer, attr, value in hidden:
            object.__setattr__(layer, attr, value)


@contextlib.contextmanager
def no_w_truncation(model):
    """StyleGAN's w truncation (``DlatentAverage.truncation_psi``) off for the duration."""
    from keras_gans.layers.stylegan import DlatentAverage

    saved = [(layer, layer.truncation_psi) for layer in _layers(model)
             if isinstance(layer, DlatentAverage)]
    for layer, _ in saved:
        layer.truncation_psi = None
    try:
        yield
    finally:
        for layer, psi in saved:
            layer.truncation_psi = psi


@contextlib.contextmanager
def seeded_noise(model, seed: int, index: int, chunk: int = 0):
    """Every noise ``SeedGenerator`` of ``model`` set from ``(seed, index, chunk)`` (one stream
    per layer) for the duration, then put back: reproducible fresh noise that leaves the
    model's own noise streams untouched."""
    states = [layer.seed_generator.state for layer in noise_layers(model)]
    saved = [np.asarray(s.numpy()) for s in states]
    for i, state in enumerate(states):
        stream = (seed * 1_000_003 + chunk * 65_537 + i) % (1 << 62)
        state.assign(np.asarray([stream, index], saved[i].dtype))
    try:
        yield
    finally:
        for state, value in zip(states, saved):
            state.assign(value)


@contextlib.contextmanager
def preserved_state(model):
    """The model's non-trainable variables (batch-norm moving statistics, spectral-norm ``u``,
    StyleGAN's w average, noise seed states) restored after a training-mode call."""
    saved = [(v, np.asarray(v.numpy())) for v in model.non_trainable_variables]
    try:
        yield
    finally:
        for v, value in saved:
            v.assign(value)


def final_output(out):
    return out[-1] if isinstance(out, (list, tuple)) else out


def generate(generator, inputs, protocol: Protocol, seed: int = 0, index: int = 0, chunk: int = 0):
    """The generator's final images for ``inputs`` (z, or [z, class_id]) under ``protocol``:
    one call (the caller chunks by ``protocol.batch``); fresh noise from ``(seed, index,
    chunk)``."""
    with contextlib.ExitStack() as stack:
        if protocol.truncation == "off":
            stack.enter_context(no_w_truncation(generator))
        if protocol.noise == "fresh":
            stack.enter_context(fresh_noise(generator))
            stack.enter_context(seeded_noise(generator, seed, index, chunk))
        if protocol.batchnorm == "batch":
            stack.enter_context(preserved_state(generator))
        return final_output(generator(inputs, training=protocol.batchnorm == "batch"))


def applicability_notes(generator, protocol: Protocol, ema_used: bool | None) -> list[str]:
    """What the protocol asks for that this generator lacks (recorded with the result)."""
    notes = []
    if protocol.generator == "ema" and ema_used is False:
        notes.append("the run keeps no EMA generator: the trained generator was sampled")
    if protocol.batchnorm == "batch" and not has_batchnorm(generator):
        notes.append("the generator has no batch norm: batch statistics change nothing but the "
                     "train-mode call")
    layers = noise_layers(generator)
    if protocol.noise == "fixed" and layers and all(getattr(l, "fixed_noise", None) is None
                                                     for l in layers):
        notes.append("the generator was built with randomize_noise: its noise is fresh at "
                     "inference whatever the protocol says")
    if not layers and protocol.noise == "fresh":
        notes.append("the generator has no noise inputs")
    return notes


def export_protocol(meta: dict | None) -> dict:
    """What an export was traced with, as a protocol record (``name: "as-exported"``); noise
    ``none`` for a generator without noise layers (exports before the ``noise`` entry: fixed,
    the only kind they could have)."""
    meta = meta or {}
    noise = meta.get("noise", "fixed") or "none"
    return {"name": "as-exported", "generator": "ema" if meta.get("ema", True) else "raw",
            "batchnorm": ("inference (standing statistics)" if meta.get("standing_stats")
                          else "inference"),
            "noise": noise, "truncation": "model", "batch": None,
            "source": "the export's signature (keras-gans export)"}


def check_export(requested: Protocol, exported: dict, config: dict | None) -> list[str]:
    """How ``requested`` differs from what an export does (empty: it applies); ``config``: the
    run config the export carries (its generator's w truncation)."""
    differ = []
    if requested.generator != exported["generator"]:
        differ.append(f"it asks for the {requested.generator} generator, the export holds the "
                      f"{exported['generator']} one")
    if requested.batchnorm == "batch":
        differ.append("it asks for batch statistics, the export was traced in inference mode")
    model = (config or {}).get("model") or {}
    stylegan = (config or {}).get("arch") == "msggan" and model.get("generator") == "stylegan"
    psi = model.get("truncation_psi", 0.7)  # MSGStyleGANGenerator's default
    if (config or {}).get("arch") == "projected" and model.get("generator") == "stylegan2":
        stylegan, psi = True, model.get("truncation_psi")  # StyleGAN2Generator: None (off)
    if requested.truncation == "off" and stylegan and psi not in (None, 1, 1.0):
        differ.append(f"it samples without truncation, the export's generator truncates w "
                      f"(truncation_psi {psi})")
    if exported["noise"] != "none" and requested.noise != exported["noise"]:
        differ.append(f"it asks for {requested.noise} noise, the export draws {exported['noise']} "
                      "noise" + (" (re-export with --noise fresh)" if requested.noise == "fresh" else ""))
    return differ
