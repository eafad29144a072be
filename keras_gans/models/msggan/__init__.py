"""MSG-GAN (Karnewar & Wang 2020): MSG-ProGAN and MSG-StyleGAN generators, the multi-scale
discriminator, presets and the builder."""

from __future__ import annotations

from keras_gans.models.msggan.msg_discriminator import COMBINERS, MSGDiscriminator
from keras_gans.models.msggan.msg_stylegan_generator import MSGStyleGANGenerator

__all__ = ["MSGDiscriminator", "MSGStyleGANGenerator", "build_msggan", "COMBINERS"]

_SHARED = ("fmap_base", "fmap_decay", "fmap_max")
_PROGAN_G = ("latent_dim", "normalize_latents", "use_pixelnorm", "pixelnorm_epsilon") + _SHARED
_STYLE_G = ("latent_dim", "dlatent_dim", "mapping_layers", "mapping_fmaps", "mapping_lr_multiplier",
            "use_noise", "blur_filter", "dlatent_avg_beta", "truncation_psi",
            "truncation_cutoff", "randomize_noise", "noise_seed") + _SHARED
_D = ("combine", "mbstd_group_size", "mbstd_num_features", "blur") + _SHARED


def build_msggan(config, manifest):
    """``keras_gans.models.registry`` builder.

    ``config.model``: ``generator`` ("progan" = MSG-ProGAN, "stylegan" = MSG-StyleGAN), the
    generator's arguments (``MSGStyleGANGenerator`` or ``ProGANGenerator``), and the
    discriminator's ``combine`` ("simple" | "lin_cat" | "cat_lin"), ``mbstd_*``, ``blur``
    (default: on for MSG-StyleGAN, as its official D). The discriminator reads the data's
    pyramid from 4x4 up.
    """
    from keras_gans.errors import UsageError
    from keras_gans.models.registry import Networks

    kw = dict(config.model)
    kind = kw.pop("generator", "progan")
    if kind not in ("progan", "stylegan"):
        raise UsageError(f"msggan: generator must be progan or stylegan, got {kind!r}")
    g_keys = _PROGAN_G if kind == "progan" else _STYLE_G
    unknown = sorted(set(kw) - set(g_keys) - set(_D))
    if unknown:
        raise UsageError(f"msggan ({kind} generator): unknown model arguments {unknown} "
                         f"(known: generator, {', '.join(sorted(set(g_keys) | set(_D)))})")
    classes = manifest.num_classes if config.conditional else 0
    common = dict(resolution=manifest.resolution, channels=manifest.channels, num_classes=classes)
    g_kw = {k: kw[k] for k in g_keys if k in kw}
    d_kw = {k: kw[k] for k in _D if k in kw}
    d_kw.setdefault("blur", kind == "stylegan")
    try:
        if kind == "progan":
            from keras_gans.models.progan import ProGANGenerator

            g = ProGANGenerator(**common, **g_kw, multi_scale=True, name="generator")
            g.build()
        else:
            if "blur_filter" in g_kw and g_kw["blur_filter"] is not None:
                g_kw["blur_filter"] = tuple(g_kw["blur_filter"])
            g = MSGStyleGANGenerator(**common, **g_kw, name="generator")
        d = MSGDiscriminator(**common, **d_kw, name="discriminator")
        d.build()
    except (ValueError, TypeError) as e:
        raise UsageError(f"msggan: {e}") from e
    return Networks(g, d, latent_dim=g.latent_dim, num_classes=classes, real_key="pyramid",
                    pyramid_min_resolution=4)
