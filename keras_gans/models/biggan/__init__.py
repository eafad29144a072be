from keras_gans.models.biggan.biggan_discriminator import BigGANDiscriminator
from keras_gans.models.biggan.biggan_generator import BigGANGenerator

__all__ = ["BigGANGenerator", "BigGANDiscriminator"]
