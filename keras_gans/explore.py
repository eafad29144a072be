"""Looking at a model: latent interpolations, truncation sweeps and class grids as pictures.

One module owns the maths and the layouts; ``keras-gans sample`` (the CLI), notebooks and the
explorer page that ``keras-gans serve`` serves (``keras_gans.serving.explorer``, whose JavaScript
transcribes ``slerp`` and ``interpolation_path`` below, operation for operation) all use it.

**The latent of seed s** is, everywhere, the ``z`` that the exported ``sample`` signature returns
for ``seed=s, num=1`` (at the requested truncation): ``keras_gans.sampling.sample_latents(1,
latent_dim, s, truncation)``. An interpolation asks the model for the end points' latents
through ``sample``, interpolates them on the client and renders the path through
``serving_default``: only the documented serving API, so an export loaded in-process, ``keras-gans
serve`` (REST or gRPC) and TF Serving give the same pictures.

**Interpolation** is spherical (``slerp``) in z for every family: z ~ N(0, I) concentrates near a
sphere, and a straight line between two samples passes through lower-norm latents the generator
rarely saw (White, "Sampling Generative Networks", 2016; the StyleGAN paper's perceptual path
length also slerps z). StyleGAN's w space (MSG-StyleGAN) is interpolated linearly in the paper's
path length; the exports take z only, so w-space interpolation is not offered: z is slerped for
MSG-StyleGAN too. Class embeddings are interpolated linearly (BigGAN-PyTorch ``utils.interp``
lerps the shared embedding ``y``).

Sources (``Source``): an export loaded in-process (``ExportSource``), a running server through
``keras_gans.serving.client.Client`` (``ServerSource``), and a training run's EMA generator
(``RunSource``: the only one that can show every scale of a multi-scale generator, interpolate a
class embedding, or change MSG-StyleGAN's psi, none of which the exported signatures expose).

Image-conditioned models (image-to-image translation, Pix2Pix-MS) take condition images instead
of class ids: ``Source.sample_conditioned`` sends PNG files as they are (the exports'
``sample_png``; ``RunSource`` checks and decodes them the same way) and ``condition_grid`` lays
out MSGAN's figure: one row per input, the input first, then the diverse outputs.

Pictures: ``Picture`` holds uint8 images laid out in rows, row labels, and the
``(model, version, seeds, arguments)`` that reproduce it; ``save_picture`` writes them into the
PNG's text chunk (key ``keras-gans``, JSON).
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import os

import numpy as np

from keras_gans import image_grid
from keras_gans.errors import UsageError

PNG_TEXT_KEY = "keras-gans"
# Generator layers that embed the class id into one vector the rest of the network reads
# (BigGAN's shared embedding, a conditional MSG-StyleGAN's label embedding): the class
# interpolation lerps their output. Other conditioning (one-hot inputs, per-layer embeddings)
# has no single embedding to interpolate: those models show the two end classes.
CLASS_EMBEDDING_LAYERS = ("shared_embedding", "label_embedding")


# --- the maths ----------------------------------------------------------------------------------
def _dot(a, b) -> float:
    """Sequential float64 dot product (the page's JavaScript sums in the same order)."""
    acc = 0.0
    for x, y in zip(a.tolist(), b.tolist()):
        acc += x * y
    return acc


def slerp(a, b, t: float) -> np.ndarray:
    """Spherical linear interpolation between latents ``a`` and ``b`` (1-D), float64.

    ``omega = arccos(clip(a.b / (|a| |b|), -1, 1))``; ``slerp = sin((1 - t) omega) / sin(omega) a
    + sin(t omega) / sin(omega) b`` (Shoemake 1985), with plain ``lerp`` when ``sin(omega) < 1e-6``
    (parallel or zero vectors). ``t = 0`` gives ``a`` and ``t = 1`` gives ``b`` exactly. For unit
    vectors the whole path stays on the unit sphere; for others the norm moves between
    ``|a|`` and ``|b|`` along the great circle's plane.
    """
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"slerp: latents of different sizes {a.shape} and {b.shape}")
    t = float(t)
    if t == 0.0:
        return a.copy()
    if t == 1.0:
        return b.copy()
    na, nb = math.sqrt(_dot(a, a)), math.sqrt(_dot(b, b))
    cos = _dot(a, b) / (na * nb) if na > 0 and nb > 0 else 1.0
    omega = math.acos(min(1.0, max(-1.0, cos)))
    so = math.sin(omega)
    if so < 1e-6:
        return lerp(a, b, t)
    return (math.sin((1.0 - t) * omega) / so) * a + (math.sin(t * omega) / so) * b


