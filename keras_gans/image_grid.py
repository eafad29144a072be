"""Image grids as uint8 arrays and PNG files (dataset previews, training samples, the client).

NumPy + Pillow only (no TensorFlow), so the serving client can use it. Images are NHWC; a grid is
built row-major with ``pad`` pixels of ``pad_value`` around and between cells. One-channel
images make grayscale PNGs, three-channel images RGB, four-channel RGBA.
"""

from __future__ import annotations

import io
import math
import os
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_gans import fileio
from keras_gans.errors import UsageError


def to_uint8(images):
    """The one [-1, 1] -> uint8 mapping: ``round_half_even(clip((x + 1) * 127.5, 0, 255))``.

    Every image the project writes, serves or scores goes through it (grids, the exported
    signatures, metric inputs), so a served image equals a scored or saved one bit for bit.
    uint8 input is returned unchanged; other integer dtypes are refused (they are neither the
    models' range nor pixels).

    Args:
        images: floats in ``[-1, 1]`` of any shape: NumPy or array-like (returns NumPy), or a
            TensorFlow tensor, eager or symbolic (returns a ``tf.uint8`` tensor: graphs use it).

    Returns:
        ``uint8`` images of the same shape.
    """
    if type(images).__module__.startswith("tensorflow"):
        import tensorflow as tf  # e.g. a symbolic tensor inside a traced function (export)

        x = tf.cast(images, tf.float32)
        return tf.cast(tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x
    if not (np.issubdtype(x.dtype, np.floating) or x.dtype == np.bool_):
        raise UsageError(f"images must be uint8 (0..255) or floats in [-1, 1], got {x.dtype}")
    return np.clip(np.rint((x.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def from_uint8(images):
    """The inverse mapping, pixels to the models' range: ``x / 127.5 - 1`` as float32 (the
    reader's, LPIPS's and the digit classifier's input). NumPy in, NumPy out; a TensorFlow tensor
    (eager or symbolic, e.g. inside ``tf.data``) in, a ``tf.float32`` tensor out."""
    if type(images).__module__.startswith("tensorflow"):
        import tensorflow as tf

        return tf.cast(images, tf.float32) / 127.5 - 1.0
    return np.asarray(images, np.float32) / 127.5 - 1.0


def _as_nhwc_uint8(images) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:  # [N, H, W] grayscale
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected images [N, H, W, C] with C in (1, 3, 4), got shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating):
        return to_uint8(x)
    if x.dtype != np.uint8:
        raise ValueError(f"expected uint8 or float images in [-1, 1], got {x.dtype}")
    return x


def grid_shape(num_images: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of a grid for ``num_images``: ``cols`` defaults to ceil(sqrt(n)) (square-ish)."""
    if num_images < 1:
        raise ValueError("a grid needs at least one image")
    if cols is None:
        cols = math.ceil(math.sqrt(num_images))
    if cols < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    cols = min(cols, num_images)
    return math.ceil(num_images / cols), cols


def make_grid(
    images_uint8,
    cols: int | None = None,
    pad: int = 2,
    pad_value: int | Sequence[int] = 255,
) -> np.ndarray:
    """Tile NHWC images into one image, row-major.

    Args:
        images_uint8: ``uint8 [N, H, W, C]`` (``[N, H, W]`` for grayscale; float input is taken
            as ``[-1, 1]`` and converted with ``to_uint8``).
        cols: images per row; default ``ceil(sqrt(N))``. Missing cells of the last row are
            filled with ``pad_value``.
        pad: pixels of border around and between images.
        pad_value: border colour: an int, or one value per channel.

    Returns:
        ``uint8 [rows * (H + pad) + pad, cols * (W + pad) + pad, C]``.
    """
    x = _as_nhwc_uint8(images_uint8)
    n, h, w, c = x.shape
    rows, cols = grid_shape(n, cols)
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    fill = np.broadcast_to(np.asarray(pad_value, dtype=np.uint8), (c,))
    grid = np.empty((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    grid[...] = fill
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top : top + h, left : left + w] = x[i]
    return grid


def _font(height: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    size = max(8, min(32, int(height * 0.6)))
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or no FreeType: fixed bitmap font
        return ImageFont.load_default()


def label_rows(
    grid: np.ndarray,
    row_labels: Sequence[str],
    cell_height: int,
    pad: int = 2,
    background: int | Sequence[int] = 255,
    color: int | Sequence[int] = 0,
) -> np.ndarray:
    """Prepend a column with one text label per grid row (vertically centred on the row).

    Args:
        grid: ``uint8 [Hg, Wg, C]`` made by ``make_grid`` with the same ``pad``.
        row_labels: one string per row.
        cell_height: image height ``H`` used for the grid.
        pad: the grid's padding.
        background, color: label column and text colours (int or per channel).

    Returns:
        ``uint8 [Hg, label_width + Wg, C]``.
    """
    c = grid.shape[-1]
    rows = (grid.shape[0] - pad) // (cell_height + pad)
    if len(row_labels) != rows:
        raise ValueError(f"{len(row_labels)} row labels for a grid of {rows} rows")
    font = _font(cell_height)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    widths = [probe.textbbox((0, 0), str(t), font=font)[2] for t in row_labels]
    label_w = max(widths) + 2 * max(pad, 2)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[c]

    def colour(v):
        v = tuple(np.broadcast_to(np.asarray(v, dtype=np.uint8), (c,)).tolist())
        return v[0] if c == 1 else v

    column = Image.new(mode, (label_w, grid.shape[0]), colour(background))
    draw = ImageDraw.Draw(column)
    for r, text in enumerate(row_labels):
        centre = pad + r * (cell_height + pad) + cell_height / 2
        draw.text((max(pad, 2), centre), str(text), fill=colour(color), font=font, anchor="lm")
    col = np.asarray(column, dtype=np.uint8)
    if col.ndim == 2:
        col = col[..., None]
    return np.concatenate([col, grid], axis=1)


def encode_png(image: np.ndarray, text: dict | None = None) -> bytes:
    """``uint8 [H, W, C]`` -> PNG bytes (grayscale for C = 1).

    ``text``: ``{key: str}`` written as PNG ``tEXt`` chunks (``read_png_text`` reads them back;
    keys are Latin-1, 1-79 characters, as the PNG specification requires).
    """
    from PIL.PngImagePlugin import PngInfo

    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    info = None
    if text:
        info = PngInfo()
        for key, value in text.items():
            info.add_text(str(key), str(value))
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def read_png_text(data_or_path) -> dict:
    """The ``tEXt`` / ``iTXt`` chunks of a PNG (bytes or a local path) as ``{key: str}``."""
    src = io.BytesIO(data_or_path) if isinstance(data_or_path, (bytes, bytearray)) else data_or_path
    with Image.open(src) as im:
        im.load()
        return dict(getattr(im, "text", {}) or {})


def upscale(images, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``[..., H, W, C]`` images by an integer ``factor``."""
    x = np.asarray(images)
    if factor == 1:
        return x
    if factor < 1:
        raise ValueError(f"zoom factor must be >= 1, got {factor}")
    return np.repeat(np.repeat(x, factor, axis=-3), factor, axis=-2)


ANIMATION_FORMATS = (".gif", ".webp", ".mp4")


def save_animation(path: str, frames, fps: float = 12.0, boomerang: bool = True) -> str:
    """Write ``uint8 [F, H, W, C]`` frames as a looping animation; the format follows the suffix.

    ``.gif`` (Pillow; an adaptive palette per frame, so colours are approximate) and ``.webp``
    (Pillow, lossless: the frames' pixels exactly) always work; ``.mp4`` needs the optional
    ``imageio-ffmpeg`` package (``UsageError`` naming it otherwise). ``boomerang`` appends the
    frames in reverse (without repeating the ends) so the loop goes there and back smoothly.
    Local paths only (written atomically). Returns ``path``.
    """
    x = _as_nhwc_uint8(frames)
    ext = os.path.splitext(path)[1].lower()
    if ext not in ANIMATION_FORMATS:
        raise UsageError(f"animation {path!r}: the name must end in one of {', '.join(ANIMATION_FORMATS)}")
    if fps <= 0:
        raise UsageError(f"fps must be > 0, got {fps}")
    if boomerang and len(x) > 2:
        x = np.concatenate([x, x[-2:0:-1]], axis=0)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    if ext == ".mp4":
        try:
            import imageio_ffmpeg
        except ImportError:
            raise UsageError(f"{path}: MP4 needs the optional package imageio-ffmpeg "
                             "(`pip install imageio-ffmpeg`); .gif and .webp need nothing") from None
        rgb = np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x[..., :3]
        h, w = rgb.shape[1:3]
        pad_h, pad_w = h % 2, w % 2  # yuv420p needs even sides
        rgb = np.pad(rgb, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        tmp = path + ".tmp.mp4"
        writer = imageio_ffmpeg.write_frames(tmp, (w + pad_w, h + pad_h), fps=fps, quality=8,
                                             pix_fmt_out="yuv420p", macro_block_size=1)
        writer.send(None)
        for frame in rgb:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        os.replace(tmp, path)
        return path
    images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in x]
    buf = io.BytesIO()
    duration = int(round(1000.0 / fps))
    if ext == ".gif":
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=duration, disposal=1, optimize=False)
    else:
        images[0].save(buf, format="WEBP", save_all=True, append_images=images[1:], loop=0,
                       duration=duration, lossless=True)
    fileio.write_bytes_atomic(path, buf.getvalue())
    return path


def save_grid(
    path: str,
    images,
    cols: int | None = None,
    row_labels: Sequence[str] | None = None,
    pad: int = 2,
    pad_value: int | Sequence[int] = 255,
    text: dict | None = None,
) -> np.ndarray:
    """Write a grid of images as a PNG (atomically; local paths or any Beam filesystem URL).

    Args:
        path: output ``.png`` path; local parent directories are created.
        images: ``uint8 [N, H, W, C]`` or float in ``[-1, 1]`` (see ``make_grid``).
        cols: images per row (default square-ish).
        row_labels: optional text per grid row, drawn in a column on the left.
        pad, pad_value: see ``make_grid``.
        text: optional ``{key: str}`` PNG text chunks (``encode_png``).

    Returns:
        The ``uint8 [H, W, C]`` array written.
    """
    x = _as_nhwc_uint8(images)
    grid = make_grid(x, cols=cols, pad=pad, pad_value=pad_value)
    if row_labels is not None:
        ink = 0 if float(np.mean(pad_value)) >= 128 else 255  # contrast with the background
        grid = label_rows(
            grid, row_labels, cell_height=x.shape[1], pad=pad, background=pad_value, color=ink
        )
    if not fileio.is_remote(path):
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    fileio.write_bytes_atomic(path, encode_png(grid, text))
    return grid
