"""FastGAN generator blocks as used by Projected GAN (Sauer et al. 2021).

After autonomousvision/projected_gan ``pg_modules/blocks.py`` (itself after
odegeasslbc/FastGAN-pytorch ``models.py``), channels last:

- ``glu`` (blocks.py L37-42 ``GLU``): the first half of the channels gated by the sigmoid of
  the second half;
- ``FastGANInitLayer`` (L53-65 ``InitLayer``): spectrally normalized 4x4 transposed conv of the
  1x1 latent (no bias), batch norm, GLU;
- ``FastGANUpBlock``: ``UpBlockSmall`` (L68-73, ``lite``), ``UpBlockSmallCond`` (L76-93),
  ``UpBlockBig`` (L96-106) and ``UpBlockBigCond`` (L109-138) in one layer;
- ``FastGANSEBlock`` (L141-153 ``SEBlock``): skip-layer excitation.

Common to all of them (``torch.nn.utils.spectral_norm`` defaults, L11-24; ``nn.BatchNorm2d``
defaults, L27-31): one power iteration with norm floor ``sn_epsilon`` 1e-12; batch norm with
PyTorch momentum 0.1 (Keras ``momentum`` 0.9) and eps 1e-5. Initialization is PyTorch's
default (``torch_kernel_initializer``, ``torch_bias_initializer``): projected_gan never applies
the N(0, 0.02) ``weights_init`` of FastGAN-pytorch (train.py L209-213 builds the generator
through ``dnnlib`` with no init hook, and nothing in the repository calls an init function on
it). Batch norm is ``keras_gans.layers.BatchNorm``: one fused kernel, and the moving variance
takes the unbiased batch variance, as PyTorch's ``BatchNorm2d``.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_gans.layers.batch_norm import BatchNorm
from keras_gans.layers.conditional_batch_norm import ConditionalBatchNorm
from keras_gans.layers.spectral_normalization import SNConv2D, SNConv2DTranspose
from keras_gans.layers.stylegan import NoiseInjection

TORCH_SN_EPSILON = 1e-12   # torch.nn.utils.spectral_norm(eps=1e-12)
TORCH_BN_MOMENTUM = 0.9    # nn.BatchNorm2d(momentum=0.1), Keras convention
TORCH_BN_EPSILON = 1e-5    # nn.BatchNorm2d(eps=1e-5)


def torch_kernel_initializer():
    """PyTorch's default weight init of ``nn.Conv2d``, ``nn.ConvTranspose2d`` and ``nn.Linear``:
    ``kaiming_uniform_(a=sqrt(5))``, i.e. U(+-1/sqrt(fan_in)). Keras' fan-in of a kernel is the
    same number as PyTorch's (conv ``kh*kw*in``; transposed conv ``kh*kw*out``, PyTorch's
    ``weight.size(1) * kh * kw``; dense ``in``). A new instance per layer (an unseeded Keras
    initializer instance repeats its draws)."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in",
                                              distribution="uniform")


def torch_bias_initializer(fan_in: int):
    """PyTorch's default bias init of convs and linears: U(+-1/sqrt(fan_in))."""
    if int(fan_in) < 1:
        raise ValueError(f"fan_in must be >= 1, got {fan_in}")
    bound = 1.0 / math.sqrt(int(fan_in))
    return keras.initializers.RandomUniform(-bound, bound)


def glu(x):
    """Gated linear unit over the last axis (blocks.py L37-42): ``x[:C/2] * sigmoid(x[C/2:])``."""
    channels = x.shape[-1]
    if channels is None or channels % 2:
        raise ValueError(f"GLU needs an even, known channel count, got {channels}")
    # One split, not two slices: the gradient of a split is one concatenation, while each
    # slice's gradient writes a zero-filled tensor of the full input size (issue 16's profile of
    # the Projected GAN step: 4% of the op time in StridedSliceGrad).
    value, gate = ops.split(x, 2, axis=-1)
    return value * ops.sigmoid(gate)