def lerp(a, b, t: float) -> np.ndarray:
    """``(1 - t) a + t b`` in float64."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (1.0 - float(t)) * a + float(t) * b


def interpolation_times(frames: int) -> list[float]:
    """``frames`` evenly spaced fractions from 0 to 1 inclusive: ``i / (frames - 1)``."""
    frames = int(frames)
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {frames}")
    return [i / (frames - 1) for i in range(frames)]


def interpolation_path(latents, frames: int, mode: str = "slerp") -> np.ndarray:
    """The path through ``latents`` ``[K, D]`` (K >= 2 key latents, e.g. one per seed).

    Each of the ``K - 1`` legs has ``frames`` frames including both its ends
    (``interpolation_times``); consecutive legs share their joint, so the path has
    ``(K - 1) * (frames - 1) + 1`` rows. Returns float32 (what the generator takes).
    """
    if mode not in ("slerp", "lerp"):
        raise ValueError(f"mode must be 'slerp' or 'lerp', got {mode!r}")
    keys = np.asarray(latents, np.float64)
    if keys.ndim != 2 or len(keys) < 2:
        raise ValueError(f"interpolation_path needs [K >= 2, D] latents, got shape {keys.shape}")
    fn = slerp if mode == "slerp" else lerp
    times = interpolation_times(frames)
    rows = [keys[0]]
    for k in range(len(keys) - 1):
        rows += [fn(keys[k], keys[k + 1], t) for t in times[1:]]
    return np.stack(rows).astype(np.float32)


def path_length(num_keys: int, frames: int) -> int:
    """Rows of ``interpolation_path`` for ``num_keys`` key latents."""
    return (int(num_keys) - 1) * (int(frames) - 1) + 1


# --- argument parsing shared by the CLI (and mirrored by the page's inputs) -------------------------
def parse_ints(text: str, what: str, minimum: int | None = None, at_least: int = 1) -> list[int]:
    """``"1,2,5"`` or ranges ``"0-9"`` -> ints; ``UsageError`` naming ``what`` otherwise."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = part[0] + part[1:].split("-", 1)[0], part[1:].split("-", 1)[1]
                lo, hi = int(lo), int(hi)
                if hi < lo:
                    raise ValueError
                out += list(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise UsageError(f"{what} {text!r}: expected integers separated by commas (ranges "
                             "like 0-9 allowed), e.g. 1,2,3") from None
    if len(out) < at_least:
        raise UsageError(f"{what} {text!r}: needs at least {at_least} value(s)")
    if minimum is not None and any(v < minimum for v in out):
        raise UsageError(f"{what} {text!r}: values must be >= {minimum}")
    return out


def parse_floats(text: str, what: str, minimum: float = 0.0) -> list[float]:
    """``"0.2,0.5,1"`` -> floats ``>= minimum``; ``UsageError`` naming ``what`` otherwise."""
    try:
        out = [float(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"{what} {text!r}: expected numbers separated by commas, e.g. "
                         "0.2,0.5,1.0") from None
    if not out:
        raise UsageError(f"{what} {text!r}: needs at least one value")
    bad = [v for v in out if not math.isfinite(v) or v < minimum]
    if bad:
        raise UsageError(f"{what} {text!r}: values must be finite and >= {minimum:g}")
    return out


# --- sources ------------------------------------------------------------------------------------
class Source(abc.ABC):
    """A model to look at. Subclasses implement ``sample`` and ``generate``.

    Attributes:
        name, version: what the picture's text chunk records.
        latent_dim: size of z.
        conditional: the model takes class ids.
        num_classes: number of classes (None: not known, e.g. over a server's API).
        labels: class names or None.
        kind: ``export`` | ``server`` | ``run``.
    """

    kind = "?"
    name = "?"
    version = None
    latent_dim = 0
    conditional = False
    num_classes: int | None = 0
    labels = None
    max_batch = 1024
    # Image-conditioned models (image-to-image translation): they take condition images, not
    # class ids; ``condition_shape`` (H, W, C) when known (a server's API does not say it: the
    # server checks the images and names what it expects).
    image_conditioned = False
    condition_shape = None

    @abc.abstractmethod
    def sample(self, seed: int, num: int, truncation: float = 0.0, class_id=None):
        """``(images uint8 [N,H,W,C], z float32 [N, D], class_ids int32 [N] | None)``: the
        ``sample`` signature (negative / None class ids: drawn from the seed)."""

    @abc.abstractmethod
    def generate(self, z, class_id=None) -> np.ndarray:
        """uint8 images for latents ``z`` (and class ids): the ``serving_default`` signature."""

    def sample_conditioned(self, pngs, seed: int, num: int):
        """``(images uint8 [M * num, H, W, C], z [M * num, D])``: ``num`` outputs for each of
        the ``M`` condition images (PNG files, ``bytes``), input i's in rows ``i * num ..
        i * num + num - 1``: the ``sample_png`` signature (``keras_gans.serving.export``)."""
        raise UsageError(f"--condition: {self.describe()} is not image-conditioned (it takes "
                         + ("class ids" if self.conditional else "no condition") + "); leave it out")

    def _no_condition_images(self) -> None:
        """Refuse a latent-only request to an image-conditioned model."""
        if self.image_conditioned:
            raise UsageError(f"{self.describe()} is image-conditioned: give condition images "
                             "(keras-gans sample --condition IMAGE.png --num N)")

    # capabilities only a training run's generator has
    def class_embedding_layer(self):
        return None

    def generate_mixed(self, z, class_a, class_b, t) -> np.ndarray:
        raise UsageError(f"{self.describe()} has no class embedding to interpolate")

    def describe(self) -> str:
        return f"{self.name} (version {self.version})" if self.version is not None else self.name

    def close(self) -> None:
        return None

    # helpers
    def class_ids(self, class_id, num: int) -> np.ndarray:
        ids = np.asarray(-1 if class_id is None else class_id, np.int32).reshape(-1)
        return np.broadcast_to(ids, (num,)).copy() if ids.size == 1 else ids

    def check_class(self, class_id: int, what: str = "--class-id") -> None:
        if not self.conditional:
            raise UsageError(f"{what}: {self.describe()} is not class-conditional; leave it out")
        if class_id < 0:
            raise UsageError(f"{what} {class_id}: class ids are >= 0 (leave it out for random classes)")
        if self.num_classes and class_id >= self.num_classes:
            raise UsageError(f"{what} {class_id}: {self.describe()} has {self.num_classes} classes "
                             f"(ids 0..{self.num_classes - 1})")

    def latents(self, seeds, truncation: float = 0.0, class_id=None):
        """The latent of each seed (``sample(seed=s, num=1)``'s z) and its class id."""
        zs, ids = [], []
        for s in seeds:
            _, z, c = self.sample(int(s), 1, truncation, class_id)
            zs.append(np.asarray(z, np.float32)[0])
            ids.append(None if c is None else int(np.asarray(c).reshape(-1)[0]))
        return np.stack(zs), ids


class ExportSource(Source):
    """An export (``MODEL_BASE/NAME/<version>/``, or ``MODEL_BASE/NAME`` for its newest version)
    loaded in-process with ``tf.saved_model.load``: the signatures the servers run."""

    kind = "export"

    def __init__(self, path: str):
        import tensorflow as tf

        from keras_gans.serving import export

        path = os.path.abspath(path)
        if not os.path.isdir(path):
            raise UsageError(f"--export {path}: not a directory (give MODEL_BASE/NAME/VERSION or "
                             "MODEL_BASE/NAME, as written by `keras-gans export`)")
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            versions = sorted(int(n) for n in os.listdir(path)
                              if n.isdigit() and os.path.exists(os.path.join(path, n, "saved_model.pb")))
            if not versions:
                raise UsageError(f"--export {path}: no saved_model.pb in it nor in an integer "
                                 "version directory under it")
            path = os.path.join(path, str(versions[-1]))
        self.path = path
        self.meta = export.read_export_metadata(path) or {}
        self.loaded = tf.saved_model.load(path)
        sigs = self.loaded.signatures
        if "sample" not in sigs or "serving_default" not in sigs:
            raise UsageError(f"--export {path}: not a keras-gans export (it needs the `sample` and "
                             "`serving_default` signatures)")
        self._serve, self._sample = sigs["serving_default"], sigs["sample"]
        z_spec = self._serve.structured_input_signature[1]["z"]
        self.latent_dim = int(z_spec.shape[-1])
        self.conditional = "class_id" in self._serve.structured_input_signature[1]
        self.image_conditioned = "condition" in self._serve.structured_input_signature[1]
        if self.image_conditioned:
            shape = self.meta.get("condition_shape")
            self.condition_shape = tuple(shape) if shape else None
            self._sample_png = sigs.get("sample_png")
        self.num_classes = int(self.meta.get("num_classes", 0)) if self.conditional else 0
        self.num_classes = self.num_classes or (None if self.conditional else 0)
        self.labels = self.meta.get("labels")
        self.name = self.meta.get("name") or os.path.basename(os.path.dirname(path))
        self.version = self.meta.get("version") or int(os.path.basename(path))
        self.arch = self.meta.get("arch")

    def sample(self, seed, num, truncation=0.0, class_id=None):
        import tensorflow as tf

        self._no_condition_images()
        inputs = dict(seed=tf.constant(int(seed), tf.int64), num=tf.constant(int(num), tf.int32),
                      truncation=tf.constant(float(truncation), tf.float32))
        if self.conditional:
            inputs["class_id"] = tf.constant(self.class_ids(class_id, 1 if class_id is None else num))
        out = self._call(self._sample, inputs)
        return out["images"], out["z"], out.get("class_id")

    def generate(self, z, class_id=None):
        import tensorflow as tf

        self._no_condition_images()
        inputs = {"z": tf.constant(np.asarray(z, np.float32))}
        if self.conditional:
            inputs["class_id"] = tf.constant(self.class_ids(class_id, len(z)))
        return self._call(self._serve, inputs)["images"]

    def sample_conditioned(self, pngs, seed, num):
        import tensorflow as tf

        if not self.image_conditioned:
            return super().sample_conditioned(pngs, seed, num)
        if self._sample_png is None:
            raise UsageError(f"--export {self.path}: no `sample_png` signature (re-export it "
                             "with this version of `keras-gans export`)")
        out = self._call(self._sample_png, dict(
            condition_png_bytes=tf.constant([bytes(p) for p in pngs], tf.string),
            seed=tf.constant(int(seed), tf.int64), num=tf.constant(int(num), tf.int32)))
        return out["images"], out["z"]

    def _call(self, fn, inputs):
        import tensorflow as tf

        from keras_gans.serving.models import tf_error_text

        try:
            return {k: v.numpy() for k, v in fn(**inputs).items()}
        except tf.errors.InvalidArgumentError as e:
            raise UsageError(f"{self.describe()}: {tf_error_text(e.message)}") from None


class ServerSource(Source):
    """A model on a running server (``keras-gans serve`` or TF Serving), REST or gRPC, through
    ``keras_gans.serving.client.Client`` (which the page's requests mirror)."""

    kind = "server"

    def __init__(self, client, model: str, version=None, num_classes: int | None = None):
        self.client, self.name, self._version = client, model, version
        sig = self._signature("serving_default")
        z = sig.get("inputs", {}).get("z")
        if z is None or "sample" not in self._signatures():
            raise UsageError(f"model {model} is not a keras-gans export (it needs the `sample` and "
                             "`serving_default` signatures with a `z` input)")
        self.latent_dim = int(z["tensor_shape"]["dim"][-1]["size"])
        self.conditional = "class_id" in sig.get("inputs", {})
        self.image_conditioned = "condition" in sig.get("inputs", {})
        self.num_classes = num_classes if self.conditional else 0
        status = self._call(self.client.status, model, version)
        versions = [int(v["version"]) for v in status.get("model_version_status", [])
                    if v.get("state") == "AVAILABLE"]
        self.version = (int(version) if version is not None and str(version).isdigit()
                        else (max(versions) if versions and version is None else version))

    def _call(self, fn, *args, **kwargs):
        from keras_gans.serving.client import ServingError

        try:
            return fn(*args, **kwargs)
        except ServingError as e:
            if e.status is None or e.is_client_error or e.code == "UNAVAILABLE":
                raise UsageError(f"{self.client.host}:{self.client.port}: {e}") from None
            raise

    def _signatures(self):
        meta = self._call(self.client.metadata, self.name, self._version)
        return meta.get("metadata", {}).get("signature_def", {}).get("signature_def", {})

    def _signature(self, name):
        return self._call(self.client.signature, self.name, name, self._version)

    def sample(self, seed, num, truncation=0.0, class_id=None):
        self._no_condition_images()
        inputs = {"seed": int(seed), "num": int(num), "truncation": float(truncation)}
        if self.conditional:
            inputs["class_id"] = self.class_ids(class_id, 1 if class_id is None else num)
        out = self._call(self.client.predict, self.name, inputs, signature_name="sample",
                         version=self._version,
                         output_filter=["images", "z"] + (["class_id"] if self.conditional else []))
        return out["images"], out["z"], out.get("class_id")

    def generate(self, z, class_id=None):
        self._no_condition_images()
        inputs = {"z": np.asarray(z, np.float32)}
        if self.conditional:
            inputs["class_id"] = self.class_ids(class_id, len(z))
        out = self._call(self.client.predict, self.name, inputs, signature_name="serving_default",
                         version=self._version, output_filter=["images"])
        return out["images"]

    def sample_conditioned(self, pngs, seed, num):
        if not self.image_conditioned:
            return super().sample_conditioned(pngs, seed, num)
        # The files as they are, base64 over REST: the server checks them (type, size, channels).
        return self._call(self.client.generate, self.name, [bytes(p) for p in pngs], num=int(num),
                          seed=int(seed), version=self._version)

    def close(self):
        self.client.close()


class RunSource(Source):
    """A training run's EMA generator, in-process (``restore_generator``), eager.

    Latents and random classes are drawn exactly as the exported ``sample`` signature draws them
    (``keras_gans.sampling``), so seeds mean the same here. Eager convolutions may round
    differently from the traced export (see ``keras_gans.serving.export``), so a pixel may differ
    by a level or a few from the export's. What only this source can do:

    - ``scales=True``: every output of a multi-scale generator (MSG-GAN), nearest-upsampled to
      the final size and placed side by side, as the training grids show them;
    - ``psi``: MSG-StyleGAN's w truncation (``DlatentAverage``: ``avg + psi (w - avg)`` on the
      first ``truncation_cutoff`` styles), changed for the call (None: as trained);
    - ``generate_mixed``: a class embedding interpolated linearly between two classes
      (``CLASS_EMBEDDING_LAYERS``).
    """

    kind = "run"

    def __init__(self, run_dir: str, scales: bool = False):
        from keras_gans import runs
        from keras_gans.training.checkpoint import restore_generator

        runs.check_run_dir(run_dir)
        if runs.latest_checkpoint(run_dir) is None:
            raise UsageError(f"--run {run_dir}: no checkpoint yet")
        self.restored = restore_generator(run_dir)
        self.net = self.restored.generator
        self.latent_dim = self.restored.latent_dim
        self.num_classes = self.restored.num_classes
        self.conditional = bool(self.num_classes)
        from keras_gans.serving.export import restored_condition_shape

        self.condition_shape = restored_condition_shape(self.restored)
        self.image_conditioned = self.condition_shape is not None
        self.labels = (self.restored.run_info.get("data_manifest", {}) or {}).get("labels")
        self.name = os.path.basename(os.path.abspath(run_dir))
        self.version = f"{self.restored.images_seen / 1000:g} kimg"
        self.arch = self.restored.config.arch
        self.scales = bool(scales)
        self.psi = None

    # generator plumbing
    def psi_layers(self) -> list:
        from keras_gans.layers.stylegan import DlatentAverage

        return [layer for layer in self.net._flatten_layers(include_self=False, recursive=True)
                if isinstance(layer, DlatentAverage)]

    def num_scales(self) -> int:
        out = self._run(np.zeros((1, self.latent_dim), np.float32), np.zeros([1], np.int32))
        return len(out) if isinstance(out, (list, tuple)) else 1

    def _run(self, z, class_id):
        import tensorflow as tf

        x = tf.constant(np.asarray(z, np.float32))
        inputs = [x, tf.constant(class_id, tf.int32)] if self.conditional else x
        layers = self.psi_layers() if self.psi is not None else []
        saved = [layer.truncation_psi for layer in layers]
        try:
            for layer in layers:
                layer.truncation_psi = float(self.psi)
            return self.net(inputs, training=False)
        finally:
            for layer, value in zip(layers, saved):
                layer.truncation_psi = value

    def _images(self, out) -> np.ndarray:
        import tensorflow as tf

        scales = list(out) if isinstance(out, (list, tuple)) else [out]
        if not self.scales:
            return image_grid.to_uint8(np.asarray(scales[-1]))
        final = scales[-1].shape[1]
        parts = [image_grid.to_uint8(np.asarray(tf.image.resize(s, (final, final), "nearest")))
                 for s in scales]
        return np.concatenate(parts, axis=2)

    def sample(self, seed, num, truncation=0.0, class_id=None):
        from keras_gans import sampling

        self._no_condition_images()
        z = sampling.sample_latents(int(num), self.latent_dim, int(seed), float(truncation)).numpy()
        ids = None
        if self.conditional:
            ids = self.class_ids(class_id, int(num))
            drawn = sampling.sample_class_ids(int(num), self.num_classes, int(seed)).numpy()
            ids = np.where(ids < 0, drawn, ids).astype(np.int32)
        return self.generate(z, ids), z, ids

    def generate(self, z, class_id=None):
        self._no_condition_images()
        ids = self.class_ids(class_id, len(z)) if self.conditional else None
        return self._images(self._run(z, ids))

    def sample_conditioned(self, pngs, seed, num):
        """As the export's ``sample_png``: the same latents (``sampling.sample_latents(M * num,
        D, seed)``), each condition repeated ``num`` times, mapped ``x / 127.5 - 1``."""
        import tensorflow as tf

        from keras_gans import sampling

        if not self.image_conditioned:
            return super().sample_conditioned(pngs, seed, num)
        conditions = decode_condition_pngs(pngs, self.condition_shape)
        total = len(conditions) * int(num)
        _check_batch(self, total, "--condition images x --num")
        z = sampling.sample_latents(total, self.latent_dim, int(seed)).numpy()
        repeated = image_grid.from_uint8(np.repeat(conditions, int(num), axis=0))
        out = self.net([tf.constant(z), tf.constant(repeated)], training=False)
        return self._images(out), z

    def class_embedding_layer(self):
        for name in CLASS_EMBEDDING_LAYERS:
            try:
                return self.net.get_layer(name)
            except ValueError:
                continue
        return None

    def generate_mixed(self, z, class_a, class_b, t):
        """Images for ``z`` with the class embedding ``(1 - t) E[a] + t E[b]`` per row."""
        import tensorflow as tf

        layer = self.class_embedding_layer()
        if layer is None:
            raise UsageError(f"{self.describe()} ({self.arch}) has no single class embedding to "
                             "interpolate")
        table = np.asarray(layer.embeddings, np.float64)
        a = self.class_ids(class_a, len(z))
        b = self.class_ids(class_b, len(z))
        t = np.asarray(t, np.float64).reshape(-1, 1)
        mixed = tf.constant(((1.0 - t) * table[a] + t * table[b]).astype(np.float32))
        layer.call = lambda *args, **kwargs: mixed  # the embedding of this call only
        try:
            return self._images(self._run(z, a))
        finally:
            del layer.call


def open_source(*, server=None, model=None, export=None, run=None, protocol="rest", version=None,
                timeout=120.0, scales=False, num_classes=None) -> Source:
    """The one ``Source`` for the CLI's ``--server`` / ``--export`` / ``--run``."""
    given = [k for k, v in (("--server", server), ("--export", export), ("--run", run)) if v]
    if len(given) != 1:
        raise UsageError("give exactly one of --server URL (with --model NAME), --export "
                         "MODEL_BASE/NAME[/VERSION] or --run RUN_DIR"
                         + (f" (got {', '.join(given)})" if given else ""))
    if scales and not run:
        raise UsageError("--scales needs --run RUN_DIR: the exports serve the final scale only")
    if server:
        if not model:
            raise UsageError("--server needs --model NAME")
        from keras_gans.serving.client import Client

        try:
            client = Client(server, protocol=protocol, timeout=timeout)
        except ValueError as e:
            raise UsageError(str(e)) from None
        try:
            return ServerSource(client, model, version, num_classes=num_classes)
        except BaseException:
            client.close()
            raise
    if model or version is not None:
        raise UsageError("--model and --version go with --server (--export takes the version "
                         "directory itself)")
    return ExportSource(export) if export else RunSource(run, scales=scales)


# --- pictures -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Picture:
    """uint8 images ``[N, H, W, C]`` in ``cols`` columns, optional row labels, and what
    reproduces them (``info``: model, version, seeds, arguments...)."""

    images: np.ndarray
    cols: int
    row_labels: list | None
    info: dict
    frames: np.ndarray | None = None  # an interpolation's frames (for an animation)
    z: np.ndarray | None = None

    def text(self) -> dict:
        from keras_gans import __version__

        return {PNG_TEXT_KEY: json.dumps({**self.info, "keras_gans_version": __version__},
                                         sort_keys=True),
                "Software": f"keras-gans {__version__}"}


def _info(source: Source, what: str, **arguments) -> dict:
    return {"model": source.name, "version": source.version, "source": source.kind,
            "picture": what, **arguments}


def _label(source: Source, class_id) -> str:
    if class_id is None:
        return "random"
    labels = source.labels
    if labels and 0 <= int(class_id) < len(labels) and str(labels[int(class_id)]) != str(int(class_id)):
        return f"{int(class_id)} {labels[int(class_id)]}"
    return str(int(class_id))


def _check_batch(source: Source, n: int, what: str) -> None:
    if n > source.max_batch:
        raise UsageError(f"{what} asks for {n} images in one request; at most {source.max_batch}: "
                         "use fewer frames, seeds or values")


def interpolation(source: Source, seeds, frames: int, truncation: float = 0.0, class_id=None,
                  classes=None) -> Picture:
    """A strip through the latents of ``seeds`` (``interpolation_path``, slerp in z).

    Conditional models: ``class_id`` fixes the class; otherwise the strip keeps the class drawn
    for the first seed. ``classes=(a, b)`` also interpolates the class along the whole strip
    (``class_interpolation``).
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2:
        raise UsageError(f"--interpolate needs at least two seeds, got {seeds}")
    if int(frames) < 2:
        raise UsageError(f"--frames {frames}: an interpolation needs at least 2 frames")
    n = path_length(len(seeds), frames)
    _check_batch(source, n, f"--interpolate with {len(seeds)} seeds and --frames {frames}")
    if class_id is not None:
        source.check_class(class_id)
    keys, ids = source.latents(seeds, truncation, class_id)
    z = interpolation_path(keys, frames, "slerp")
    info = _info(source, "interpolation", seeds=seeds, frames=int(frames), truncation=truncation,
                 space="z", mode="slerp")
    if classes is not None:
        return class_interpolation(source, None, classes, frames, truncation, z=z, info=info)
    cls = None
    if source.conditional:
        cls = class_id if class_id is not None else ids[0]
        info["class_id"] = int(cls)
    images = source.generate(z, cls)
    label = f"seeds {' > '.join(map(str, seeds))}" + (f", class {_label(source, cls)}" if cls is not None else "")
    return Picture(images, cols=len(images), row_labels=[label], info=info, frames=images, z=z)


def class_interpolation(source: Source, seed, classes, frames: int, truncation: float = 0.0,
                        z=None, info=None) -> Picture:
    """The class embedding from class ``a`` to ``b`` (linear), latent fixed at ``seed``'s (or
    moving along ``z`` when given). Models without a single class embedding (and every export:
    the signatures take class ids, not embeddings) show the two end classes, and the picture's
    info says so (``"class_mode": "ends"``)."""
    if not source.conditional:
        raise UsageError(f"--interpolate-classes: {source.describe()} is not class-conditional")
    a, b = (int(c) for c in classes)
    for c in (a, b):
        source.check_class(c, "--interpolate-classes")
    if int(frames) < 2:
        raise UsageError(f"--frames {frames}: an interpolation needs at least 2 frames")
    fixed = z is None  # one latent for the whole strip (else: moving along z)
    if fixed:
        (z0,), _ = source.latents([int(seed)], truncation, a)
        z = np.repeat(z0[None], int(frames), axis=0)
        info = _info(source, "class-interpolation", seeds=[int(seed)], frames=int(frames),
                     truncation=truncation)
    info = {**info, "classes": [a, b]}
    n = len(z)
    _check_batch(source, n, "--interpolate-classes")
    t = np.array([i / (n - 1) for i in range(n)], np.float64)
    if source.class_embedding_layer() is not None:
        images = source.generate_mixed(z, a, b, t)
        info["class_mode"] = "embedding-lerp"
        labels = [f"class {_label(source, a)} > {_label(source, b)}"]
        return Picture(images, cols=n, row_labels=labels, info=info, frames=images, z=z)
    info["class_mode"] = "ends"
    if fixed:  # one latent: the two end images side by side
        z = z[:1]
    ends_a = source.generate(z, a)
    ends_b = source.generate(z, b)
    images = np.concatenate([ends_a, ends_b])
    labels = [f"class {_label(source, a)}", f"class {_label(source, b)}"]
    return Picture(images, cols=len(z), row_labels=labels, info=info,
                   frames=np.concatenate([ends_a, ends_b]) if fixed else ends_a, z=z)


def truncation_sweep(source: Source, values, seed: int = 0, num: int = 8, class_id=None,
                     psi: bool = False) -> Picture:
    """The same seed at each truncation, one row per value (BigGAN's Figure 2 view).

    ``psi=False``: BigGAN's z truncation (the ``sample`` signature's ``truncation``: components
    beyond it resampled; 0: none). Row ``v`` holds ``sample(seed, num, truncation=v)``; the
    truncated normal keeps every component of the first draw already inside the threshold, so
    the columns stay the same latents as far as the threshold allows.
    ``psi=True`` (MSG-StyleGAN run directories): the same latents at w truncation psi = v
    (1: none, 0: the average w).
    """
    values = [float(v) for v in values]
    if num < 1:
        raise UsageError(f"--num {num}: must be >= 1")
    _check_batch(source, num, "--num")
    if class_id is not None:
        source.check_class(class_id)
    rows, labels = [], []
    if psi:
        if not isinstance(source, RunSource) or not source.psi_layers():
            raise UsageError("--psi-sweep applies to MSG-StyleGAN (w truncation) run directories "
                             "(--run): exports trace psi into the graph")
        _, z, ids = source.sample(seed, num, 0.0, class_id)
        for v in values:
            source.psi = v
            try:
                rows.append(source.generate(z, ids))
            finally:
                source.psi = None
            labels.append(f"psi {v:g}")
        info = _info(source, "psi-sweep", seeds=[int(seed)], num=int(num), psi=values,
                     class_id=class_id)
    else:
        for v in values:
            images, _, _ = source.sample(seed, num, v, class_id)
            rows.append(images)
            labels.append(f"trunc {v:g}" if v > 0 else "no trunc")
        info = _info(source, "truncation-sweep", seeds=[int(seed)], num=int(num), truncation=values,
                     class_id=class_id)
    return Picture(np.concatenate(rows), cols=num, row_labels=labels, info=info)


def class_grid(source: Source, seed: int = 0, num: int = 8, classes=None, truncation: float = 0.0) -> Picture:
    """One row per class: ``sample(seed, num, truncation, class_id=c)``, so each column is one
    latent across the classes (the training grids' layout). ``classes`` defaults to every class
    (which a server's API does not say: give them there)."""
    if not source.conditional:
        raise UsageError(f"--class-grid: {source.describe()} is not class-conditional")
    if classes is None:
        if not source.num_classes:
            raise UsageError("--class-grid: the serving API does not say how many classes the model "
                             "has; list them, e.g. --class-grid 0-9")
        classes = list(range(source.num_classes))
    for c in classes:
        source.check_class(int(c), "--class-grid")
    if num < 1:
        raise UsageError(f"--num {num}: must be >= 1")
    _check_batch(source, num, "--num")
    rows = [source.sample(seed, num, truncation, int(c))[0] for c in classes]
    info = _info(source, "class-grid", seeds=[int(seed)], num=int(num), classes=[int(c) for c in classes],
                 truncation=truncation)
    return Picture(np.concatenate(rows), cols=num, row_labels=[_label(source, c) for c in classes],
                   info=info)


def decode_condition_pngs(pngs, condition_shape) -> np.ndarray:
    """PNG files -> uint8 ``[M, H, W, C]``, each checked as the exported ``serving_png`` checks
    them (a PNG of exactly ``condition_shape``, no conversion); UsageError naming what was
    expected otherwise."""
    import tensorflow as tf

    from keras_gans.serving.export import PNG_SIGNATURE, condition_description

    expected = condition_description(condition_shape)
    out = []
    for i, data in enumerate(pngs):
        data = bytes(data)
        if not data.startswith(PNG_SIGNATURE):
            raise UsageError(f"condition image {i} is not a PNG file (expected PNG-encoded {expected})")
        try:
            image = tf.io.decode_png(data, channels=0, dtype=tf.uint8).numpy()
        except tf.errors.InvalidArgumentError as e:
            raise UsageError(f"condition image {i} is not a readable PNG ({e.message.splitlines()[0]})") from None
        if tuple(image.shape) != tuple(condition_shape):
            raise UsageError(f"condition image {i} is [height, width, channels] {list(image.shape)}; "
                             f"expected {expected}")
        out.append(image)
    return np.stack(out)


def _as_channels(images: np.ndarray, channels: int) -> np.ndarray | None:
    """uint8 images with ``channels`` channels for a grid beside the outputs: grayscale tiled to
    RGB, RGB averaged to grayscale (rounded); None for other combinations."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if have == 3 and channels == 1:
        return np.round(images.astype(np.float64).mean(axis=-1, keepdims=True)).astype(np.uint8)
    return None


def condition_grid(source: Source, conditions, seed: int = 0, num: int = 8) -> Picture:
    """The image-to-image figure (MSGAN's): one row per condition image, the input first, then
    ``num`` diverse outputs (``Source.sample_conditioned``: every output its own latent).

    Args:
        conditions: ``[(label, png bytes), ...]``: the condition images as PNG files.
    """
    if not conditions:
        raise UsageError("--condition: give at least one condition image")
    if num < 1:
        raise UsageError(f"--num {num}: must be >= 1")
    _check_batch(source, len(conditions) * num, "--condition images x --num")
    labels = [str(label) for label, _ in conditions]
    pngs = [bytes(data) for _, data in conditions]
    images, z = source.sample_conditioned(pngs, seed, num)
    images = np.asarray(images)
    if len(images) != len(pngs) * num:
        raise UsageError(f"{source.describe()} returned {len(images)} images for {len(pngs)} "
                         f"conditions x {num}; expected {len(pngs) * num}")
    import tensorflow as tf

    inputs = np.stack([tf.io.decode_png(p, channels=0).numpy() for p in pngs])
    shown = _as_channels(inputs, images.shape[-1]) if inputs.shape[1:3] == images.shape[1:3] else None
    rows = images.reshape(len(pngs), num, *images.shape[1:])
    cols = num
    if shown is not None:
        rows = np.concatenate([shown[:, None], rows], axis=1)
        cols = num + 1
    info = _info(source, "condition-grid", seeds=[int(seed)], num=int(num), conditions=labels,
                 input_column=shown is not None)
    return Picture(rows.reshape(-1, *images.shape[1:]), cols=cols, row_labels=labels, info=info,
                   z=np.asarray(z))


def grid(source: Source, seed: int, num: int, truncation: float = 0.0, class_id=None) -> Picture:
    """Plain samples (what ``keras-gans sample`` always wrote), with the reproducing info."""
    if class_id is not None:
        source.check_class(class_id)
    images, _, _ = source.sample(seed, num, truncation, class_id)
    info = _info(source, "samples", seeds=[int(seed)], num=int(num), truncation=truncation,
                 class_id=class_id)
    return Picture(images, cols=None, row_labels=None, info=info)


def save_picture(path: str, picture: Picture, zoom: int = 1, arguments: dict | None = None) -> np.ndarray:
    """Write ``picture`` as a PNG grid with its info (and ``arguments``) in the text chunk."""
    if arguments:
        picture.info = {**picture.info, "arguments": arguments}
    images = image_grid.upscale(picture.images, zoom)
    return image_grid.save_grid(path, images, cols=picture.cols, row_labels=picture.row_labels,
                                text=picture.text())


def save_animation(path: str, picture: Picture, zoom: int = 1, fps: float = 12.0) -> str:
    """An interpolation's frames as a looping animation (``image_grid.save_animation``)."""
    if picture.frames is None:
        raise UsageError("--animation goes with --interpolate or --interpolate-classes")
    return image_grid.save_animation(path, image_grid.upscale(picture.frames, zoom), fps=fps)
