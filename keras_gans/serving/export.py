"""``keras-gans export``: a run's EMA generator as a versioned SavedModel for TF Serving.

Layout (TF Serving's: it loads the integer subdirectories of ``MODEL_BASE/NAME`` and ignores
everything else)::

    MODEL_BASE/NAME/<version>/
        saved_model.pb, variables/        the SavedModel (EMA generator weights, float32)
        assets.extra/config.json          the run's training config
        assets.extra/model_card.md        what the model is and how it was trained
        assets.extra/keras_gans.json      machine-readable: latent_dim, classes, signatures...

``--standing-stats N`` first replaces the EMA generator's batch-norm moving statistics by
BigGAN's standing statistics (``keras_gans.sampling.accumulate_standing_stats``: the average of
the batch statistics of N batches of random latents and classes); the export records it in
``keras_gans.json`` (``standing_stats``) and the model card.

``--noise fresh`` (generators with noise inputs: MSG-StyleGAN, FastGAN) traces the generator
drawing fresh noise on every request, as their official code samples for metrics
(``keras_gans.metrics.protocols``): the same ``z`` then gives different images, and
``serving_default`` is no longer a deterministic function of its inputs. The default,
``--noise fixed``, uses the layers' fixed noise maps (deterministic serving). ``keras_gans.json``
records ``noise`` (``fixed`` | ``fresh``; null for generators without noise inputs), and
``keras-gans evaluate`` scores the export with it.

The export is atomic: everything is written into ``MODEL_BASE/NAME/.tmp-<uuid>`` (not an
integer, so a running TF Serving never sees it) and renamed to the version at the end; a failed
export removes its temporary directory. The version is the next free integer unless given.

Signatures (all ``tensorflow/serving/predict``, explicitly named inputs and outputs):

``serving_default``
    ``z`` float32 [None, latent_dim] (+ ``class_id`` int32 [None] when conditional) ->
    ``images`` uint8 [None, H, W, C] and ``images_png_bytes`` string [None] (one PNG each).
``sample``
    ``seed`` int64 [], ``num`` int32 [], ``truncation`` float32 [] (``<= 0``: none) (+
    ``class_id`` int32 [None] when conditional: ``num`` ids, or one broadcast to all; a negative
    id draws a uniform class from the seed) -> ``images``, ``images_png_bytes``, ``z`` float32
    [None, latent_dim] (+ ``class_id`` int32 [None]). Stateless (``keras_gans.sampling``): the
    same inputs give the same images, and the returned ``z`` reproduces them through
    ``serving_default``.

Image-conditioned generators (image-to-image translation, Pix2Pix-MS; the metadata records
``condition_shape`` [H, W, C]) have three signatures instead:

``serving_default``
    ``z`` float32 [None, latent_dim], ``condition`` uint8 [N, H, W, C] (one condition image per
    row of z) -> ``images``, ``images_png_bytes``.
``serving_png``
    ``z``, ``condition_png_bytes`` string [N] (PNG files; ``{"b64": ...}`` over TF Serving's REST
    API) -> the same; a PNG decodes to exactly what ``serving_default`` takes (lossless).
``sample``
    ``condition`` uint8 [M, H, W, C], ``seed`` int64 [], ``num`` int32 [] -> ``images``,
    ``images_png_bytes`` and ``z`` for ``M * num`` outputs, input i's in rows ``i * num ..
    i * num + num - 1`` (every output its own latent, ``keras_gans.sampling.sample_latents(M *
    num, latent_dim, seed)``: the official Pix2Pix-MS test.py draws fresh z per input unless
    ``--sync``). ``M * num`` is at most ``MAX_NUM``.
``sample_png``
    ``condition_png_bytes`` string [M], ``seed``, ``num`` -> the same as ``sample`` (the input
    ``keras-gans sample --condition in.png --server`` sends: the files as they are).

The condition inputs have no static size in the signatures: their size and channels (and, for
PNGs, the file type) are checked inside the graph, so a wrong image gets an InvalidArgument
naming the expected ``[N, H, W, C]`` from TF Serving and ``keras-gans serve`` alike (HTTP 400).
Conditions are mapped to [-1, 1] as ``x / 127.5 - 1`` (``image_grid.from_uint8``, the reader's
mapping), so the export of a dataset's condition equals the generator on the training batch.

Images are the final (highest-resolution) generator output mapped from [-1, 1] to uint8 as
``keras_gans.image_grid.to_uint8`` does (round half to even, clip), so serving_default equals the
in-process EMA generator bit for bit (measured for the DCGAN presets; in deeper graphs such as
BigGAN's the traced convolutions can differ from the eager ones by float rounding, ~1e-6, so a
pixel on a .5 boundary may come out 1 apart). Bad requests fail inside the graph with a clear
message (TF Serving answers them with HTTP 400 and ``{"error": ...}``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import uuid

from keras_gans import image_grid, runs
from keras_gans.errors import UsageError
from keras_gans.serving.names import InvalidModelName, check_model_name

SIGNATURE_METHOD = "tensorflow/serving/predict"
MAX_NUM = 1024              # most images one `sample` request may ask for
EXTRA_DIR = "assets.extra"  # TF Serving ignores it (it reads warmup requests from it, if any)
METADATA = "keras_gans.json"
CONFIG = runs.CONFIG  # the run's training config, copied as the run recorded it
TMP_PREFIX = ".tmp-"


# --- validation ------------------------------------------------------------------------------
def _check_name(name: str) -> None:
    """The one model-name rule (``keras_gans.serving.names``), which the server also applies to
    the directories it scans and the names in requests: what exports is what serves."""
    try:
        check_model_name(name)
    except InvalidModelName as e:
        raise UsageError(f"--name: {e}") from None


def _check_run_dir(run_dir: str) -> str:
    """The latest checkpoint of a keras-gans run, or a UsageError saying what is missing."""
    runs.check_run_dir(run_dir)
    checkpoint = runs.latest_checkpoint(run_dir)
    if checkpoint is None:
        raise UsageError(f"{run_dir} has no checkpoint yet; train it (or let it reach a snapshot) "
                         "before exporting")
    return checkpoint


def read_export_metadata(version_dir: str) -> dict | None:
    """An export's ``assets.extra/keras_gans.json`` (None when the export has none)."""
    path = os.path.join(version_dir, EXTRA_DIR, METADATA)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _version_dirs(model_dir: str) -> list[int]:
    names = os.listdir(model_dir) if os.path.isdir(model_dir) else []
    return sorted(int(n) for n in names if n.isdigit())


