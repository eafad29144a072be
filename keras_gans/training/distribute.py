"""Choosing the tf.distribute strategy, and what can run under it.

- ``TF_CONFIG`` naming several workers -> ``MultiWorkerMirroredStrategy`` (collective all-reduce
  over the network; each worker runs the same command).
- several GPUs -> ``MirroredStrategy`` over all of them; one GPU -> ``OneDeviceStrategy``.
- CPU only -> the default strategy, or with ``replicas=N`` a ``MirroredStrategy`` over N logical
  CPU devices (how tests and benchmarks exercise the multi-replica code without GPUs). The
  logical devices must be configured before TensorFlow initialises its devices.

Multi-worker runs (``train()`` does all of this): every worker runs the same program, so every
collective (each training step; ``CheckpointManager.save``, which all workers call) runs on all of
them, but only the chief (``is_chief``) writes the run directory, TensorBoard and samples; the
others save into a private temporary directory. Each worker reads its own input pipeline (file-level
sharding by ``load_dataset``: prepare at least as many shards as workers). Keras 3's ``fit`` needs
two fixes to run under that strategy (``patch_keras_for_strategy``) and the training stream must
keep a static batch shape (``static_batches``). Trainable weights, optimizer state and EMA stay
identical on all workers; BatchNorm moving statistics do not: Keras 3 keeps them per replica
(unsynchronised ``MirroredVariable`` updates, as with ``MirroredStrategy`` on one machine), and the
chief's checkpoint holds the chief's.
"""

from __future__ import annotations

import contextlib
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
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        patch_keras_for_strategy(strategy)
        return strategy
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
    if is_multi_worker(strategy):
        resolver = strategy.cluster_resolver
        name = (f"MultiWorkerMirroredStrategy over {strategy.extended._num_workers} workers "
                f"(this is {resolver.task_type} {resolver.task_id})")
    try:
        devices = strategy.extended.worker_devices
    except (RuntimeError, AttributeError):  # the default strategy has none
        devices = ()
    return f"{name}, {n} replica(s)" + (f" on {', '.join(devices)}" if devices else "")


def xla_supported(strategy: tf.distribute.Strategy) -> tuple[bool, str]:
    """XLA + a multi-replica strategy on CPU fails ("Trying to access resource ... located in
    device CPU:1 from device CPU:0", TF 2.21): detect it instead of crashing."""
    if strategy.num_replicas_in_sync > 1 and not tf.config.list_physical_devices("GPU"):
        return False, ("XLA is off: jit_compile under a multi-replica strategy fails on CPU "
                       "(resources placed on one CPU device are read from another)")
    return True, ""


def bfloat16_hint(mixed_precision: str, cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """A one-line suggestion to train in bfloat16, or None.

    Given when the run is float32, no GPU is visible and the CPU has bfloat16 instructions
    (``avx512_bf16`` or ``amx_bf16`` in ``cpuinfo``'s flags): there oneDNN runs bfloat16
    convolutions about twice as fast as float32 ones, which already reach the float32 peak
    (issue 16's measurements, README "Benchmarks").
    """
    if mixed_precision != "none" or tf.config.list_physical_devices("GPU"):
        return None
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    if not {"avx512_bf16", "amx_bf16"} & set(flags):
        return None
    return ("this CPU has bfloat16 instructions: --mixed-precision bfloat16 ran the BigGAN, "
            "BMSG-GAN and Projected GAN steps 1.5-1.9x faster on such a CPU, with bfloat16's "
            "rounding (README: Benchmarks)")


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether the strategy spans several processes (``MultiWorkerMirroredStrategy`` over a cluster)."""
    return bool(getattr(strategy.extended, "_num_workers", 1) > 1)


def _first_local_value(strategy, value):
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def patch_keras_for_strategy(strategy: tf.distribute.Strategy) -> None:
    """Make Keras 3's ``fit`` work under a multi-worker ``MultiWorkerMirroredStrategy``
    (idempotent; a no-op for any other strategy). Two Keras 3.15 bugs (keras-team/keras#20585,
    #20329), patched on ``keras.src.backend.tensorflow.trainer``:

    - ``fit`` first takes one batch and calls ``strategy.reduce("MEAN", batch)`` on the whole
      structure, only to learn its shapes for building unbuilt models. ``MirroredStrategy`` maps
      that over a nest; the multi-worker strategy accepts one tensor only and fails with "Attempt
      to convert a value ({'image': PerReplica:{...}}) with an unsupported type (<class 'dict'>)
      to a Tensor". Patched: use this worker's first replica's batch (same per-replica shapes,
      and no cross-worker all-reduce of a data batch).
    - the train step's logs are reduced with ``strategy.reduce("MEAN", v, axis=0)`` in multi-worker
      mode, which fails for scalars ("Invalid reduction dimension 0 for input with 0
      dimensions"). Patched: rank-0 values are averaged across replicas (``axis=None``), which is
      what the single-worker path computes; other values go through Keras unchanged.
    """
    if not is_multi_worker(strategy):
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_keras_gans_multi_worker_patch", False):
        return

    def multi_worker(s):
        return s is not None and is_multi_worker(s)

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        s = self._distribute_strategy
        if iterator is None or not multi_worker(s):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            data_batch = tf.nest.map_structure(lambda v: _first_local_value(s, v), next(it))
            break
        with s.scope():
            self._symbolic_build(data_batch=data_batch)

    original_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not multi_worker(strategy):
            return original_reduce(values, strategy, reduction)

        def reduce_one(v):
            if _first_local_value(strategy, v).shape.rank == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return original_reduce(v, strategy, reduction)

        return tf.nest.map_structure(reduce_one, values)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer._keras_gans_multi_worker_patch = True


@contextlib.contextmanager
def static_batches(strategy: tf.distribute.Strategy):
    """Distributed datasets made inside this block keep their static batch shape under a
    multi-worker strategy (a no-op for other strategies). For infinite training streams only.

    In multi-worker mode ``tf.distribute`` turns on "partial batch handling" (``get_next`` through
    an optional, so that a worker that runs out of data first feeds an empty dummy batch) for every
    dataset whose cardinality is not known to be infinite, and that erases the batch dimension of
    the elements (``None``), which the GAN train step needs static. ``load_dataset(repeat=True)``
    never ends but reports an unknown cardinality (``range().flat_map()``). The setting is read
    when the distributed dataset is built, so only datasets made inside the block are affected.
    """
    extended = strategy.extended
    if not is_multi_worker(strategy):
        yield
        return
    missing = object()
    saved = getattr(extended, "enable_partial_batch_handling", missing)
    extended.enable_partial_batch_handling = False
    try:
        yield
    finally:
        if saved is missing:
            del extended.enable_partial_batch_handling
        else:
            extended.enable_partial_batch_handling = saved
