"""Image files decoded with Pillow (the optional extra `protonet[images]`), laid out as OpenCV does.

A colour image is (3, H, W) uint8 in BGR channel order (OpenCV's, so means and weights made for
Caffe fit), a grey one (1, H, W); grey files read as colour repeat their one channel, colour files
read as grey are converted with Y = 0.299 R + 0.587 G + 0.114 B, and an alpha channel is dropped,
as OpenCV's IMREAD_COLOR / IMREAD_GRAYSCALE do. Resizing is bilinear; unlike OpenCV's, Pillow's
filter also smooths when it shrinks, so shrunk pixels can differ slightly from Caffe's.

An image's size is checked against max_elements() (protonet.blob) before it is decoded, and a
damaged or unknown file is a DataError naming the list entry, whatever Pillow raised.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from types import ModuleType

import numpy as np

from ..blob import LIMIT_VARIABLE, check_shape, max_elements
from ..errors import DataError
from ..extras import require
from ..io import read_regular

GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")  # Pillow modes OpenCV decodes as one channel
NO_PILLOW = "reading images needs the Pillow package, which is not installed"


def pillow() -> ModuleType:
    """PIL.Image, or a ConfigError saying how to install it."""
    require("PIL", "images", NO_PILLOW)  # the package decides, even where PIL.Image was imported before
    return require("PIL.Image", "images", NO_PILLOW)


def read_image(path: Path, *, color: bool, size: tuple[int, int] | None, source: str,
               line: int) -> np.ndarray:
    """The image at `path` as (C, H, W) uint8, BGR when `color`, resized to `size` = (height, width) if given.

    `source` and `line` (the list entry that named it) locate a DataError for an unreadable file."""
    pillow()
    if size is not None:
        check_size("resized image", size, color, source, line)
    try:
        data = read_regular(path)
    except OSError as exc:
        raise DataError(f"cannot read image '{path}' ({exc.strerror or exc})", file=source, line=line) from None
    return decode_image(data, f"image '{path}'", color=color, size=size, source=source, line=line)


def decode_image(data: bytes, what: str, *, color: bool | None, size: tuple[int, int] | None = None,
                 source: str, line: int | None = None) -> np.ndarray:
    """The image file held in `data` as (C, H, W) uint8: BGR when `color`, grey when not, and as stored
    (grey files grey, others BGR: OpenCV's IMREAD_UNCHANGED, less any alpha) when `color` is None.

    `what` names the image in a DataError located at `source` (and `line`)."""
    image_module = pillow()
    try:
        # from memory: Pillow trusts declared chunk lengths in fp.read(n), which a file would allocate in full
        with image_module.open(io.BytesIO(data)) as image:
            if color is None:
                color = image.mode not in GREY_MODES
            check_size(what, image.size[::-1], color, source, line)  # before decoding
            image = image.convert("RGB" if color else "L")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), image_module.BILINEAR)
            pixels = np.asarray(image)
    except image_module.DecompressionBombError:  # Pillow's own guard: over 2 * MAX_IMAGE_PIXELS pixels
        raise too_large(what, 2 * image_module.MAX_IMAGE_PIXELS, bool(color), source, line) from None
    except (OSError, ValueError, NotImplementedError, SyntaxError, IndexError, TypeError, struct.error) as exc:
        # what Pillow's plugins raise on a damaged file: Image.open catches the last four, load() does not
        reason = "unknown format" if isinstance(exc, image_module.UnidentifiedImageError) else exc  # not the BytesIO
        raise DataError(f"cannot decode {what} ({reason})", file=source, line=line,
                        hint="the file is not an image Pillow reads, or it is truncated") from None
    return pixels[:, :, ::-1].transpose(2, 0, 1) if color else pixels[None]


def check_size(what: str, size: tuple[int, int], color: bool, source: str, line: int | None) -> tuple[int, ...]:
    """(C, H, W) of an image of `size` = (height, width), checked against max_elements()."""
    try:
        return check_shape((3 if color else 1, *size), what, DataError, file=source)
    except DataError as exc:
        raise exc.located(line=line) from None


def too_large(what: str, pixels: int, color: bool, source: str, line: int | None) -> DataError:
    """The error for an image Pillow refused, knowing only that it has over `pixels` pixels."""
    limit = max_elements()
    if (3 if color else 1) * (pixels + 1) > limit:
        return DataError(f"{what} of over {pixels} pixels exceeds the limit of {limit} elements per array",
                         file=source, line=line, hint=f"set {LIMIT_VARIABLE} (or --max-elements) higher "
                                                      "if this is intended")
    return DataError(f"{what} of over {pixels} pixels exceeds Pillow's decompression-bomb limit",
                     file=source, line=line, hint="raise PIL.Image.MAX_IMAGE_PIXELS if this is intended")
