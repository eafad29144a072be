"""StyleGAN2 building blocks (Karras et al., "Analyzing and Improving the Image Quality of
StyleGAN", CVPR 2020), as the StyleGAN2 generator of Projected GAN builds them.

After autonomousvision/projected_gan ``pg_modules/networks_stylegan2.py`` (NVlabs'
stylegan2-ada-pytorch / stylegan3 ``networks_stylegan2.py``) and its ``torch_utils/ops``
reference implementations (``upfirdn2d._upfirdn2d_ref``, ``conv2d_resample``,
``bias_act._bias_act_ref``). Channels last (the official code is NCHW); keras.ops only. Written
from the equations, not from the code: the docstrings cite the official lines each piece matches.

- ``setup_filter`` / ``upfirdn2d`` / ``upsample2d`` and the ``FIRUpsample2D`` layer: FIR
  resampling (upfirdn2d.py L70-114 ``setup_filter``, L167-211 ``_upfirdn2d_ref``, L339-348
  ``upsample2d``);
- ``modulated_conv2d``: modulation, convolution (optionally 2x up-sampling with the FIR filter)
  and demodulation, in the official two formulations (networks_stylegan2.py L26-84): activations
  scaled before and after a shared convolution (``fused=False``, what training runs with
  ``fused_modconv_default='inference_only'``, train.py L206) or one grouped convolution with
  per-example weights (``fused=True``);
- ``FullyConnected``: ``FullyConnectedLayer`` (L87-122), equalized learning rate with
  ``lr_multiplier`` and the activation gain after the activation;
- ``MappingNetwork``: ``MappingNetwork`` (L182-261) with the ``w_avg`` tracking and truncation
  (``keras_gans.layers.stylegan.DlatentAverage``);
- ``StyleGAN2Noise``: per-pixel noise with one learned strength (L295-310);
- ``ModulatedConv2D``: ``SynthesisLayer`` (L264-324): affine style, modulated conv, noise, bias,
  leaky ReLU times sqrt(2), conv clamp;
- ``ModulatedToRGB``: ``ToRGBLayer`` (L327-348): 1x1 modulated conv without demodulation;
- ``SynthesisBlock``: ``SynthesisBlock`` (L351-451) with the 'skip' architecture: the learned
  constant (first block) or an up-sampling conv, a conv, and ToRGB added to the FIR-up-sampled
  image of the previous block.

Mixed precision: the official network runs its 4 highest resolutions in float16 on a GPU
(``num_fp16_res=4``, L462), with the fp16 pre-normalization of L46-49 and the conv clamp 256
(L362) against overflow. Here everything runs in float32 (the official code does too on a CPU:
L408-409 ``force_fp32``); the clamp is kept (it is on in the official default training, which
only ``--fp32`` turns off, train.py L224-226).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_gans.layers.stylegan import DlatentAverage, NoiseInjection

SQRT2 = math.sqrt(2.0)
DEFAULT_FILTER = (1, 3, 3, 1)  # resample_filter of SynthesisBlock / SynthesisLayer (L361, L275)


# --- FIR resampling ------------------------------------------------------------------------
def setup_filter(taps=DEFAULT_FILTER, normalize=True) -> np.ndarray:
    """2-D FIR filter from 1-D taps: the outer product, divided by its sum when ``normalize``
    (upfirdn2d.py L70-114 for a 1-D filter of fewer than 8 taps, which is made 2-D, L101-104)."""
    f = np.asarray(taps, dtype="float64").reshape(-1)
    if f.size < 1:
        raise ValueError("setup_filter needs at least one tap")
    f = np.outer(f, f)
    if normalize:
        if f.sum() == 0:
            raise ValueError(f"the filter {list(taps)} sums to 0 and cannot be normalized")
        f = f / f.sum()
    return f.astype("float32")


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0), gain=1.0):
    """Upsample (zero insertion), pad, FIR filter, downsample: ``_upfirdn2d_ref``
    (upfirdn2d.py L167-211) on NHWC.

    ``x`` [B, H, W, C] with static H, W, C; ``f`` a 2-D filter (``setup_filter``); ``padding``
    ``(before, after)`` on both spatial axes, negative values crop; the filter is multiplied by
    ``gain`` and convolved (flipped, then cross-correlated: L198-199), per channel.
    """
    f = np.asarray(f, dtype="float32")
    _, h, w, c = (int(d) if d is not None else None for d in x.shape)
    if None in (h, w, c):
        raise ValueError(f"upfirdn2d needs static H, W and C, got {x.shape}")
    if up > 1:
        x = ops.reshape(x, (-1, h, 1, w, 1, c))
        x = ops.pad(x, [[0, 0], [0, 0], [0, up - 1], [0, 0], [0, up - 1], [0, 0]])
        h, w = h * up, w * up
        x = ops.reshape(x, (-1, h, w, c))
    p0, p1 = (int(p) for p in padding)
    x = ops.pad(x, [[0, 0], [max(p0, 0), max(p1, 0)], [max(p0, 0), max(p1, 0)], [0, 0]])
    if p0 < 0 or p1 < 0:
        hh, ww = h + max(p0, 0) + max(p1, 0), w + max(p0, 0) + max(p1, 0)
        x = x[:, max(-p0, 0):hh - max(-p1, 0), max(-p0, 0):ww - max(-p1, 0), :]
    kernel = (f * np.float32(gain))[::-1, ::-1]
    kernel = np.tile(kernel[:, :, None, None], (1, 1, c, 1)).astype("float32")
    y = ops.depthwise_conv(x, ops.cast(kernel, x.dtype), strides=1, padding="valid")
    if down > 1:
        y = y[:, ::down, ::down, :]
    return y


def upsample2d(x, f, up=2):
    """``upfirdn2d.upsample2d`` (L339-348): zero insertion, padding ``((fw + up - 1) // 2,
    (fw - up) // 2)``, the filter with gain ``up**2``: the output is ``up`` times larger."""
    fw = int(np.asarray(f).shape[-1])
    return upfirdn2d(x, f, up=up, padding=((fw + up - 1) // 2, (fw - up) // 2), gain=up * up)


@keras.saving.register_keras_serializable("keras_gans")
class FIRUpsample2D(keras.layers.Layer):
    """2x FIR up-sampling of an NHWC image (``upfirdn2d.upsample2d`` with ``setup_filter(taps)``:
    StyleGAN2's skip-architecture image path, networks_stylegan2.py L440).

    Args:
        filter: 1-D taps (StyleGAN2: [1, 3, 3, 1]).
    """

    def __init__(self, filter=DEFAULT_FILTER, **kwargs):  # noqa: A002 (official name)
        super().__init__(**kwargs)
        self.filter = [float(v) for v in np.asarray(filter, dtype="float64").reshape(-1)]
        self._f = setup_filter(self.filter)

    def call(self, x):
        return upsample2d(x, self._f)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, c)

    def get_config(self):
        return {**super().get_config(), "filter": list(self.filter)}


# --- modulated convolution -----------------------------------------------------------------
def _demodulation(kernel, styles):
    """``rsqrt(sum_{kh,kw,i} (kernel * style_i)^2 + 1e-8)`` per example and output channel
    (L58) as ``styles^2 @ sum_{kh,kw} kernel^2``: [B, O]."""
    k2 = ops.sum(ops.square(kernel), axis=(0, 1))  # [I, O]
    return ops.rsqrt(ops.matmul(ops.square(styles), k2) + 1e-8)


def _conv_up2(x, kernel, f, padding):
    """``conv2d_resample(x, w, f, up=2, padding=p)`` with ``flip_weight=False`` (L312-314:
    SynthesisLayer uses ``flip_weight = (up == 1)``): a stride-2 transposed convolution
    (conv2d_resample.py L127-141: the weight is not flipped, i.e. the adjoint of a
    cross-correlation, which is what ``ops.conv_transpose`` computes) followed by the FIR filter
    with gain 4 and the remaining padding."""
    k = int(kernel.shape[0])
    fw = int(np.asarray(f).shape[-1])
    p0 = padding + (fw + 1) // 2 - (k - 1)
    p1 = padding + (fw - 2) // 2 - (k - 2)
    pt = max(min(-p0, -p1), 0)
    if pt:
        raise ValueError("transposed-conv padding is not needed by StyleGAN2 (kernel <= 3)")
    y = ops.conv_transpose(x, ops.transpose(kernel, (0, 1, 3, 2)), strides=2, padding="valid")
    return upfirdn2d(y, f, padding=(p0, p1), gain=4)


def _conv_up2_fir_first(x, kernel, f, padding):
    """The same up-sampling convolution written as FIR up-sampling then a convolution (both
    linear and shift-invariant, so they commute): used by the grouped formulation (there is no
    grouped transposed convolution). The FIR padding is the ``_conv_up2`` one plus the kernel's
    reach, ``k - 1`` before and ``k - 2`` after (the zero insertion leaves a trailing zero row
    that the transposed convolution's input does not have)."""
    fw = int(np.asarray(f).shape[-1])
    x = upfirdn2d(x, f, up=2, padding=(padding + (fw + 1) // 2, padding + (fw - 2) // 2), gain=4)
    # a transposed conv with the unflipped kernel == a convolution == a cross-correlation with
    # the flipped kernel
    return ops.conv(x, kernel[::-1, ::-1], strides=1, padding="valid")


def modulated_conv2d(x, kernel, styles, demodulate=True, up=1, resample_filter=None,
                     fused=False):
    """StyleGAN2's modulated convolution (networks_stylegan2.py L26-84) on NHWC.

    ``x`` [B, H, W, I], ``kernel`` [k, k, I, O] (the official ``weight`` [O, I, k, k]), ``styles``
    [B, I]. With per-example weights ``w_b = kernel * styles_b`` (over I, L55-56) and, when
    ``demodulate``, ``d_bo = rsqrt(sum_{k,k,I} w_b^2 + 1e-8)`` (L58), the output is the
    'same'-padded cross-correlation of ``x_b`` with ``w_b * d_b`` (``padding = k // 2``, L289).

    ``fused=False`` (L63-72): ``(conv(x * styles, kernel)) * d``, one convolution shared by the
    batch; ``fused=True`` (L74-84): the per-example weights in one grouped convolution over the
    batch folded into channels (needs a static batch size; TensorFlow runs grouped convolutions
    on a CPU through XLA). Both are the same function; the official training uses the first,
    its inference the second (``fused_modconv_default='inference_only'``, train.py L206,
    networks_stylegan2.py L414-415).

    ``up=2``: a 2x up-sampling convolution with ``resample_filter`` (``conv2d_resample``). The
    noise, bias and activation are added by the caller (``ModulatedConv2D``).
    """
    if up not in (1, 2):
        raise ValueError(f"up must be 1 or 2, got {up}")
    k = int(kernel.shape[0])
    pad = k // 2
    dtype = x.dtype
    kernel = ops.cast(kernel, dtype)
    styles = ops.cast(styles, dtype)
    f = setup_filter() if resample_filter is None else np.asarray(resample_filter, "float32")
    dcoefs = _demodulation(kernel, styles) if demodulate else None
    if not fused:
        x = x * styles[:, None, None, :]
        if up == 2:
            x = _conv_up2(x, kernel, f, pad)
        elif k == 1:
            x = ops.conv(x, kernel, strides=1, padding="valid")
        else:
            x = ops.conv(ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]), kernel, strides=1,
                         padding="valid")
        return x * dcoefs[:, None, None, :] if demodulate else x
    batch = x.shape[0]
    if batch is None:
        raise ValueError("the grouped (fused) modulated convolution needs a static batch size")
    _, h, wd, cin = x.shape
    cout = int(kernel.shape[-1])
    w = kernel[None] * styles[:, None, None, :, None]  # [B, k, k, I, O]
    if demodulate:
        w = w * dcoefs[:, None, None, None, :]
    w = ops.reshape(ops.transpose(w, (1, 2, 3, 0, 4)), (k, k, cin, batch * cout))
    xg = ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (1, h, wd, batch * cin))
    if up == 2:
        y = _conv_up2_fir_first(xg, w, f, pad)
    else:
        y = ops.conv(ops.pad(xg, [[0, 0], [pad, pad], [pad, pad], [0, 0]]), w, strides=1,
                     padding="valid")
    ho, wo = int(y.shape[1]), int(y.shape[2])
    return ops.transpose(ops.reshape(y, (ho, wo, batch, cout)), (2, 0, 1, 3))


# --- layers --------------------------------------------------------------------------------
def _bias_act(x, bias, activation, gain, clamp):
    """``bias_act`` (bias_act.py ``_bias_act_ref``): add the bias, the activation (leaky ReLU
    0.2 or linear), times ``gain``, clamp to +-``clamp`` (None: no clamp)."""
    x = x + ops.cast(bias, x.dtype)
    if activation == "lrelu":
        x = ops.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = ops.clip(x, -clamp, clamp)
    return x


def _check_activation(activation):
    if activation not in ("linear", "lrelu"):
        raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
    return activation


@keras.saving.register_keras_serializable("keras_gans")
class FullyConnected(keras.layers.Layer):
    """StyleGAN2's ``FullyConnectedLayer`` (networks_stylegan2.py L87-122)::

        y = act(x @ (W * lr_multiplier / sqrt(in)) + b * lr_multiplier) * gain

    ``W`` ~ N(0, 1 / lr_multiplier), ``b`` = ``bias_init``; ``gain`` is sqrt(2) for the leaky
    ReLU (``bias_act`` ``def_gain``), 1 for linear.

    Args:
        units: output features.
        activation: "linear" | "lrelu" (slope 0.2).
        lr_multiplier: learning-rate multiplier (the mapping network's 0.01).
        bias_init: initial bias (1 for the style affines, L292, L335).
        use_bias: add the bias.
    """

    def __init__(self, units, activation="linear", lr_multiplier=1.0, bias_init=0.0,
                 use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if not lr_multiplier > 0:
            raise ValueError(f"lr_multiplier must be positive, got {lr_multiplier}")
        self.units = int(units)
        self.activation = _check_activation(activation)
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.weight_gain = self.lr_multiplier / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,),
                                        initializer=keras.initializers.Constant(self.bias_init))

    def call(self, x):
        y = ops.matmul(x, ops.cast(self.kernel, x.dtype) * self.weight_gain)
        b = 0.0 if self.bias is None else ops.cast(self.bias, x.dtype) * self.lr_multiplier
        return _bias_act(y, b, self.activation, SQRT2 if self.activation == "lrelu" else 1.0,
                         None)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "lr_multiplier": self.lr_multiplier, "bias_init": self.bias_init,
                "use_bias": self.use_bias}


