"""Layers shared by the model families (backend-agnostic: keras.layers / keras.ops only;
``diff_augment`` uses TensorFlow ops and its stateless RNG)."""

from keras_gans.layers.batch_norm import BatchNorm
from keras_gans.layers.conditional_batch_norm import ConditionalBatchNorm
from keras_gans.layers.diffaugment import DIFFAUGMENT_POLICIES, diff_augment
from keras_gans.layers.fastgan import FastGANInitLayer, FastGANSEBlock, FastGANUpBlock
from keras_gans.layers.global_sum_pooling import GlobalSumPooling2D
from keras_gans.layers.progan import (Downsample, EqualizedConv2D, EqualizedDense, FadeIn, FromRGB,
                                      MinibatchStdDev, PixelNorm, ToRGB, Upsample)
from keras_gans.layers.self_attention import SelfAttention
from keras_gans.layers.spectral_normalization import (SNConv2D, SNConv2DTranspose,
                                                       SNDepthwiseConv2D, SNDense, SNEmbedding)
from keras_gans.layers.stylegan import (Bias, Blur2D, ConstantInput, DlatentAverage, InstanceNorm,
                                        NoiseInjection, StyleMod)
from keras_gans.layers.stylegan2 import (FIRUpsample2D, FullyConnected, MappingNetwork,
                                         ModulatedConv2D, ModulatedToRGB, StyleGAN2Noise,
                                         SynthesisBlock, modulated_conv2d)

__all__ = ["BatchNorm", "Bias", "Blur2D", "ConditionalBatchNorm", "ConstantInput", "DIFFAUGMENT_POLICIES",
           "DlatentAverage", "Downsample", "EqualizedConv2D", "EqualizedDense", "FadeIn",
           "FastGANInitLayer", "FastGANSEBlock", "FastGANUpBlock", "FIRUpsample2D", "FromRGB",
           "FullyConnected", "GlobalSumPooling2D", "InstanceNorm", "MappingNetwork",
           "MinibatchStdDev", "ModulatedConv2D", "ModulatedToRGB", "NoiseInjection", "PixelNorm",
           "SelfAttention", "SNConv2D", "SNConv2DTranspose", "SNDense", "SNDepthwiseConv2D",
           "SNEmbedding", "StyleGAN2Noise", "StyleMod", "SynthesisBlock", "ToRGB", "Upsample",
           "diff_augment", "modulated_conv2d"]
