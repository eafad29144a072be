"""One worker (or a single process) of a tiny distributed training run; used by test_distribute.

    python multiworker_train.py DATA_DIR RUNS_DIR OUT_JSON [KEY=VALUE ...]

Trains the ``dcgan-mnist32`` preset with the given config overrides through
``keras_gans.training.loop.train`` (the strategy comes from ``TF_CONFIG`` / ``replicas`` exactly as
for ``keras-gans train``), then writes OUT_JSON: the run directory, the strategy, whether this
process is the chief, the images seen, the log lines, and a SHA-256 of the final generator, EMA
generator and discriminator weights so that the test can compare workers bit for bit.
Run with CUDA_VISIBLE_DEVICES="" so that it stays on the CPU.
"""

import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import numpy as np  # noqa: E402

keras.config.disable_traceback_filtering()

from keras_gans.training import config as config_lib, distribute, loop  # noqa: E402


def weights_hash(model) -> str:
    h = hashlib.sha256()
    for w in model.weights:
        value = np.ascontiguousarray(np.asarray(w.numpy()))
        h.update(w.path.encode() + str(value.dtype).encode() + str(value.shape).encode())
        h.update(value.tobytes())
    return h.hexdigest()


def main(argv):
    data_dir, runs_dir, out_path, *overrides = argv
    config = config_lib.resolve("dcgan-mnist32", overrides)
    built = {}
    build_gan = loop.build_gan

    def capturing_build_gan(config, manifest, strategy):
        gan, nets = build_gan(config, manifest, strategy)
        built["gan"], built["strategy"] = gan, strategy
        return gan, nets

    loop.build_gan = capturing_build_gan  # train() looks build_gan up in its module
    lines = []

    def log(*parts):
        line = " ".join(str(p) for p in parts)
        lines.append(line)
        print(line, flush=True)

    run_dir = loop.train(config, data_dir, runs_dir=runs_dir, log=log)
    gan, strategy = built["gan"], built["strategy"]
    result = {
        "run_dir": run_dir,
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "chief": distribute.is_chief(strategy),
        "images_seen": int(gan.images_seen.numpy()),
        "generator": weights_hash(gan.generator),
        "ema_generator": weights_hash(gan.ema_generator) if gan.ema_generator is not None else None,
        "discriminator": weights_hash(gan.discriminator),
        "log": lines,
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    if os.environ.get("KERAS_GANS_DUMP_WEIGHTS"):
        np.savez(out_path + ".npz", **{f"{m.name}/{w.path}": np.asarray(w.numpy())
                                       for m in (gan.generator, gan.discriminator) for w in m.weights})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
