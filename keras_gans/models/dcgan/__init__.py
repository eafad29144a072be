from keras_gans.models.dcgan.dcgan_discriminator import DCGANDiscriminator
from keras_gans.models.dcgan.dcgan_generator import DCGANGenerator

__all__ = ["DCGANGenerator", "DCGANDiscriminator"]