def next_version(model_dir: str) -> int:
    """1 + the largest integer version under ``model_dir`` (1 when there is none)."""
    return max(_version_dirs(model_dir), default=0) + 1


# --- the SavedModel ---------------------------------------------------------------------------
def _encode_png(images_uint8):
    import tensorflow as tf

    return tf.map_fn(tf.io.encode_png, images_uint8, fn_output_signature=tf.TensorSpec([], tf.string))


def input_specs(latent_dim: int, num_classes: int, condition_shape=None) -> dict:
    """``{signature: {input name: tf.TensorSpec}}`` in argument order.

    Image-conditioned generators (``condition_shape`` (H, W, C)) take their condition as uint8
    images of any shape ``[N, H', W', C']`` (``serving_default``, ``sample``) or PNG files
    (``serving_png``): the size and channels are checked inside the graph, so that a wrong image
    gets a message naming the expected ``[N, H, W, C]`` from TF Serving as from ``keras-gans
    serve`` (a static shape in the signature would make TF Serving answer with its own
    placeholder error instead)."""
    import tensorflow as tf

    z = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    if condition_shape is not None:
        condition = tf.TensorSpec([None, None, None, None], tf.uint8, name="condition")
        return {"serving_default": {"z": z, "condition": condition},
                "serving_png": {"z": z, "condition_png_bytes": tf.TensorSpec(
                    [None], tf.string, name="condition_png_bytes")},
                "sample": {"condition": condition,
                           "seed": tf.TensorSpec([], tf.int64, name="seed"),
                           "num": tf.TensorSpec([], tf.int32, name="num")},
                "sample_png": {"condition_png_bytes": tf.TensorSpec(
                    [None], tf.string, name="condition_png_bytes"),
                    "seed": tf.TensorSpec([], tf.int64, name="seed"),
                    "num": tf.TensorSpec([], tf.int32, name="num")}}
    default = {"z": z}
    sample = {"seed": tf.TensorSpec([], tf.int64, name="seed"),
              "num": tf.TensorSpec([], tf.int32, name="num"),
              "truncation": tf.TensorSpec([], tf.float32, name="truncation")}
    if num_classes:
        default["class_id"] = tf.TensorSpec([None], tf.int32, name="class_id")
        sample["class_id"] = tf.TensorSpec([None], tf.int32, name="class_id")
    return {"serving_default": default, "sample": sample}


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def condition_description(condition_shape) -> str:
    """How an image condition must look, as every refusal names it."""
    h, w, c = (int(d) for d in condition_shape)
    return (f"uint8 images of shape [N, {h}, {w}, {c}] (height {h}, width {w}, {c} "
            f"channel{'s' if c != 1 else ''}{', grayscale' if c == 1 else ', RGB' if c == 3 else ''})")


