"""Train a tiny conditional GAN for 2 steps on one device and on 2 replicas; print the gaps.

Run as a script (it must configure 2 logical CPU devices before TensorFlow starts). Prints one
JSON line per case: the largest absolute difference of G, D and EMA weights and of each logged
value between the single-device run and the 2-replica MirroredStrategy run. SGD is used on
purpose: Adam would normalise away a gradient that is off by the replica count.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_gans.losses import regularizers as R  # noqa: E402
from keras_gans.training.ema import EmaSchedule  # noqa: E402
from keras_gans.training.gan import GAN  # noqa: E402

LATENT, CLASSES, RES = 4, 3, 8


def build(acgan=False):
    keras.utils.set_random_seed(1)
    z = keras.Input((LATENT,), name="z")
    c = keras.Input((), dtype="int32", name="class_id")
    h = keras.layers.Concatenate()([z, keras.layers.Flatten()(keras.layers.Embedding(CLASSES, 3)(c))])
    h = keras.layers.Dense(16, activation="relu")(h)
    x = keras.layers.Reshape((RES, RES, 1))(keras.layers.Dense(RES * RES, activation="tanh")(h))
    g = keras.Model([z, c], x, name="g")
    img = keras.Input((RES, RES, 1), name="images")
    c2 = keras.Input((), dtype="int32", name="class_id")
    f = keras.layers.Dense(8, activation="leaky_relu")(keras.layers.Flatten()(img))
    proj = keras.layers.Dot(axes=1)([f, keras.layers.Flatten()(keras.layers.Embedding(CLASSES, 8)(c2))])
    out = keras.layers.Add()([keras.layers.Dense(1)(f), proj])
    d = keras.Model([img, c2], out, name="d")
    if acgan:  # ProGAN's AC-GAN discriminator: no class input, a score and class logits
        d = keras.Model(img, {"score": keras.layers.Dense(1)(f),
                              "class_logits": keras.layers.Dense(CLASSES)(f)}, name="d")
        d.takes_labels, d.auxiliary_classes = False, True
    return g, d


def run(strategy, case):
    with strategy.scope():
        g, d = build(acgan=case.get("acgan", False))
        gan = GAN(g, d, latent_dim=LATENT, num_classes=CLASSES, seed=7)
        gan.compile(g_optimizer=keras.optimizers.SGD(0.05), d_optimizer=keras.optimizers.SGD(0.05),
                    loss=case["loss"], regularizers=case["regs"](), d_steps=case.get("d_steps", 1),
                    accumulation_steps=case.get("acc", 1), ema=EmaSchedule(beta=0.5),
                    augment=case.get("augment", ""))
    rng = np.random.default_rng(0)
    per_step = 8 * case.get("d_steps", 1)
    images = rng.uniform(-1, 1, (per_step * 2, RES, RES, 1)).astype("float32")
    labels = rng.integers(0, CLASSES, per_step * 2).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}).batch(
        per_step, drop_remainder=True)
    initial = [w.numpy() for w in (*g.weights, *d.weights)]
    hist = gan.fit(ds, epochs=1, verbose=0).history
    weights = [w.numpy() for w in (*g.weights, *d.weights, *gan.ema_generator.weights)]
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(initial, weights))
    return weights, {k: float(v[-1]) for k, v in hist.items()}, int(gan.images_seen.numpy()), moved


CASES = {
    "ns_r1_drift": {"loss": "ns", "regs": lambda: [R.R1(gamma=2.0), R.Drift(weight=0.1)]},
    "wgan_gp": {"loss": "wgan", "regs": lambda: [R.GradientPenalty(weight=10.0), R.Drift(weight=1e-3)]},
    "hinge_ortho": {"loss": "hinge", "regs": lambda: [R.OrthogonalRegularization(beta=0.01),
                                                      R.OrthogonalRegularization(beta=0.01, target="discriminator")]},
    "rahinge_ms": {"loss": "rahinge", "regs": lambda: [R.ModeSeeking(lam=0.1)]},
    "ns_dsteps2_acc2": {"loss": "ns", "regs": lambda: [R.R1(gamma=1.0)], "d_steps": 2, "acc": 2},
    # DiffAugment (Projected GAN): draws for the global batch, sliced per replica.
    "hinge_diffaugment_r1": {"loss": "hinge", "regs": lambda: [R.R1(gamma=1.0)],
                             "augment": "color,translation,cutout"},
    # ProGAN's conditional setup: WGAN-GP with an auxiliary classifier's label penalty.
    "wgan_gp_acgan": {"loss": "wgan", "acgan": True,
                      "regs": lambda: [R.GradientPenalty(weight=10.0), R.Drift(weight=1e-3),
                                       R.LabelPenalty(target="discriminator"),
                                       R.LabelPenalty(target="generator")]},
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    def gap(a, b):
        return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))

    for name in names:
        w1, log1, seen1, moved = run(one, CASES[name])
        w2, log2, seen2, _ = run(two, CASES[name])
        print(json.dumps({"case": name, "weight_gap": gap(w1, w2), "moved": moved,
                          "rerun_gap": gap(w1, run(one, CASES[name])[0]),
                          "log_gaps": {k: abs(log1[k] - log2[k]) for k in log1},
                          "logs": log1, "images_seen": [seen1, seen2]}), flush=True)
    # Gradient accumulation: 2 micro-batches of 4 == one batch of 8 (linear losses).
    base = {"loss": "ns", "regs": lambda: [R.R1(gamma=1.0), R.Drift(weight=0.1)]}
    w_big, log_big, _, _ = run(one, base)
    w_acc, log_acc, _, _ = run(one, {**base, "acc": 2})
    print(json.dumps({"case": "accumulation", "weight_gap": gap(w_big, w_acc),
                      "log_gaps": {k: abs(log_big[k] - log_acc[k]) for k in log_big}}), flush=True)