def _check_positive(name, value):
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@keras.saving.register_keras_serializable("keras_gans")
class FastGANInitLayer(keras.layers.Layer):
    """``z`` [B, nz] -> [B, 4, 4, channels] (blocks.py L53-65 ``InitLayer``).

    The latent, viewed as a 1x1 image, goes through a spectrally normalized
    ``ConvTranspose2d(nz, 2 * channels, 4, 1, 0, bias=False)`` (``SNConv2DTranspose``, sigma of
    PyTorch's ``[out, in*4*4]`` matrix), batch norm over ``2 * channels`` and GLU. The official
    generator builds it with ``channel=nfc[2]`` (networks_fastgan.py L35).

    Args:
        channels: output channels (after the GLU).
        sn_epsilon: spectral-norm norm floor (PyTorch: 1e-12).
        bn_momentum, bn_epsilon: batch norm, Keras convention (0.9 = PyTorch 0.1; 1e-5).
    """

    def __init__(self, channels, sn_epsilon=TORCH_SN_EPSILON, bn_momentum=TORCH_BN_MOMENTUM,
                 bn_epsilon=TORCH_BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.channels = _check_positive("channels", channels)
        self.sn_epsilon = float(sn_epsilon)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.conv = SNConv2DTranspose(2 * self.channels, 4, strides=1, padding="valid",
                                      use_bias=False, epsilon=self.sn_epsilon,
                                      kernel_initializer=torch_kernel_initializer(),
                                      dtype=self.dtype_policy, name="conv")
        self.bn = BatchNorm(momentum=self.bn_momentum,
                                                  epsilon=self.bn_epsilon,
                                                  dtype=self.dtype_policy, name="bn")

    def build(self, input_shape):
        nz = input_shape[-1]
        if nz is None:
            raise ValueError("FastGANInitLayer needs a known latent size")
        self.conv.build((input_shape[0], 1, 1, int(nz)))
        self.bn.build((input_shape[0], 4, 4, 2 * self.channels))

    def call(self, z, training=None):
        x = ops.reshape(z, (-1, 1, 1, z.shape[-1]))
        x = self.conv(x, training=training)
        x = self.bn(x, training=training)
        return glu(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 4, 4, self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "sn_epsilon": self.sn_epsilon,
                "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon}


@keras.saving.register_keras_serializable("keras_gans")
class FastGANUpBlock(keras.layers.Layer):
    """One 2x up-sampling block of the FastGAN generator: [B, H, W, C_in] -> [B, 2H, 2W, filters].

    ``lite=False`` (``UpBlockBig``, blocks.py L96-106)::

        nearest 2x -> conv1 3x3 (2*filters) -> noise1 -> bn1 -> GLU
                   -> conv2 3x3 (2*filters) -> noise2 -> bn2 -> GLU

    ``lite=True`` (``UpBlockSmall``, L68-73): nearest 2x -> conv 3x3 (2*filters) -> bn -> GLU.
    The convolutions are spectrally normalized, padding 1, no bias (``conv2d(..., bias=False)``).
    The noise is ``NoiseInjection(per_channel=False)``: one scalar strength, zero-initialized,
    a [B, H, W, 1] N(0, 1) map (blocks.py L254-264).

    ``conditional=True`` (``UpBlockBigCond`` L109-138, ``UpBlockSmallCond`` L76-93): called as
    ``block([x, y])`` with ``y`` [B, D] (the generator's class embedding); every batch norm is a
    ``ConditionalBatchNorm`` (``CCBN``, L267-291: gain ``1 + linear(y)``, bias ``linear(y)``, the
    linears ``spectral_norm(nn.Linear)`` with bias, L23-24, L84, L118). As in the official
    ``UpBlockBigCond`` the two noise injections of a conditional big block share ONE strength
    (``self.noise`` is a single module applied twice, L122, L128, L134) and draw independent
    noise maps; at inference the second application reads this block's own fixed map
    ``fixed_noise_2`` (the first reads the noise layer's), so the two maps stay independent.

    Noise at inference: the official layer draws fresh noise in eval mode too; here, unless
    ``randomize_noise``, inference uses fixed noise maps (keras_gans' ``NoiseInjection``
    convention) so the generator and its exports are deterministic. Training always draws
    fresh noise.

    Sub-layer names follow the official attributes: ``conv1``, ``noise1``, ``bn1``, ``conv2``,
    ``noise2``, ``bn2`` (the ``nn.Sequential`` indices 1, 2, 3, 5, 6, 7 of ``UpBlockBig``);
    ``conv1``, ``conv2``, ``bn1``, ``bn2``, ``noise`` (``UpBlockBigCond``); ``conv``, ``bn``
    (lite).

    Args:
        filters: output channels (``out_planes``).
        lite: ``UpBlockSmall`` instead of ``UpBlockBig``.
        conditional: class-conditional batch norm (input ``[x, y]``).
        noise_seed: seed of the first noise layer (the second uses ``noise_seed + 1``);
            None = random.
        randomize_noise: fresh noise at inference too (the official behaviour).
        sn_epsilon, bn_momentum, bn_epsilon: as ``FastGANInitLayer``.
    """

    def __init__(self, filters, lite=False, conditional=False, noise_seed=None,
                 randomize_noise=False, sn_epsilon=TORCH_SN_EPSILON,
                 bn_momentum=TORCH_BN_MOMENTUM, bn_epsilon=TORCH_BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.lite = bool(lite)
        self.conditional = bool(conditional)
        self.noise_seed = None if noise_seed is None else int(noise_seed)
        self.randomize_noise = bool(randomize_noise)
        self.sn_epsilon = float(sn_epsilon)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.fixed_noise_2 = None
        width = 2 * self.filters
        seed2 = None if self.noise_seed is None else self.noise_seed + 1

        def conv(name, resample=None):
            return SNConv2D(width, 3, padding="same", use_bias=False, epsilon=self.sn_epsilon,
                            kernel_initializer=torch_kernel_initializer(), resample=resample,
                            dtype=self.dtype_policy, name=name)

        def norm(name):
            if self.conditional:
                # CCBN(output_size, input_size=z_dim, which_linear=linear); the linears' bias
                # initializer needs the embedding width, set in build().
                return ConditionalBatchNorm(
                    spectral_norm=True, momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                    sn_epsilon=self.sn_epsilon, kernel_initializer=torch_kernel_initializer(),
                    use_bias=True, dtype=self.dtype_policy, name=name)
            return BatchNorm(momentum=self.bn_momentum,
                                                   epsilon=self.bn_epsilon,
                                                   dtype=self.dtype_policy, name=name)

        def noise(name, seed):
            return NoiseInjection(seed=seed, randomize_at_inference=self.randomize_noise,
                                  per_channel=False, dtype=self.dtype_policy, name=name)

        # Created in the official attribute order (the order of the weights).
        # The block's nearest 2x upsampling (blocks.py ``UpBlockBig``/``UpBlockSmall``:
        # ``nn.Upsample`` then the first conv) is folded into that conv (SNConv2D
        # resample="up": the same values up to float32 summation order, less work and memory).
        if self.lite:
            self.conv = conv("conv", "up")
            self.bn = norm("bn")
        elif self.conditional:
            self.conv1 = conv("conv1", "up")
            self.conv2 = conv("conv2")
            self.bn1 = norm("bn1")
            self.bn2 = norm("bn2")
            self.noise = noise("noise", self.noise_seed)
        else:
            self.conv1 = conv("conv1", "up")
            self.noise1 = noise("noise1", self.noise_seed)
            self.bn1 = norm("bn1")
            self.conv2 = conv("conv2")
            self.noise2 = noise("noise2", seed2)
            self.bn2 = norm("bn2")

    def _norms(self):
        return [self.bn] if self.lite else [self.bn1, self.bn2]

    def build(self, input_shape):
        if self.conditional:
            if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
                    and isinstance(input_shape[0], (list, tuple))):
                raise ValueError("a conditional FastGANUpBlock is called on [x, y]")
            x_shape, y_shape = tuple(input_shape[0]), tuple(input_shape[1])
            if y_shape[-1] is None:
                raise ValueError("FastGANUpBlock needs a known embedding width")
            for bn in self._norms():  # nn.Linear(z_dim, ...)'s default bias init
                bn.bias_initializer = torch_bias_initializer(int(y_shape[-1]))
        else:
            x_shape, y_shape = tuple(input_shape), None
        if x_shape[-1] is None or x_shape[1] is None or x_shape[2] is None:
            raise ValueError(f"FastGANUpBlock needs static H, W and channels, got {x_shape}")
        batch, width = x_shape[0], 2 * self.filters
        up = (batch, 2 * int(x_shape[1]), 2 * int(x_shape[2]))
        wide, narrow = up + (width,), up + (self.filters,)

        def build_norm(bn):
            bn.build([wide, y_shape] if self.conditional else wide)

        if self.lite:
            self.conv.build(x_shape)
            build_norm(self.bn)
            return
        self.conv1.build(x_shape)
        self.conv2.build(narrow)
        build_norm(self.bn1)
        build_norm(self.bn2)
        if self.conditional:
            self.noise.build(wide)
            if not self.randomize_noise:
                seed2 = None if self.noise_seed is None else self.noise_seed + 1
                self.fixed_noise_2 = self.add_weight(
                    name="fixed_noise_2", shape=(1, up[1], up[2], 1),
                    initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=seed2),
                    trainable=False)
        else:
            self.noise1.build(wide)
            self.noise2.build(wide)

    def _norm(self, bn, x, y, training):
        return bn([x, y], training=training) if self.conditional else bn(x, training=training)

    def call(self, inputs, training=None):
        if self.conditional:
            x, y = inputs
        else:
            x, y = inputs, None
        if self.lite:
            return glu(self._norm(self.bn, self.conv(x, training=training), y, training))
        x = self.conv1(x, training=training)
        if self.conditional:
            x = self.noise(x, training=training)
        else:
            x = self.noise1(x, training=training)
        x = glu(self._norm(self.bn1, x, y, training))
        x = self.conv2(x, training=training)
        if self.conditional:
            second = None if (training or self.fixed_noise_2 is None) else self.fixed_noise_2
            x = self.noise(x, noise=second, training=training)
        else:
            x = self.noise2(x, training=training)
        return glu(self._norm(self.bn2, x, y, training))

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0] if self.conditional else input_shape
        grow = lambda s: None if s is None else 2 * s  # noqa: E731
        return (x_shape[0], grow(x_shape[1]), grow(x_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "lite": self.lite,
                "conditional": self.conditional, "noise_seed": self.noise_seed,
                "randomize_noise": self.randomize_noise, "sn_epsilon": self.sn_epsilon,
                "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon}


@keras.saving.register_keras_serializable("keras_gans")
class FastGANSEBlock(keras.layers.Layer):
    """Skip-layer excitation (blocks.py L141-153 ``SEBlock``): ``block([feat_small, feat_big])``
    returns ``feat_big * gate(feat_small)`` with::

        gate = sigmoid(conv1x1(swish(conv4x4_valid(adaptive_avg_pool_4x4(feat_small)))))

    both convolutions spectrally normalized without bias, ``filters`` (= ``feat_big``'s
    channels) outputs; the gate is [B, 1, 1, filters], one weight per channel of the big map.
    ``AdaptiveAvgPool2d(4)`` is computed as the mean over equal bins, so the small map's side
    must be a multiple of 4 (always the case in the generator: 4, 8, 16, 32).

    Args:
        filters: channels of ``feat_big`` (``ch_out``).
        sn_epsilon: spectral-norm norm floor (PyTorch: 1e-12).
    """

    def __init__(self, filters, sn_epsilon=TORCH_SN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.sn_epsilon = float(sn_epsilon)
        kw = dict(use_bias=False, epsilon=self.sn_epsilon, dtype=self.dtype_policy)
        self.conv1 = SNConv2D(self.filters, 4, padding="valid",
                              kernel_initializer=torch_kernel_initializer(), name="conv1", **kw)
        self.conv2 = SNConv2D(self.filters, 1, padding="valid",
                              kernel_initializer=torch_kernel_initializer(), name="conv2", **kw)

    def build(self, input_shape):
        small, big = (tuple(s) for s in input_shape)
        if small[-1] is None or big[-1] is None:
            raise ValueError("FastGANSEBlock needs known channel counts")
        if int(big[-1]) != self.filters:
            raise ValueError(f"FastGANSEBlock({self.filters}) got a big map with {big[-1]} "
                             f"channels")
        for side in small[1:3]:
            if side is None or int(side) % 4:
                raise ValueError(f"FastGANSEBlock pools the small map to 4x4 in equal bins: "
                                 f"its side must be a known multiple of 4, got {small}")
        self.conv1.build((small[0], 4, 4, int(small[-1])))
        self.conv2.build((small[0], 1, 1, self.filters))

    def call(self, inputs, training=None):
        small, big = inputs
        h, w, c = small.shape[1], small.shape[2], small.shape[3]
        pooled = ops.mean(ops.reshape(small, (-1, 4, h // 4, 4, w // 4, c)), axis=(2, 4))
        gate = ops.silu(self.conv1(pooled, training=training))  # Swish, blocks.py L45-47
        gate = ops.sigmoid(self.conv2(gate, training=training))
        return big * ops.cast(gate, big.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "sn_epsilon": self.sn_epsilon}