def _checked_condition(condition, condition_shape):
    """``condition`` (uint8 [N, H', W', C']) after an in-graph check that it is ``[N, H, W, C]``,
    with the static shape set (InvalidArgument naming the expected shape otherwise)."""
    import tensorflow as tf

    h, w, c = (int(d) for d in condition_shape)
    got = tf.shape(condition)
    ok = tf.reduce_all(tf.equal(got[1:], tf.constant([h, w, c], tf.int32)))
    message = tf.strings.format(
        "condition must be " + condition_description(condition_shape) + "; got shape {}", got)
    checked = _guarded(ok, message, lambda: condition,
                       lambda: tf.zeros(tf.stack([got[0], h, w, c]), tf.uint8))
    return tf.ensure_shape(checked, [None, h, w, c])


def _guarded(ok, message, good, safe):
    """``good()`` after an in-graph assertion of ``ok`` (InvalidArgument ``message`` otherwise).

    The bad branch yields ``safe()`` (a tensor of the expected shape) instead of the offending
    one: the runtime may run the assertion concurrently with what follows it (grappler turns
    control edges around Identity nodes into plain ones), so a shape check downstream of a
    wrong tensor could fail first with TensorFlow's own message instead of ours."""
    import tensorflow as tf

    check = tf.debugging.Assert(ok, [message])
    with tf.control_dependencies([check]):
        return tf.cond(ok, good, safe)


def _decode_condition_pngs(png_bytes, condition_shape):
    """``string [N]`` PNG files -> uint8 ``[N, H, W, C]``, each checked in-graph: a PNG (its
    8-byte signature) of the expected size and channels (no conversion: a wrong image is
    refused, naming what was expected)."""
    import tensorflow as tf

    h, w, c = (int(d) for d in condition_shape)
    expected = condition_description(condition_shape)

    def decode(args):
        data, index = args
        blank = tf.zeros([h, w, c], tf.uint8)
        is_png = tf.equal(tf.strings.substr(data, 0, len(PNG_SIGNATURE)), PNG_SIGNATURE)
        image = _guarded(is_png, tf.strings.format(
            "condition_png_bytes[{}] is not a PNG file (expected PNG-encoded " + expected + ")",
            index), lambda: tf.io.decode_png(data, channels=0, dtype=tf.uint8), lambda: blank)
        got = tf.shape(image)
        ok = tf.reduce_all(tf.equal(got, tf.constant([h, w, c], tf.int32)))
        image = _guarded(ok, tf.strings.format(
            "condition_png_bytes[{}] decodes to [height, width, channels] {}; expected PNG-encoded "
            + expected, (index, got)), lambda: image, lambda: blank)
        return tf.ensure_shape(image, [h, w, c])

    index = tf.range(tf.size(png_bytes, out_type=tf.int32))
    return tf.map_fn(decode, (png_bytes, index),
                     fn_output_signature=tf.TensorSpec([h, w, c], tf.uint8))


