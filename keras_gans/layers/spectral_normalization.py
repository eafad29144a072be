"""Spectrally normalized Conv2D, Dense and Embedding with BigGAN's power iteration and eps.

Why not ``keras.layers.SpectralNormalization`` (Keras 3.15): in training it *overwrites* the
wrapped kernel variable with ``W / sigma`` (``self.kernel.assign(new_kernel)``), so the
trainable weight is the already-normalized matrix and no gradient flows through ``sigma``;
the optimizer, the EMA and orthogonal regularization then all see a different parameter
than BigGAN's. Its norm floor is not an argument (``keras.ops.normalize`` with the global
``keras.config.epsilon()``, 1e-7), so it cannot take BigGAN's ``--SN_eps 1e-6``, and it
initializes ``u`` from N(0, 0.02) (official: N(0, 1)). BigGAN (ajbrock/BigGAN-PyTorch ``layers.py``, class ``SN`` and
``power_iteration``) keeps the raw weight ``W`` as the parameter and uses ``W / sigma(W)`` in
the forward pass, with the gradient through ``sigma`` (u and v held constant), exactly like
Miyato et al.'s reference and ``torch.nn.utils.spectral_norm``. These layers do that.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_gans.layers.conv import RESAMPLES, resampled_conv2d


def l2_normalize(x, epsilon):
    """``x / max(||x||_2, epsilon)``: PyTorch's ``F.normalize(x, eps=epsilon)`` on one row."""
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), epsilon)


