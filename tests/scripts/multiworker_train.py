"""One worker (or a single process) of a tiny distributed training run; used by test_distribute.

    python multiworker_train.py DATA_DIR RUNS_DIR OUT_JSON [KEY=VALUE ...] [--resume=RUN_DIR]

Trains the ``dcgan-mnist32`` preset with the given config overrides through
``keras_gans.training.loop.train`` (the strategy comes from ``TF_CONFIG`` / ``replicas`` exactly as
for ``keras-gans train``), then writes OUT_JSON: the run directory, the strategy, whether this
process is the chief, the images seen, the log lines, SHA-256 hashes of the final trainable
weights of G, the EMA generator and D (to compare workers bit for bit), one hash per
non-trainable weight (BatchNorm moving statistics), and on the chief the hash of G's trainable
weights restored from the run's last checkpoint by ``ckpt_lib.restore_gan``. With several replicas it
also lists the record keys this process reads from the first batches of the distributed training
stream (``load_dataset(strategy=...)``, as ``train`` builds it), to check per-worker sharding.
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
import tensorflow as tf  # noqa: E402

from keras_gans import data as data_lib  # noqa: E402
from keras_gans.training import config as config_lib, distribute, checkpoint as ckpt_lib, loop  # noqa: E402

keras.config.disable_traceback_filtering()


def _digest(value) -> str:
    value = np.ascontiguousarray(np.asarray(value))
    return hashlib.sha256(str(value.dtype).encode() + str(value.shape).encode() + value.tobytes()).hexdigest()


def weights_hash(weights) -> str:
    h = hashlib.sha256()
    for w in weights:
        h.update(_digest(w.numpy()).encode())
    return h.hexdigest()


def main(argv):
    data_dir, runs_dir, out_path, *overrides = argv
    resume = [a.split("=", 1)[1] for a in overrides if a.startswith("--resume=")]
    overrides = [a for a in overrides if not a.startswith("--resume=")]
    config = config_lib.resolve("dcgan-mnist32", overrides)
    built = {}
    build_gan = ckpt_lib.build_gan

    def capturing_build_gan(config, manifest, strategy, **kwargs):
        gan, nets = build_gan(config, manifest, strategy, **kwargs)
        built.setdefault("gan", gan)
        built.setdefault("strategy", strategy)
        return gan, nets

    ckpt_lib.build_gan = capturing_build_gan  # train() looks build_gan up in its module
    lines = []

    def log(*parts):
        line = " ".join(str(p) for p in parts)
        lines.append(line)
        print(line, flush=True)

    run_dir = loop.train(config, data_dir, runs_dir=runs_dir, resume=resume[-1] if resume else None,
                         log=log)
    ckpt_lib.build_gan = build_gan
    gan, strategy = built["gan"], built["strategy"]
    chief = distribute.is_chief(strategy)
    result = {
        "run_dir": run_dir,
        "run_dir_exists": os.path.exists(run_dir),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "chief": chief,
        "images_seen": int(gan.images_seen.numpy()),
        "generator": weights_hash(gan.generator.trainable_weights),
        # the EMA copies of G's trainable weights (the EMA model itself is not trainable)
        "ema_generator": weights_hash([e for e, g in zip(gan.ema_generator.weights, gan.generator.weights)
                                       if g.trainable]),
        "discriminator": weights_hash(gan.discriminator.trainable_weights),
        "non_trainable": {f"{m.name}/{w.path}": _digest(w.numpy())
                          for m in (gan.generator, gan.discriminator) for w in m.non_trainable_weights},
        "log": lines,
    }
    if strategy.num_replicas_in_sync > 1:
        with distribute.static_batches(strategy):
            stream = iter(data_lib.load_dataset(data_dir, "train", config.batch, strategy=strategy,
                                                seed=config.seed, with_keys=True))
        keys = []
        for _ in range(8):
            batch = next(stream)
            for local in strategy.experimental_local_results(batch["key"]):
                keys += [k.decode() for k in local.numpy()]
        result["keys"] = keys
    if chief:
        restored, _ = ckpt_lib.restore_gan(run_dir, strategy=tf.distribute.get_strategy())
        result["checkpoint_generator"] = weights_hash(restored.generator.trainable_weights)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