def normalize_2nd_moment(x, epsilon=1e-8):
    """``x * rsqrt(mean(x^2, axis=-1) + eps)`` (networks_stylegan2.py L21-23)."""
    x = ops.cast(x, "float32")
    return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + epsilon)


@keras.saving.register_keras_serializable("keras_gans")
class MappingNetwork(keras.layers.Layer):
    """StyleGAN2's mapping network (networks_stylegan2.py L182-261): z (and the class) -> w.

    ``z`` is normalized to the unit second moment (L229); with ``num_classes`` the one-hot
    class goes through ``embed`` (a ``FullyConnected`` to ``w_dim`` features, lr 1, L213) and is
    normalized too (L232), then concatenated after z; ``num_layers`` ``FullyConnected`` leaky-ReLU
    layers with ``lr_multiplier`` (0.01) follow, ``w_dim`` wide (L210-218). While training the
    mean w is tracked with ``w_avg_beta`` (L240-243, ``DlatentAverage``) for the truncation trick
    (L250-257): ``w_avg + psi * (w - w_avg)``, off by default (the official ``truncation_psi=1``).
    One w is returned (the official broadcasts it to ``num_ws`` identical rows, L246-248; without
    style mixing, which Projected GAN's loss never does, every layer receives the same w).

    Call: ``layer(z)`` or ``layer([z, class_id])`` (int [B]; the official one-hot ``c`` times the
    embedding matrix is the embedding's row); returns w [B, w_dim].

    Args:
        z_dim, w_dim: latent widths (Projected GAN: 64, 128; train.py L166).
        num_layers: mapping depth (Projected GAN: 2, train.py L184).
        num_classes: > 0 for the conditional mapping.
        lr_multiplier: of the mapping layers (0.01, L193).
        w_avg_beta: decay of the w average (0.998, L194); None = not tracked.
        truncation_psi: None or 1 = no truncation.
    """

    def __init__(self, z_dim=64, w_dim=128, num_layers=2, num_classes=0, lr_multiplier=0.01,
                 w_avg_beta=0.998, truncation_psi=None, **kwargs):
        super().__init__(**kwargs)
        self.z_dim, self.w_dim = int(z_dim), int(w_dim)
        self.num_layers, self.num_classes = int(num_layers), int(num_classes)
        if self.num_layers < 1 or self.z_dim < 1 or self.w_dim < 1:
            raise ValueError("MappingNetwork: z_dim, w_dim and num_layers must be >= 1")
        self.lr_multiplier = float(lr_multiplier)
        self.w_avg_beta = None if w_avg_beta is None else float(w_avg_beta)
        self.truncation_psi = None if truncation_psi is None else float(truncation_psi)
        self.embed = (FullyConnected(self.w_dim, name="embed") if self.num_classes else None)
        for i in range(self.num_layers):
            setattr(self, f"fc{i}", FullyConnected(self.w_dim, activation="lrelu",
                                                   lr_multiplier=self.lr_multiplier, name=f"fc{i}"))
        self.w_avg = DlatentAverage(beta=self.w_avg_beta, truncation_psi=self.truncation_psi,
                                    name="w_avg")

    def build(self, input_shape=None):
        if self.embed is not None:
            self.embed.build((None, self.num_classes))
        width = self.z_dim + (self.w_dim if self.num_classes else 0)
        for i in range(self.num_layers):
            getattr(self, f"fc{i}").build((None, width))
            width = self.w_dim
        self.w_avg.build((None, self.w_dim))
        self.built = True

    def call(self, inputs, training=None):
        if self.num_classes:
            z, class_id = inputs
        else:
            z = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        x = normalize_2nd_moment(z)
        if self.num_classes:
            onehot = ops.one_hot(ops.reshape(ops.cast(class_id, "int32"), (-1,)), self.num_classes)
            y = normalize_2nd_moment(self.embed(onehot))
            x = ops.concatenate([x, y], axis=-1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return self.w_avg(x, training=training)[0]

    def compute_output_shape(self, input_shape):
        z_shape = input_shape[0] if self.num_classes else input_shape
        return (z_shape[0], self.w_dim)

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim, "w_dim": self.w_dim,
                "num_layers": self.num_layers, "num_classes": self.num_classes,
                "lr_multiplier": self.lr_multiplier, "w_avg_beta": self.w_avg_beta,
                "truncation_psi": self.truncation_psi}


