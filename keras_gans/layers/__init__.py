"""Layers shared by the model families (backend-agnostic: keras.layers / keras.ops only)."""

from keras_gans.layers.conditional_batch_norm import ConditionalBatchNorm
from keras_gans.layers.global_sum_pooling import GlobalSumPooling2D
from keras_gans.layers.self_attention import SelfAttention
from keras_gans.layers.spectral_normalization import SNConv2D, SNDense, SNEmbedding

__all__ = ["ConditionalBatchNorm", "GlobalSumPooling2D", "SelfAttention", "SNConv2D", "SNDense",
           "SNEmbedding"]
