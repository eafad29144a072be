"""Architectures: each family package holds its generator / discriminator, its builder and its
presets (plain data), and registers them into ``keras_gans.models.registry`` when imported.

Adding a family is one line here (below) plus its package; nothing else lists families.
"""

from keras_gans.models import biggan, dcgan, msggan, pix2pix, progan, projected  # noqa: F401 - register
