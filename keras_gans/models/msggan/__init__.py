"""MSG-GAN (Karnewar & Wang 2020): MSG-ProGAN (BMSG-GAN's networks) and MSG-StyleGAN generators,
the multi-scale discriminators, presets and the builder."""

from __future__ import annotations

from keras_gans.errors import UsageError
from keras_gans.models import registry
from keras_gans.models.msggan.bmsg_networks import BMSGDiscriminator, BMSGGenerator
from keras_gans.models.msggan.msg_discriminator import COMBINERS, MSGDiscriminator
from keras_gans.models.msggan.msg_stylegan_generator import MSGStyleGANGenerator
from keras_gans.models.msggan.msggan_presets import PRESETS
from keras_gans.models.networks import Networks
from keras_gans.models.progan import ProGANGenerator

__all__ = ["BMSGDiscriminator", "BMSGGenerator", "MSGDiscriminator", "MSGStyleGANGenerator",
           "build_msggan", "COMBINERS"]

_SHARED = ("fmap_base", "fmap_decay", "fmap_max")
_PROGAN_G = ("latent_dim", "normalize_latents", "use_pixelnorm", "pixelnorm_epsilon") + _SHARED
_STYLE_G = ("latent_dim", "dlatent_dim", "mapping_layers", "mapping_fmaps", "mapping_lr_multiplier",
            "use_noise", "blur_filter", "dlatent_avg_beta", "truncation_psi",
            "truncation_cutoff", "randomize_noise", "noise_seed") + _SHARED
_D = ("combine", "mbstd_group_size", "mbstd_num_features", "blur") + _SHARED
_BMSG = ("latent_dim", "normalize_latents")
KINDS = ("bmsg", "progan", "stylegan")


def check_msggan(config) -> str:
    """Check ``config.model`` without data; returns the generator kind."""
    kw = dict(config.model)
    kind = kw.pop("generator", "progan")
    if kind not in KINDS:
        raise UsageError(f"msggan: generator must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "bmsg":
        registry.unknown_keys("msggan (bmsg: BMSG-GAN's generator and discriminator, whose "
                              "widths follow latent_dim)", kw, set(_BMSG), extra_hint="generator, ")
        return kind
    g_keys = _PROGAN_G if kind == "progan" else _STYLE_G
    registry.unknown_keys(f"msggan ({kind} generator)", kw, set(g_keys) | set(_D),
                          extra_hint="generator, ")
    if kw.get("combine", "cat_lin") not in COMBINERS:
        raise UsageError(f"msggan: combine must be one of {', '.join(COMBINERS)}, "
                         f"got {kw['combine']!r}")
    return kind


def build_msggan(config, manifest, discriminator: bool = True):
    """``keras_gans.models.registry`` builder.

    ``config.model``: ``generator``:

    - "bmsg": MSG-ProGAN as its official code, akanimax/BMSG-GAN, builds it: ``BMSGGenerator``
      and ``BMSGDiscriminator`` (BMSG's ``lin_cat``, whole-batch minibatch stddev in the final
      block only), both sized by ``latent_dim`` (BMSG's ``latent_size``; its D's
      ``feature_size`` is the same number, GAN.py:235-238); arguments ``latent_dim``,
      ``normalize_latents``. The MSG-ProGAN presets' choice.
    - "progan": ProGAN's ``G_paper`` generator with an output at every scale
      (``ProGANGenerator(multi_scale=True)``) and ``MSGDiscriminator``;
    - "stylegan": MSG-StyleGAN (``MSGStyleGANGenerator``) and ``MSGDiscriminator``, as
      akanimax/msg-stylegan-tf.

    With "progan" / "stylegan": the generator's arguments and ``MSGDiscriminator``'s
    ``combine`` ("simple" | "lin_cat" | "cat_lin"), ``mbstd_*``, ``blur`` (default: on for
    MSG-StyleGAN, as its official D), msg-stylegan-tf ``D_basic``'s layout. The discriminator
    reads the data's pyramid from 4x4 up.
    """
    kind = check_msggan(config)
    kw = dict(config.model)
    kw.pop("generator", None)
    classes = manifest.num_classes if config.conditional else 0
    common = dict(resolution=manifest.resolution, channels=manifest.channels, num_classes=classes)
    if kind == "bmsg":
        try:
            g = BMSGGenerator(**common, **kw, name="generator")
            g.build()
            d = None
            if discriminator:
                d = BMSGDiscriminator(**common, feature_size=g.latent_dim, name="discriminator")
                d.build()
        except (ValueError, TypeError) as e:
            raise UsageError(f"msggan: {e}") from e
        return Networks(g, d, latent_dim=g.latent_dim, num_classes=classes, real_key="pyramid",
                        pyramid_min_resolution=4)
    g_keys = _PROGAN_G if kind == "progan" else _STYLE_G
    g_kw = {k: kw[k] for k in g_keys if k in kw}
    d_kw = {k: kw[k] for k in _D if k in kw}
    d_kw.setdefault("blur", kind == "stylegan")
    try:
        if kind == "progan":
            g = ProGANGenerator(**common, **g_kw, multi_scale=True, name="generator")
            g.build()
        else:
            if "blur_filter" in g_kw and g_kw["blur_filter"] is not None:
                g_kw["blur_filter"] = tuple(g_kw["blur_filter"])
            g = MSGStyleGANGenerator(**common, **g_kw, name="generator")
        d = None
        if discriminator:
            d = MSGDiscriminator(**common, **d_kw, name="discriminator")
            d.build()
    except (ValueError, TypeError) as e:
        raise UsageError(f"msggan: {e}") from e
    return Networks(g, d, latent_dim=g.latent_dim, num_classes=classes, real_key="pyramid",
                    pyramid_min_resolution=4)


registry.register_family(
    "msggan", build_msggan, check_msggan, PRESETS,
    tiny=lambda model: {"latent_dim": 8} if model.get("generator") == "bmsg" else {
        "fmap_base": 32, "fmap_max": 8, "latent_dim": 8, **(
            {"dlatent_dim": 8, "mapping_fmaps": 8, "mapping_layers": 2}
            if model.get("generator") == "stylegan" else {})},
    description="MSG-GAN: multi-scale gradients (MSG-ProGAN as BMSG-GAN, MSG-StyleGAN)")