def build_module(generator, latent_dim: int, num_classes: int, condition_shape=None):
    """A ``tf.Module`` with the serving functions over ``generator`` (its variables tracked):
    ``serving_default`` and ``sample``, plus ``serving_png`` for an image-conditioned generator
    (``condition_shape`` (H, W, C): G takes ``[z, condition]``, the condition in [-1, 1]).

    Returns:
        ``(module, signatures)``: pass both to ``tf.saved_model.save``.
    """
    import tensorflow as tf

    from keras_gans import sampling

    specs = input_specs(latent_dim, num_classes, condition_shape)
    conditional = bool(num_classes)

    def generate(z, class_id=None):
        out = generator([z, class_id] if conditional else z, training=False)
        images = out[-1] if isinstance(out, (list, tuple)) else out  # multi-scale: the final one
        images = image_grid.to_uint8(images)
        return {"images": images, "images_png_bytes": _encode_png(images)}

    if condition_shape is not None:
        return _build_image_conditioned(generator, latent_dim, tuple(condition_shape), specs)

    def check_class_ids(class_id):
        return [
            tf.debugging.assert_less(
                class_id, tf.constant(num_classes, tf.int32),
                message=f"class_id must be < num_classes ({num_classes})"),
        ]

    if conditional:
        @tf.function(input_signature=list(specs["serving_default"].values()))
        def serve(z, class_id):
            checks = check_class_ids(class_id) + [
                tf.debugging.assert_non_negative(
                    class_id, message="class_id must be >= 0 in serving_default (use the `sample` "
                                      "signature for random classes)"),
                tf.debugging.assert_equal(
                    tf.shape(class_id)[0], tf.shape(z)[0],
                    message="class_id must have one entry per row of z"),
            ]
            with tf.control_dependencies(checks):
                return generate(tf.identity(z), tf.identity(class_id))

        @tf.function(input_signature=list(specs["sample"].values()))
        def sample(seed, num, truncation, class_id):
            num = _checked_num(num)
            n_ids = tf.size(class_id)
            checks = check_class_ids(class_id) + [
                tf.debugging.Assert(
                    tf.logical_or(tf.equal(n_ids, 1), tf.equal(n_ids, num)),
                    ["class_id must have 1 entry (broadcast) or `num` entries; got", n_ids,
                     "entries for num =", num]),
            ]
            with tf.control_dependencies(checks):
                ids = tf.broadcast_to(class_id, tf.reshape(num, [1]))
            ids = tf.where(ids < 0, sampling.sample_class_ids(num, num_classes, seed), ids)
            z = sampling.sample_latents(num, latent_dim, seed, truncation)
            return {**generate(z, ids), "z": z, "class_id": ids}
    else:
        @tf.function(input_signature=list(specs["serving_default"].values()))
        def serve(z):
            return generate(z)

        @tf.function(input_signature=list(specs["sample"].values()))
        def sample(seed, num, truncation):
            z = sampling.sample_latents(_checked_num(num), latent_dim, seed, truncation)
            return {**generate(z), "z": z}

    return _finish_module(tf.Module(name="keras_gans_generator"),
                          {"serving_default": serve, "sample": sample})


def _finish_module(module, signatures: dict):
    """Attach the traced functions to ``module`` and track the variables they capture."""
    for name, fn in signatures.items():
        setattr(module, "serve" if name == "serving_default" else name, fn)
    # Track the tf.Variables the traced functions capture (EMA weights, BatchNorm statistics),
    # not the Keras Variable wrappers around them: with the wrappers the SavedModel loads in
    # TF2 Python but not in a TF1-style session, which is how tensorflow_model_server (and
    # `saved_model_cli run`) load it ("Could not find variable ..."). keras.export.ExportArchive
    # does the same (it lists the variables used by its endpoints).
    captured = {}
    for fn in signatures.values():
        for v in fn.get_concrete_function().variables:
            captured.setdefault(id(v), v)
    module.generator_variables = list(captured.values())
    return module, signatures


