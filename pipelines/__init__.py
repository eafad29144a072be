"""Apache Beam pipelines: raw image sets -> validated, resized, sharded TFRecords + dataset.json.

``pipelines.prepare.prepare(PrepareOptions(...), beam_args)`` is what ``keras-gans prepare`` runs. Workers import
only Pillow, NumPy and Beam (never TensorFlow) unless the source is a TFDS dataset.
"""
