"""Choosing the tf.distribute strategy, and what can run under it.

- ``TF_CONFIG`` naming several workers -> ``MultiWorkerMirroredStrategy`` (collective all-reduce
  over the network; each worker runs the same command).
- several GPUs -> ``MirroredStrategy`` over all of them; one GPU -> ``OneDeviceStrategy``.
- CPU only -> the default strategy, or with ``replicas=N`` a ``MirroredStrategy`` over N logical
  CPU devices (how tests and benchmarks exercise the multi-replica code without GPUs). The
  logical devices must be configured before TensorFlow initialises its devices.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from keras_gans.errors import UsageError


def _tf_config_workers() -> int:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except ValueError as e:
        raise UsageError(f"TF_CONFIG is not valid JSON: {e}") from e
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))


def make_strategy(replicas: int = 0) -> tf.distribute.Strategy:
    """The strategy for this machine (see the module docstring)."""
    if _tf_config_workers() > 1:
        if replicas:
            raise UsageError("replicas applies to a single machine; with TF_CONFIG each worker "
                             "uses its own GPUs")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if replicas and replicas != len(gpus):
            raise UsageError(f"replicas={replicas} but this machine has {len(gpus)} GPUs; use 0 (all)")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    if replicas > 1:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * replicas)
        except RuntimeError as e:
            existing = tf.config.list_logical_devices("CPU")
            if len(existing) != replicas:
                raise UsageError(
                    f"cannot split the CPU into {replicas} devices after TensorFlow started "
                    f"({len(existing)} exist); set replicas before any TensorFlow work") from e
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:replicas]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes checkpoints, logs and samples (worker 0 / the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def describe(strategy: tf.distribute.Strategy) -> str:
    n = strategy.num_replicas_in_sync
    name = type(strategy).__name__
    if name == "_DefaultDistributionStrategy":
        name = "default strategy"
    try:
        devices = strategy.extended.worker_devices
    except (RuntimeError, AttributeError):  # the default strategy has none
        devices = ()
    return f"{name}, {n} replica(s)" + (f" on {', '.join(devices)}" if devices else "")


def xla_supported(strategy: tf.distribute.Strategy) -> tuple[bool, str]:
    """XLA + a multi-replica strategy on CPU fails (DESIGN.md 3): detect instead of crashing."""
    if strategy.num_replicas_in_sync > 1 and not tf.config.list_physical_devices("GPU"):
        return False, ("XLA is off: jit_compile under a multi-replica strategy fails on CPU "
                       "(resources placed on one CPU device are read from another)")
    return True, ""