def _build_image_conditioned(generator, latent_dim: int, condition_shape: tuple, specs: dict):
    """The signatures of an image-conditioned generator (see the module docstring)."""
    import tensorflow as tf

    from keras_gans import sampling

    def generate(z, condition_uint8):
        out = generator([z, image_grid.from_uint8(condition_uint8)], training=False)
        images = image_grid.to_uint8(out[-1] if isinstance(out, (list, tuple)) else out)
        return {"images": images, "images_png_bytes": _encode_png(images)}

    def one_per_row(z, condition):
        return tf.debugging.assert_equal(
            tf.shape(condition)[0], tf.shape(z)[0],
            message="the condition must have one image per row of z")

    @tf.function(input_signature=list(specs["serving_default"].values()))
    def serve(z, condition):
        condition = _checked_condition(condition, condition_shape)
        with tf.control_dependencies([one_per_row(z, condition)]):
            return generate(tf.identity(z), condition)

    @tf.function(input_signature=list(specs["serving_png"].values()))
    def serve_png(z, condition_png_bytes):
        condition = _decode_condition_pngs(condition_png_bytes, condition_shape)
        with tf.control_dependencies([one_per_row(z, condition)]):
            return generate(tf.identity(z), condition)

    def sample_from(condition, seed, num):
        num = _checked_num(num)
        m = tf.shape(condition)[0]
        ok = tf.logical_and(m >= 1, m * num <= MAX_NUM)
        message = tf.strings.format("sample makes num outputs per condition image, at most "
                                    + str(MAX_NUM) + " in all (and needs at least one image); "
                                    "got {} images x num {}", (m, num))
        num = _guarded(ok, message, lambda: num, lambda: tf.constant(0, tf.int32))
        # Input i's outputs are rows i * num .. i * num + num - 1; every output has its own
        # latent (official test.py draws fresh z per input unless --sync).
        repeated = tf.repeat(condition, num, axis=0)
        z = sampling.sample_latents(m * num, latent_dim, seed)
        return {**generate(z, repeated), "z": z}

    @tf.function(input_signature=list(specs["sample"].values()))
    def sample(condition, seed, num):
        return sample_from(_checked_condition(condition, condition_shape), seed, num)

    @tf.function(input_signature=list(specs["sample_png"].values()))
    def sample_png(condition_png_bytes, seed, num):
        return sample_from(_decode_condition_pngs(condition_png_bytes, condition_shape), seed, num)

    return _finish_module(tf.Module(name="keras_gans_generator"),
                          {"serving_default": serve, "serving_png": serve_png, "sample": sample,
                           "sample_png": sample_png})


def _checked_num(num):
    import tensorflow as tf

    checks = [tf.debugging.assert_greater_equal(num, 1, message=f"num must be in [1, {MAX_NUM}]"),
              tf.debugging.assert_less_equal(num, MAX_NUM, message=f"num must be in [1, {MAX_NUM}]")]
    with tf.control_dependencies(checks):
        return tf.identity(num)


def describe_signatures(signatures: dict) -> dict:
    """``{name: {"method", "inputs": {n: {dtype, shape}}, "outputs": {...}}}`` from the traced functions."""
    def spec(t):
        return {"dtype": t.dtype.name, "shape": [None if d is None else int(d) for d in t.shape.as_list()]}

    out = {}
    for name, fn in signatures.items():
        concrete = fn.get_concrete_function()
        out[name] = {"method": SIGNATURE_METHOD,
                     "inputs": {s.name: spec(s) for s in concrete.structured_input_signature[0]},
                     "outputs": {k: spec(v) for k, v in concrete.structured_outputs.items()}}
    return out


def _save_saved_model(module, path: str, signatures: dict) -> None:
    import tensorflow as tf

    tf.saved_model.save(module, path, signatures=signatures)


# --- model card ------------------------------------------------------------------------------
def _last_metrics(run_dir: str) -> dict | None:
    return (runs.read_metrics(run_dir) or [None])[-1]


def _signature_table(sigs: dict) -> list[str]:
    lines = ["| signature | direction | name | dtype | shape |", "|---|---|---|---|---|"]
    for name, sig in sigs.items():
        for direction in ("inputs", "outputs"):
            for key, spec in sig[direction].items():
                shape = "[" + ", ".join("None" if d is None else str(d) for d in spec["shape"]) + "]"
                lines.append(f"| {name} | {direction[:-1]} | `{key}` | {spec['dtype']} | {shape} |")
    return lines


def _standing_stats_text(standing) -> str:
    if not standing:
        return ("batch-norm statistics: the moving averages kept during training (no standing "
                "statistics)")
    return (f"batch-norm statistics: standing statistics (BigGAN), the average of the batch "
            f"statistics of {standing['num_batches']} batches of {standing['batch_size']} random "
            f"latents (truncation {standing['truncation']:g}"
            f"{', i.e. none' if not standing['truncation'] else ''}) and uniformly random classes, "
            f"seed {standing['seed']}, over {standing['layers']} batch-norm layers; they replace "
            "the training moving averages")