@keras.saving.register_keras_serializable("keras_gans")
class StyleGAN2Noise(NoiseInjection):
    """StyleGAN2's noise input (networks_stylegan2.py L295-297, L306-310): ``x + noise *
    strength``, ``strength`` one learned scalar (``noise_strength``, zeros), ``noise`` [B, H, W, 1]
    N(0, 1) shared by the channels.

    The official ``noise_mode`` is ``'random'`` by default (fresh noise on every call, training
    and the metrics alike), ``'const'`` for the image grids (``noise_const``, a fixed N(0, 1)
    buffer [H, W]; training_loop.py L236, L382). Here, as for every noise layer of this library
    (``NoiseInjection``): fresh noise in training, the fixed map (non-trainable
    ``fixed_noise`` [1, H, W, 1], the ``noise_const`` counterpart) at inference unless
    ``randomize_at_inference``, so exports are deterministic; evaluation protocols with fresh
    noise (``keras_gans.metrics.protocols.fresh_noise``) hide ``fixed_noise`` and draw from the
    layer's ``SeedGenerator`` (saved in checkpoints).
    """

    def __init__(self, seed=None, randomize_at_inference=False, **kwargs):
        kwargs.pop("per_channel", None)
        super().__init__(seed=seed, randomize_at_inference=randomize_at_inference,
                         per_channel=False, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("per_channel", None)
        return config


@keras.saving.register_keras_serializable("keras_gans")
class ModulatedConv2D(keras.layers.Layer):
    """StyleGAN2's ``SynthesisLayer`` (networks_stylegan2.py L264-324): called as
    ``layer(x, w)`` with ``x`` [B, H, W, I] and ``w`` [B, w_dim]::

        styles = FullyConnected(I, bias_init=1)(w)                      # L292, L304
        x = modulated_conv2d(x, kernel, styles, demodulate, up)         # L313-314
        x = x + noise * noise_strength                                  # L306-310 (after demod)
        x = clip(lrelu(x + bias) * sqrt(2), -conv_clamp, conv_clamp)    # L316-318

    ``kernel`` ~ N(0, 1) (no weight gain: demodulation removes the scale, L294), ``bias`` zeros.

    Args:
        filters: output channels.
        kernel_size: 3 (L271).
        up: 1, or 2 for the block's first layer (L387).
        resolution: output side (for the noise map; inferred from the input when None).
        use_noise: add the noise input (L273).
        demodulate: weight demodulation (L36).
        activation: "lrelu" | "linear".
        conv_clamp: clamp after the activation gain (256 in the official default, L362; None off).
        resample_filter: 1-D taps of the up-sampling filter ([1, 3, 3, 1]).
        noise_seed: seed of the noise layer.
        randomize_noise: fresh noise at inference too.
        fused: the grouped formulation of ``modulated_conv2d`` (static batch only).
    """

    def __init__(self, filters, kernel_size=3, up=1, resolution=None, use_noise=True,
                 demodulate=True, activation="lrelu", conv_clamp=256.0,
                 resample_filter=DEFAULT_FILTER, noise_seed=None, randomize_noise=False,
                 fused=False, **kwargs):
        super().__init__(**kwargs)
        if int(up) not in (1, 2):
            raise ValueError(f"up must be 1 or 2, got {up}")
        self.filters, self.kernel_size, self.up = int(filters), int(kernel_size), int(up)
        self.resolution = None if resolution is None else int(resolution)
        self.use_noise, self.demodulate = bool(use_noise), bool(demodulate)
        self.activation = _check_activation(activation)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.resample_filter = [float(v) for v in np.asarray(resample_filter).reshape(-1)]
        self._f = setup_filter(self.resample_filter)
        self.noise_seed = None if noise_seed is None else int(noise_seed)
        self.randomize_noise = bool(randomize_noise)
        self.fused = bool(fused)
        self.affine = None
        self.noise = (StyleGAN2Noise(seed=self.noise_seed, randomize_at_inference=self.randomize_noise,
                                     name="noise") if self.use_noise else None)

    def _style_gain(self, in_channels):
        return 1.0

    def build(self, x_shape, w_shape=None):
        cin = int(x_shape[-1])
        self.in_channels = cin
        if w_shape is None:
            raise ValueError("ModulatedConv2D.build needs the shapes of x and w")
        self.affine = FullyConnected(cin, bias_init=1.0, name="affine")
        self.affine.build(tuple(w_shape))
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, cin, self.filters),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        if self.noise is not None:
            side = self.resolution
            if side is None:
                if x_shape[1] is None:
                    raise ValueError("ModulatedConv2D with noise needs a static input size or resolution")
                side = int(x_shape[1]) * self.up
            self.noise.build((None, side, side, self.filters))
        self.built = True

    def call(self, x, w, training=None):
        styles = self.affine(ops.cast(w, x.dtype)) * self._style_gain(self.in_channels)
        y = modulated_conv2d(x, self.kernel, styles, demodulate=self.demodulate, up=self.up,
                             resample_filter=self._f, fused=self.fused)
        if self.noise is not None:
            y = self.noise(y, training=training)
        gain = SQRT2 if self.activation == "lrelu" else 1.0
        return _bias_act(y, self.bias, self.activation, gain, self.conv_clamp)

    def compute_output_shape(self, x_shape, w_shape=None):
        b, h, wd, _ = x_shape
        s = self.up
        return (b, None if h is None else h * s, None if wd is None else wd * s, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "up": self.up, "resolution": self.resolution, "use_noise": self.use_noise,
                "demodulate": self.demodulate, "activation": self.activation,
                "conv_clamp": self.conv_clamp, "resample_filter": list(self.resample_filter),
                "noise_seed": self.noise_seed, "randomize_noise": self.randomize_noise,
                "fused": self.fused}


