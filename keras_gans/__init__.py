"""keras-gans: GANs of five papers on Keras 3 / TensorFlow, from Beam-prepared data to TF Serving.

Importing the package is cheap: TensorFlow is imported only by the modules that need it
(``keras_gans.data``, the models, training), so Beam workers that only prepare data stay light.
"""

__version__ = "0.1.0"