def model_card(meta: dict, config: dict, metrics: dict | None, generator_summary: str) -> str:
    labels = meta["labels"]
    label_text = (", ".join(labels) if len(labels) <= 20 else ", ".join(labels[:20]) + f", ... "
                  f"({len(labels)} in all)") if labels else "none (unconditional)"
    res, ch = meta["resolution"], meta["channels"]
    cond_shape = meta.get("condition_shape")
    kind = ("Image-conditioned (image-to-image)" if cond_shape else
            f"Class-{'conditional' if meta['num_classes'] else 'unconditional'}")
    lines = [
        f"# {meta['name']} (version {meta['version']})",
        "",
        f"{kind} {config.get('arch', '?')} "
        f"generator exported by keras-gans {meta['keras_gans_version']} on {meta['exported']} "
        "(EMA weights, float32).",
        "",
        "## Model",
        f"- architecture: `{config.get('arch')}` {json.dumps(config.get('model', {}))}; "
        f"{meta['generator_params']:,} generator parameters",
        f"- preset: `{meta['preset']}`",
        f"- weights: EMA generator ({json.dumps(config.get('ema', {}))}), float32"
        + ("" if meta["ema"] else " (NOTE: the run had no EMA generator; these are the training "
                                  "generator's weights)"),
        f"- latent: z ~ N(0, I), {meta['latent_dim']} dimensions"
        + ("" if cond_shape else "; `sample` supports truncation (BigGAN's truncation trick)"),
        f"- {_standing_stats_text(meta.get('standing_stats'))}",
        f"- trained: {meta['kimg']:g} kimg (thousands of real images shown to the discriminator)",
        f"- loss: {config.get('loss')}, batch {config.get('batch')}, seed {config.get('seed')}",
        f"- source run: `{meta['run_dir']}`, checkpoint `{meta['checkpoint']}`",
    ]
    if meta.get("discriminator_features") == "random":
        lines.append("- WARNING: trained against a discriminator feature network with RANDOM "
                     "weights (a test run, not a Projected GAN)")
    elif meta.get("discriminator_features"):
        lines.append(f"- discriminator features: {meta['discriminator_features']}")
    lines += [
        "",
        "## Data",
        f"- name: {config.get('data_name') or '?'}",
        f"- images: {res}x{res}x{ch} ({'grayscale' if ch == 1 else 'RGB' if ch == 3 else f'{ch} channels'})",
        f"- classes ({meta['num_classes']}): {label_text}",
    ]
    if cond_shape:
        lines.append(f"- condition: {condition_description(cond_shape)}, mapped to [-1, 1] "
                     "(x / 127.5 - 1) as the training data")
    lines += [
        "",
        "## Last training metrics",
    ]
    if metrics:
        for key, value in metrics.items():
            if key == "samples":
                continue
            lines.append(f"- {key}: {value:.6g}" if isinstance(value, float) else f"- {key}: {value}")
    else:
        lines.append(f"- none recorded (no {runs.METRICS} in the run)")
    lines += ["", "## Signatures (`tensorflow/serving/predict`)", ""]
    lines += _signature_table(meta["signatures"])
    if cond_shape:
        lines += [
            "",
            "- `serving_default`: one image per row of `z` and `condition` (" +
            condition_description(cond_shape) + "); `serving_png`: the same with the conditions "
            "as PNG files (`condition_png_bytes`, base64 `{\"b64\": ...}` over REST).",
            f"- `sample` (`sample_png`: the conditions as PNG files): `num` diverse outputs for "
            f"each condition image from `seed` (at most {MAX_NUM} in all; stateless): input i's "
            "outputs are rows i * num .. i * num + num - 1; it returns their latents, which "
            "reproduce them through `serving_default`.",
            "- a wrong condition (size, channels, not a PNG) is refused with a message naming the "
            "expected shape (HTTP 400).",
        ]
    else:
        lines += [
            "",
            "- `serving_default`: images for given latents"
            + (" and class ids (0 <= class_id < num_classes)" if meta["num_classes"] else "") + ".",
            f"- `sample`: `num` (1..{MAX_NUM}) images from `seed` (stateless: the same seed gives "
            "the same images); `truncation` > 0 resamples latent components beyond it (<= 0: none)"
            + ("; `class_id` holds `num` ids or one broadcast to all, a negative id draws a random "
               "class from the seed" if meta["num_classes"] else "")
            + ". It returns the latents (and classes), which reproduce the images through "
            "`serving_default`.",
        ]
    lines += [
        "- images are uint8 [0, 255] (mapped from the generator's [-1, 1]); `images_png_bytes` "
        "holds one PNG per image (base64 `{\"b64\": ...}` in TF Serving's REST answers).",
        "",
        "## Generator",
        "",
        "```",
        generator_summary.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _generator_summary(net) -> str:
    lines: list[str] = []
    try:
        net.summary(print_fn=lambda text, line_break=True: lines.append(text))
    except Exception:  # noqa: BLE001 - a summary is a nicety; subclassed models may refuse
        return f"{net.__class__.__name__} ({net.count_params():,} parameters)"
    return "\n".join(lines)


@contextlib.contextmanager
def _float32_policy():
    """Rebuild the networks in float32 whatever the run trained with (variables are float32)."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


# --- export ----------------------------------------------------------------------------------
def restored_condition_shape(restored) -> tuple | None:
    """``(H, W, C)`` of a restored generator's condition image (None: not image-conditioned):
    the restored generator's own ``condition_shape``, else the run's data manifest (a paired
    dataset: the condition has the target's resolution and ``condition_channels``)."""
    shape = getattr(restored, "condition_shape", None)
    if shape is not None:
        return tuple(int(d) for d in shape)
    manifest = restored.run_info.get("data_manifest", {}) or {}
    channels = int(manifest.get("condition_channels") or 0)
    if channels:
        res = int(manifest["resolution"])
        return (res, res, channels)
    return None


def _check_standing_stats(standing_stats, batch, truncation) -> None:
    def is_int(x):
        return isinstance(x, int) and not isinstance(x, bool)

    if not is_int(standing_stats) or standing_stats < 0:
        raise UsageError(f"--standing-stats {standing_stats!r}: must be a number of batches >= 0 "
                         "(0: keep the training moving averages)")
    if not is_int(batch) or batch < 1:
        raise UsageError(f"--standing-stats-batch {batch!r}: must be a positive integer")
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not truncation >= 0:
        raise UsageError(f"--standing-stats-truncation {truncation!r}: must be >= 0 (0: none)")


def export_run(run_dir: str, name: str, model_base: str, version: int | None = None, *,
               standing_stats: int = 0, standing_stats_batch: int = 64,
               standing_stats_truncation: float = 0.0, noise: str = "fixed") -> str:
    """Export ``run_dir``'s EMA generator to ``MODEL_BASE/NAME/<version>/`` (see the module docstring).

    Args:
        run_dir: a ``keras-gans train`` run directory with at least one checkpoint.
        name: the model name (TF Serving's ``/v1/models/NAME``).
        model_base: TF Serving's model base directory (local path).
        version: the version number; default: the next free integer (1 for a new model). An
            existing version is refused.
        standing_stats: if > 0, replace the exported generator's batch-norm moving statistics
            by standing statistics accumulated over this many batches
            (``keras_gans.sampling.accumulate_standing_stats``, seed 0); 0 keeps the training
            ones. The run's checkpoint is not changed.
        standing_stats_batch: images per standing-statistics batch.
        standing_stats_truncation: truncation of the standing-statistics latents (0: none).
        noise: ``fixed`` (the noise layers' fixed maps: deterministic) or ``fresh`` (new noise
            on every request, as the official MSG-StyleGAN / FastGAN metrics sample); only for
            generators with noise inputs.

    Returns:
        The version directory written.

    Raises:
        UsageError: bad name, version, model base, standing-statistics options (or a generator
            without batch norm), or run directory (missing, not a run, no checkpoint).
    """
    from keras_gans import __version__

    _check_name(name)
    if "://" in str(model_base):
        raise UsageError(f"--out {model_base}: export to a local directory (the atomic rename needs "
                         "a filesystem), then copy the version directory to remote storage")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise UsageError(f"--version {version!r}: must be a positive integer")
    if os.path.exists(model_base) and not os.path.isdir(model_base):
        raise UsageError(f"--out {model_base} exists and is not a directory")
    _check_standing_stats(standing_stats, standing_stats_batch, standing_stats_truncation)
    if noise not in ("fixed", "fresh"):
        raise UsageError(f"--noise {noise!r}: must be fixed or fresh")
    model_dir = os.path.join(model_base, name)
    if version is not None and os.path.exists(os.path.join(model_dir, str(version))):
        raise UsageError(f"{os.path.join(model_dir, str(version))} already exists; versions are "
                         "immutable once served: omit --version for the next free one "
                         f"({next_version(model_dir)})")
    checkpoint = _check_run_dir(run_dir)

    import tensorflow as tf

    from keras_gans import sampling
    from keras_gans.training.checkpoint import restore_generator

    standing = None
    with _float32_policy():
        restored = restore_generator(run_dir, checkpoint=checkpoint)
        config, net = restored.config, restored.generator
        condition_shape = restored_condition_shape(restored)
        if standing_stats and condition_shape is not None:
            raise UsageError("--standing-stats draws random latents and classes; an "
                             "image-conditioned generator needs condition images: leave it out")
        if standing_stats:
            standing = {"num_batches": standing_stats, "batch_size": standing_stats_batch,
                        "truncation": float(standing_stats_truncation), "seed": 0}
            try:
                layers = sampling.accumulate_standing_stats(
                    net, restored.latent_dim, restored.num_classes, num_batches=standing_stats,
                    batch_size=standing_stats_batch, truncation=standing_stats_truncation, seed=0)
            except ValueError as e:
                raise UsageError(f"--standing-stats: {e}") from e
            standing["layers"] = len(layers)
        from keras_gans.metrics import protocols

        noisy = bool(protocols.noise_layers(net))
        if noise == "fresh" and not noisy:
            raise UsageError(f"--noise fresh: the {config.arch} generator has no noise inputs")
        # Traced inside fresh_noise: the functions draw new noise instead of reading the maps.
        with protocols.fresh_noise(net) if noise == "fresh" else contextlib.nullcontext():
            module, signatures = build_module(net, restored.latent_dim, restored.num_classes,
                                              condition_shape)
        sigs = describe_signatures(signatures)
    data_manifest = restored.run_info.get("data_manifest", {})
    labels = data_manifest.get("labels") or None
    images = sigs["serving_default"]["outputs"]["images"]["shape"]
    meta = {
        "format": "keras-gans-export", "format_version": 1,
        "name": name, "version": None,  # set below, once the version is known
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "keras_gans_version": __version__, "tensorflow_version": tf.__version__,
        "arch": config.arch, "preset": config.preset, "data_name": config.data_name,
        "latent_dim": restored.latent_dim, "num_classes": restored.num_classes,
        "condition_shape": list(condition_shape) if condition_shape is not None else None,
        "labels": labels if restored.num_classes else None,
        "resolution": int(data_manifest.get("resolution", images[1])),
        "channels": int(data_manifest.get("channels", images[3])),
        "kimg": restored.images_seen / 1000,
        "ema": restored.ema, "dtype": "float32",
        "generator_params": int(net.count_params()),
        "max_num": MAX_NUM,
        "standing_stats": standing,
        "noise": noise if noisy else None,
        "run_dir": os.path.abspath(run_dir), "checkpoint": checkpoint,
        "signatures": sigs,
    }
    features = restored.discriminator_features
    if features is not None:  # Projected GAN: the frozen feature network it was trained against
        meta["discriminator_features"] = features
    config_json = config.to_json()
    metrics = _last_metrics(run_dir)
    summary = _generator_summary(net)

    os.makedirs(model_dir, exist_ok=True)
    tmp = os.path.join(model_dir, f"{TMP_PREFIX}{uuid.uuid4().hex}")
    try:
        _save_saved_model(module, tmp, signatures)
        extra = os.path.join(tmp, EXTRA_DIR)
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, CONFIG), "w", encoding="utf-8") as f:
            f.write(config_json)
        while True:
            v = version if version is not None else next_version(model_dir)
            meta["version"] = v
            with open(os.path.join(extra, METADATA), "w", encoding="utf-8") as f:
                json.dump(meta, f, indent=2)
                f.write("\n")
            with open(os.path.join(extra, "model_card.md"), "w", encoding="utf-8") as f:
                f.write(model_card(meta, json.loads(config_json), metrics, summary))
            target = os.path.join(model_dir, str(v))
            if os.path.exists(target):  # taken meanwhile (another export)
                if version is not None:
                    raise UsageError(f"{target} already exists")
                continue
            try:
                os.rename(tmp, target)  # atomic: TF Serving sees the whole version or nothing
            except OSError:
                if version is None and os.path.exists(target):
                    continue  # lost a race with a concurrent export: take the next number
                raise
            return target
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