@keras.saving.register_keras_serializable("keras_gans")
class ModulatedToRGB(ModulatedConv2D):
    """StyleGAN2's ``ToRGBLayer`` (networks_stylegan2.py L327-348): a 1x1 modulated convolution
    without demodulation, the styles scaled by ``1/sqrt(in_channels)`` (the weight gain, L339,
    L342), no noise, bias, no activation, the conv clamp (L344).

    Args:
        channels: image channels.
        conv_clamp, fused: as ``ModulatedConv2D``.
    """

    def __init__(self, channels, conv_clamp=256.0, fused=False, **kwargs):
        for key in ("filters", "kernel_size", "up", "resolution", "use_noise", "demodulate",
                    "activation", "resample_filter", "noise_seed", "randomize_noise"):
            kwargs.pop(key, None)
        super().__init__(channels, kernel_size=1, up=1, use_noise=False, demodulate=False,
                         activation="linear", conv_clamp=conv_clamp, fused=fused, **kwargs)
        self.channels = int(channels)

    def _style_gain(self, in_channels):
        return 1.0 / math.sqrt(in_channels)

    def get_config(self):
        config = super().get_config()
        config = {k: v for k, v in config.items() if k not in (
            "filters", "kernel_size", "up", "resolution", "use_noise", "demodulate", "activation",
            "resample_filter", "noise_seed", "randomize_noise")}
        return {**config, "channels": self.channels}


