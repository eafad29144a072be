"""Apache Beam pipelines: raw image sets -> validated, resized, sharded TFRecords + dataset.json.

``pipelines.prepare.run(argv)`` is the entry point behind ``keras-gans prepare``. Workers import
only Pillow, NumPy and Beam (never TensorFlow) unless the source is a TFDS dataset.
"""
