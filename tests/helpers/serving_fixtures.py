"""Tiny SavedModels in the exported generator format, for the serving tests and benchmark.

The layout and signatures are the ones ``keras_gans.serving.export`` writes
(``MODEL_BASE/NAME/<int version>/``, all ``tensorflow/serving/predict``):

- ``serving_default``: ``z`` float32 ``[None, latent_dim]`` (+ ``class_id`` int32 ``[None]`` when
  conditional) -> ``images`` uint8 ``[None, H, W, C]``, ``images_png_bytes`` string ``[None]``.
- ``sample``: ``seed`` int64 scalar, ``num`` int32 scalar, ``truncation`` float32 scalar
  (+ ``class_id`` int32 ``[None]``, length 1 or ``num``; a negative id draws a class from the
  seed) -> ``images``, ``images_png_bytes``,
  ``z`` float32 ``[num, latent_dim]`` (+ ``class_id`` int32 ``[num]``).

The "generator" is one fixed random matrix (plus a class embedding when conditional) followed by
tanh and the usual ``[-1, 1] -> uint8`` mapping: no training, a few KiB on disk, and every
version has different weights (``weight_seed``) so tests can tell versions apart.
``hidden`` > 0 inserts a dense ReLU layer of that width (a heavier model for the benchmark).
"""

from __future__ import annotations

import os
import shutil
import uuid

import numpy as np


def build_generator(latent_dim=4, height=8, width=8, channels=1, num_classes=0, weight_seed=0,
                    hidden=0):
    """A ``tf.Module`` with the exported signatures (see the module docstring)."""
    import tensorflow as tf

    rng = np.random.default_rng(weight_seed)
    pixels = height * width * channels
    conditional = num_classes > 0

    class Generator(tf.Module):
        def __init__(self):
            super().__init__()
            width_in = hidden if hidden else latent_dim
            self.w_out = tf.Variable(rng.normal(0, 1.0 / np.sqrt(width_in), (width_in, pixels))
                                     .astype(np.float32), name="w_out")
            self.w_hidden = (tf.Variable(rng.normal(0, 1.0 / np.sqrt(latent_dim), (latent_dim, hidden))
                                         .astype(np.float32), name="w_hidden") if hidden else None)
            self.embed = (tf.Variable(rng.normal(0, 1.0, (num_classes, latent_dim)).astype(np.float32),
                                      name="embed") if conditional else None)

        def _images(self, z, class_id=None):
            h = z
            if class_id is not None:
                h = h + tf.gather(self.embed, class_id)
            if self.w_hidden is not None:
                h = tf.nn.relu(tf.matmul(h, self.w_hidden))
            x = tf.tanh(tf.matmul(h, self.w_out))
            x = tf.reshape(x, [-1, height, width, channels])
            images = tf.cast(tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
            png = tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)
            return images, png

        def _sample(self, seed, num, truncation, class_id=None):
            z = tf.random.stateless_normal([num, latent_dim], seed=tf.stack([seed, tf.constant(0, tf.int64)]))
            z = tf.where(truncation > 0.0, tf.clip_by_value(z, -truncation, truncation), z)
            if class_id is None:
                images, png = self._images(z)
                return {"images": images, "images_png_bytes": png, "z": z}
            class_id = tf.broadcast_to(class_id, tf.reshape(num, [1]))
            random_ids = tf.random.stateless_uniform([num], seed=tf.stack([seed, tf.constant(1, tf.int64)]),
                                                     maxval=num_classes, dtype=tf.int32)
            class_id = tf.where(class_id < 0, random_ids, class_id)  # negative: a random class
            images, png = self._images(z, class_id)
            return {"images": images, "images_png_bytes": png, "z": z, "class_id": class_id}

    g = Generator()
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    c_spec = tf.TensorSpec([None], tf.int32, name="class_id")
    seed_spec = tf.TensorSpec([], tf.int64, name="seed")
    num_spec = tf.TensorSpec([], tf.int32, name="num")
    t_spec = tf.TensorSpec([], tf.float32, name="truncation")
    if conditional:
        @tf.function(input_signature=[z_spec, c_spec])
        def serve(z, class_id):
            images, png = g._images(z, class_id)
            return {"images": images, "images_png_bytes": png}

        @tf.function(input_signature=[seed_spec, num_spec, t_spec, c_spec])
        def sample(seed, num, truncation, class_id):
            return g._sample(seed, num, truncation, class_id)
    else:
        @tf.function(input_signature=[z_spec])
        def serve(z):
            images, png = g._images(z)
            return {"images": images, "images_png_bytes": png}

        @tf.function(input_signature=[seed_spec, num_spec, t_spec])
        def sample(seed, num, truncation):
            return g._sample(seed, num, truncation)

    g.serve, g.sample = serve, sample
    return g


def export_fixture(model_base, name, version, conditional=False, latent_dim=4, height=8, width=8,
                   channels=1, num_classes=3, weight_seed=None, hidden=0):
    """Write ``model_base/name/version/`` atomically (a ``.tmp-*`` sibling renamed into place).

    Returns the version directory.
    """
    import tensorflow as tf

    g = build_generator(latent_dim, height, width, channels, num_classes if conditional else 0,
                        weight_seed=version if weight_seed is None else weight_seed, hidden=hidden)
    model_dir = os.path.join(model_base, name)
    os.makedirs(model_dir, exist_ok=True)
    final = os.path.join(model_dir, str(version))
    tmp = os.path.join(model_dir, f".tmp-{uuid.uuid4().hex[:8]}")
    tf.saved_model.save(g, tmp, signatures={"serving_default": g.serve, "sample": g.sample})
    if os.path.exists(final):
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def copy_version(src_version_dir, model_dir, version):
    """Install a copy of a version dir as ``model_dir/version`` the way exports do (atomic rename)."""
    tmp = os.path.join(model_dir, f".tmp-{uuid.uuid4().hex[:8]}")
    shutil.copytree(src_version_dir, tmp)
    final = os.path.join(model_dir, str(version))
    os.replace(tmp, final)
    return final


def export_png_decoder(model_base, name, version=1, height=8, width=8, channels=1):
    """A model with a string input, for the ``{"b64": ...}`` paths: ``serving_default`` takes
    ``png_bytes`` string ``[None]`` and returns ``images`` (decoded uint8), ``echo_bytes`` (the
    input bytes, a ``*_bytes`` output) and ``length_text`` (their length as text: a plain string
    output)."""
    import tensorflow as tf

    shape = [height, width, channels]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="png_bytes")])
    def serve(png_bytes):
        images = tf.map_fn(lambda b: tf.ensure_shape(tf.io.decode_png(b, channels=channels), shape),
                           png_bytes, fn_output_signature=tf.TensorSpec(shape, tf.uint8))
        return {"images": images, "echo_bytes": png_bytes,
                "length_text": tf.strings.as_string(tf.strings.length(png_bytes))}

    module = tf.Module()
    module.serve = serve
    path = os.path.join(model_base, name, str(version))
    tf.saved_model.save(module, path, signatures={"serving_default": serve})
    return path