@keras.saving.register_keras_serializable("keras_gans")
class SynthesisBlock(keras.layers.Layer):
    """One resolution of StyleGAN2's synthesis network, 'skip' architecture (networks_stylegan2.py
    ``SynthesisBlock`` L351-451, ``architecture='skip'``).

    Call: ``block(w, x, img, training=...)`` -> ``(x, img)``:

    - first block (``in_channels == 0``): ``x`` is the learned constant ``const`` [res, res, C]
      (N(0, 1), L383-384, L418-420), tiled over the batch; then ``conv1`` (L426-427);
    - otherwise ``conv0`` (2x up-sampling modulated conv, L386-388) and ``conv1`` (L434-435);
    - ``img``: the previous block's image FIR-up-sampled 2x (L438-440) plus this block's ToRGB of
      ``x`` (L441-444); the first block's image is its ToRGB alone.

    All layers receive the same ``w`` (see ``MappingNetwork``).

    Args:
        in_channels: input channels (0: the first block, with the constant).
        out_channels: channels of the block.
        resolution: output side.
        img_channels: image channels.
        conv_clamp, resample_filter, fused: as ``ModulatedConv2D``.
        noise_seed: base seed of the block's two noise layers (None = random).
        randomize_noise: fresh noise at inference too.
    """

    def __init__(self, in_channels, out_channels, resolution, img_channels=3, conv_clamp=256.0,
                 resample_filter=DEFAULT_FILTER, noise_seed=None, randomize_noise=False,
                 fused=False, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.resolution, self.img_channels = int(resolution), int(img_channels)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.resample_filter = [float(v) for v in np.asarray(resample_filter).reshape(-1)]
        self.noise_seed = None if noise_seed is None else int(noise_seed)
        self.randomize_noise, self.fused = bool(randomize_noise), bool(fused)
        seed = (lambda i: None if self.noise_seed is None else self.noise_seed + i)
        common = dict(resolution=self.resolution, conv_clamp=self.conv_clamp,
                      resample_filter=self.resample_filter, randomize_noise=self.randomize_noise,
                      fused=self.fused)
        self.conv0 = None
        if self.in_channels:
            self.conv0 = ModulatedConv2D(self.out_channels, up=2, noise_seed=seed(0), name="conv0",
                                         **common)
        self.conv1 = ModulatedConv2D(self.out_channels, noise_seed=seed(1), name="conv1", **common)
        self.torgb = ModulatedToRGB(self.img_channels, conv_clamp=self.conv_clamp, fused=self.fused,
                                    name="torgb")
        # The image skip stays float32 under mixed precision, as the official block keeps
        # ``img`` (networks_stylegan2.py L440-447: ``y.to(torch.float32)``, then ``img.add_(y)``).
        self.upsample = FIRUpsample2D(self.resample_filter, name="upsample", dtype="float32")

    def build(self, w_shape, x_shape=None, img_shape=None):
        r, c = self.resolution, self.out_channels
        if not self.in_channels:
            self.const = self.add_weight(name="const", shape=(r, r, c),
                                         initializer=keras.initializers.RandomNormal(0.0, 1.0))
        else:
            self.conv0.build((None, r // 2, r // 2, self.in_channels), w_shape)
        self.conv1.build((None, r, r, c), w_shape)
        self.torgb.build((None, r, r, c), w_shape)
        self.built = True

    def call(self, w, x=None, img=None, training=None):
        if not self.in_channels:
            batch = ops.shape(w)[0]
            x = ops.tile(ops.cast(self.const, w.dtype)[None], (batch, 1, 1, 1))
        else:
            x = self.conv0(x, w, training=training)
        x = self.conv1(x, w, training=training)
        y = ops.cast(self.torgb(x, w, training=training), "float32")
        img = y if img is None else self.upsample(ops.cast(img, "float32")) + y
        return x, img

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels,
                "out_channels": self.out_channels, "resolution": self.resolution,
                "img_channels": self.img_channels, "conv_clamp": self.conv_clamp,
                "resample_filter": list(self.resample_filter), "noise_seed": self.noise_seed,
                "randomize_noise": self.randomize_noise, "fused": self.fused}