class _SpectralNormMixin:
    """Shared power iteration. The kernel is viewed as ``[fan_in, out]`` (Keras keeps the
    output axis last); ``u`` is ``[1, out]``. One step is, with ``M = reshape(W, [-1, out])``::

        v = normalize(u M^T), u = normalize(v M), sigma = v M u^T

    which is ``power_iteration`` of BigGAN's layers.py on ``W_torch = M^T`` (``[out, fan_in]``,
    ``weight.view(out, -1)``). ``u`` is updated only in training (official ``update=
    self.training``); at inference one step is still taken from the stored ``u`` without
    storing it, as the official ``SN.W_``. For embeddings the official code keeps ``u`` over the
    classes (``num_svs`` over ``num_embeddings``); here it is over the embedding axis: the same
    singular value, only the side of the stored vector differs.
    """

    def _init_sn(self, power_iterations, epsilon):
        if int(power_iterations) < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon}")
        self.power_iterations = int(power_iterations)
        self.epsilon = float(epsilon)

    def _bias_and_activation(self, outputs):
        """What Keras' conv layers do after the convolution: bias, then activation."""
        if self.use_bias:
            if self.data_format == "channels_last":
                bias_shape = (1,) * (self.rank + 1) + (self.filters,)
            else:
                bias_shape = (1, self.filters) + (1,) * self.rank
            outputs = ops.add(outputs, ops.reshape(self.bias, bias_shape))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _sn_kernel(self):
        """The weight being normalised (Embedding overrides: ``embeddings``)."""
        return self.kernel

    def build(self, input_shape=None):
        super().build(input_shape)
        self._build_sn()

    def _build_sn(self):
        out = int(self._sn_kernel().shape[-1])
        # torch.randn(1, num_outputs) in the official SN.__init__; float32 under mixed precision.
        self.sn_u = self.add_weight(name="sn_u", shape=(1, out),
                                    initializer=keras.initializers.RandomNormal(0.0, 1.0),
                                    trainable=False, autocast=False, dtype="float32")

    def normalized_kernel(self, training=False):
        """``W / sigma(W)`` (float32 power iteration; cast back to the kernel's dtype)."""
        kernel = self._sn_kernel()
        dtype = kernel.dtype
        w = ops.cast(kernel, "float32")
        out = w.shape[-1]
        matrix = ops.reshape(w, (-1, out))
        u = ops.convert_to_tensor(self.sn_u)
        v = None
        for _ in range(self.power_iterations):
            v = l2_normalize(ops.matmul(u, ops.transpose(matrix)), self.epsilon)
            u = l2_normalize(ops.matmul(v, matrix), self.epsilon)
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        if training:
            self.sn_u.assign(u)
        sigma = ops.sum(ops.matmul(v, matrix) * u)
        return ops.cast(w / sigma, dtype)

    # Conv2D, Dense and Embedding save only their kernel and bias in ``.keras`` files (their
    # ``save_own_variables`` lists them, for LoRA/quantization): add ``u`` so a loaded model
    # continues the power iteration where it was.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.built:
            store["sn_u"] = self.sn_u

    def load_own_variables(self, store):
        super().load_own_variables(store)
        if self.built:
            self.sn_u.assign(store["sn_u"])

    def _sn_config(self):
        return {"power_iterations": self.power_iterations, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable("keras_gans")
class SNConv2D(_SpectralNormMixin, keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose kernel is divided by its largest singular value.

    Channels-last, ungrouped convolutions run through ``keras_gans.layers.conv.conv2d``: the
    same values, with the kernel gradient by tap products on the layer shapes where that is
    faster than TensorFlow's kernel. With ``resample`` the layer also upsamples its input
    (nearest, 2x) before convolving, or average-pools its output (2x2) after, folded into one
    stride-2 convolution where ``keras_gans.layers.conv.can_fold`` allows (the same values up
    to float32 summation order, 2.1-2.2x faster than the composition on BigGAN's and FastGAN's
    layers, ``benchmarks/conv_bench.py``).

    Args:
        filters, kernel_size, **kwargs: as ``keras.layers.Conv2D``.
        power_iterations: power-iteration steps per call (BigGAN ``num_G_SV_itrs`` = 1).
        epsilon: floor of the vector norms in the power iteration (BigGAN ``--SN_eps``:
            1e-6 in scripts/launch_BigGAN_bs256x8.sh, 1e-8 the utils.py default).
        resample: None, "up" (nearest 2x upsampling of the input first: BigGAN-PyTorch
            layers.py L398-403 ``GBlock.forward``, projected_gan pg_modules/blocks.py L70, L98
            ``UpBlockSmall``/``UpBlockBig``) or "down" (2x2 average pooling of the output:
            layers.py L455 ``DBlock.forward``); "down" needs no activation (it would not commute).

    Example:
        >>> conv = SNConv2D(64, 3, padding="same", kernel_initializer="orthogonal")
        >>> y = conv(x, training=True)  # one power-iteration step, u updated

    Reference: Miyato et al., "Spectral Normalization for Generative Adversarial Networks"
    (ICLR 2018, arXiv 1802.05957); ajbrock/BigGAN-PyTorch layers.py ``SNConv2d``.
    """

    def __init__(self, filters, kernel_size, power_iterations=1, epsilon=1e-6, resample=None,
                 **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_sn(power_iterations, epsilon)
        if resample not in RESAMPLES:
            raise ValueError(f"{self.name}: resample must be one of {RESAMPLES}, got {resample!r}")
        if resample is not None and (self.data_format != "channels_last" or self.groups != 1):
            raise ValueError(f"{self.name}: resample needs channels_last and groups=1")
        if resample == "down" and self.activation is not keras.activations.linear:
            raise ValueError(f"{self.name}: resample='down' pools the output, so the activation "
                             "must come after the layer (activation=None)")
        self.resample = resample

    def call(self, inputs, training=None):
        outputs = self.convolution_op(inputs, self.normalized_kernel(bool(training)))
        return self._bias_and_activation(outputs)

    def convolution_op(self, inputs, kernel):
        # The kernel gradient by tap products where that is faster; resampling folded into the
        # convolution where it can be (keras_gans.layers.conv).
        if self.data_format != "channels_last" or self.groups != 1:
            return super().convolution_op(inputs, kernel)
        return resampled_conv2d(inputs, kernel, self.resample, strides=self.strides,
                                padding=self.padding, dilation_rate=self.dilation_rate)

    def compute_output_shape(self, input_shape):
        if self.resample == "up":
            input_shape = (input_shape[0], *(None if d is None else 2 * d for d in input_shape[1:3]),
                           input_shape[3])
        shape = super().compute_output_shape(input_shape)
        if self.resample == "down":
            shape = (shape[0], *(None if d is None else d // 2 for d in shape[1:3]), shape[3])
        return shape

    def get_config(self):
        return {**super().get_config(), **self._sn_config(), "resample": self.resample}


@keras.saving.register_keras_serializable("keras_gans")
class SNDense(_SpectralNormMixin, keras.layers.Dense):
    """``keras.layers.Dense`` whose kernel is divided by its largest singular value.

    Args:
        units, **kwargs: as ``keras.layers.Dense``.
        power_iterations: power-iteration steps per call.
        epsilon: floor of the vector norms in the power iteration (BigGAN: 1e-6).

    Example:
        >>> linear = SNDense(1, kernel_initializer="orthogonal")

    Reference: ajbrock/BigGAN-PyTorch layers.py ``SNLinear``.
    """

    def __init__(self, units, power_iterations=1, epsilon=1e-6, **kwargs):
        super().__init__(units, **kwargs)
        self._init_sn(power_iterations, epsilon)

    def call(self, inputs, training=None):
        x = ops.matmul(inputs, self.normalized_kernel(bool(training)))
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def get_config(self):
        return {**super().get_config(), **self._sn_config()}


@keras.saving.register_keras_serializable("keras_gans")
class SNEmbedding(_SpectralNormMixin, keras.layers.Embedding):
    """``keras.layers.Embedding`` whose table is divided by its largest singular value.

    The projection discriminator's class embedding (BigGAN's ``D.embed``).

    Args:
        input_dim, output_dim, **kwargs: as ``keras.layers.Embedding``.
        power_iterations: power-iteration steps per call.
        epsilon: floor of the vector norms in the power iteration (BigGAN: 1e-6).

    Example:
        >>> embed = SNEmbedding(1000, 1536, embeddings_initializer="orthogonal")

    Reference: ajbrock/BigGAN-PyTorch layers.py ``SNEmbedding``.
    """

    def __init__(self, input_dim, output_dim, power_iterations=1, epsilon=1e-6, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        self._init_sn(power_iterations, epsilon)

    def _sn_kernel(self):
        return self.embeddings

    def call(self, inputs, training=None):
        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        outputs = ops.take(self.normalized_kernel(bool(training)), inputs, axis=0)
        return ops.cast(outputs, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), **self._sn_config()}


@keras.saving.register_keras_serializable("keras_gans")
class SNConv2DTranspose(_SpectralNormMixin, keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` whose kernel is divided by its largest singular value,
    as ``torch.nn.utils.spectral_norm(nn.ConvTranspose2d(...))``.

    PyTorch normalizes a transposed convolution along ``dim=1`` (``spectral_norm`` picks
    ``dim = 1`` for ``ConvTranspose{1,2,3}d``): its weight ``[in, out, kh, kw]`` is viewed as the
    matrix ``[out, in * kh * kw]``. Keras stores the kernel as ``(kh, kw, out, in)``; viewed
    naively as ``[kh * kw * out, in]`` (what ``_SpectralNormMixin`` does with any kernel) it
    would be a different matrix with a different sigma. Here the power iteration runs on the
    kernel transposed to ``(kh, kw, in, out)``, i.e. on ``[kh * kw * in, out]``: PyTorch's matrix
    transposed with its columns permuted, hence the same singular values; ``u`` is ``[1, out]``
    (PyTorch's ``weight_u`` has ``out`` entries too). Everything else is the mixin's (the raw
    kernel is the parameter, the gradient flows through sigma, ``u`` updated in training).

    Args:
        filters, kernel_size, **kwargs: as ``keras.layers.Conv2DTranspose``.
        power_iterations: power-iteration steps per call (``n_power_iterations``, 1).
        epsilon: floor of the vector norms (``torch.nn.utils.spectral_norm``'s ``eps`` 1e-12;
            the BigGAN default 1e-6 is kept as this module's default for symmetry).

    Example:
        >>> init = SNConv2DTranspose(512, 4, padding="valid", use_bias=False, epsilon=1e-12)
        >>> x = init(keras.ops.reshape(z, (-1, 1, 1, 256)))   # [B, 4, 4, 512]

    Reference: PyTorch ``torch/nn/utils/spectral_norm.py`` (``SpectralNorm.apply``: ``dim = 1``
    for transposed convolutions; ``reshape_weight_to_matrix``); autonomousvision/projected_gan
    pg_modules/blocks.py L15-16 (``convTranspose2d``) and L53-65 (``InitLayer``).
    """

    def __init__(self, filters, kernel_size, power_iterations=1, epsilon=1e-6, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_sn(power_iterations, epsilon)

    def _sn_kernel(self):
        # (kh, kw, out, in) -> (kh, kw, in, out): the mixin reshapes to [-1, out].
        return ops.transpose(self.kernel, (0, 1, 3, 2))

    def call(self, inputs, training=None):
        kernel = ops.transpose(self.normalized_kernel(bool(training)), (0, 1, 3, 2))
        outputs = ops.conv_transpose(inputs, kernel, strides=list(self.strides),
                                     padding=self.padding, output_padding=self.output_padding,
                                     dilation_rate=self.dilation_rate,
                                     data_format=self.data_format)
        return self._bias_and_activation(outputs)

    # Conv2DTranspose has no save_own_variables of its own (Layer's saves every variable by
    # index, sn_u included): store kernel/bias by index and u by name, as the other SN layers.
    def save_own_variables(self, store):
        if not self.built:
            return
        store["0"] = self.kernel
        if self.use_bias:
            store["1"] = self.bias
        store["sn_u"] = self.sn_u

    def load_own_variables(self, store):
        if not self.built:
            return
        expected = ["0", "sn_u"] + (["1"] if self.use_bias else [])
        missing = [k for k in expected if k not in store]
        if missing:
            raise ValueError(f"Layer '{self.name}' expected the variables {expected} when "
                             f"loading, missing {missing}")
        self.kernel.assign(store["0"])
        if self.use_bias:
            self.bias.assign(store["1"])
        self.sn_u.assign(store["sn_u"])

    def get_config(self):
        return {**super().get_config(), **self._sn_config()}


@keras.saving.register_keras_serializable("keras_gans")
class SNDepthwiseConv2D(_SpectralNormMixin, keras.layers.DepthwiseConv2D):
    """``keras.layers.DepthwiseConv2D`` whose kernel is divided by its largest singular value,
    as ``torch.nn.utils.spectral_norm(nn.Conv2d(c, c * m, k, groups=c))``.

    PyTorch views the grouped weight ``[c * m, 1, kh, kw]`` as the matrix ``[c * m, kh * kw]``
    (``dim = 0``). Keras stores the depthwise kernel as ``(kh, kw, c, m)``; here the power
    iteration runs on it transposed to ``(kh, kw, m, c)`` and reshaped to ``[kh * kw * m, c]``
    (for ``m = 1``, PyTorch's matrix transposed: the same singular values; ``u`` has ``c``
    entries, as PyTorch's ``weight_u``). Only ``depth_multiplier=1`` is supported (the one
    Projected GAN's ``SeparableConv2d`` uses, pg_modules/blocks.py L159-170).

    Args:
        kernel_size, **kwargs: as ``keras.layers.DepthwiseConv2D``.
        power_iterations: power-iteration steps per call (1).
        epsilon: floor of the vector norms (torch: 1e-12).
    """

    def __init__(self, kernel_size, power_iterations=1, epsilon=1e-6, **kwargs):
        if int(kwargs.get("depth_multiplier", 1)) != 1:
            raise ValueError("SNDepthwiseConv2D supports depth_multiplier=1 only")
        super().__init__(kernel_size, **kwargs)
        self._init_sn(power_iterations, epsilon)

    def _sn_kernel(self):
        return ops.transpose(self.kernel, (0, 1, 3, 2))

    def call(self, inputs, training=None):
        kernel = ops.transpose(self.normalized_kernel(bool(training)), (0, 1, 3, 2))
        outputs = ops.depthwise_conv(inputs, kernel, strides=self.strides, padding=self.padding,
                                     dilation_rate=self.dilation_rate,
                                     data_format=self.data_format)
        if self.use_bias:
            shape = ((1, 1, 1, -1) if self.data_format == "channels_last" else (1, -1, 1, 1))
            outputs = outputs + ops.reshape(self.bias, shape)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def save_own_variables(self, store):
        if not self.built:
            return
        store["0"] = self.kernel
        if self.use_bias:
            store["1"] = self.bias
        store["sn_u"] = self.sn_u

    def load_own_variables(self, store):
        if not self.built:
            return
        expected = ["0", "sn_u"] + (["1"] if self.use_bias else [])
        missing = [k for k in expected if k not in store]
        if missing:
            raise ValueError(f"Layer '{self.name}' expected the variables {expected} when "
                             f"loading, missing {missing}")
        self.kernel.assign(store["0"])
        if self.use_bias:
            self.bias.assign(store["1"])
        self.sn_u.assign(store["sn_u"])

    def get_config(self):
        return {**super().get_config(), **self._sn_config()}
