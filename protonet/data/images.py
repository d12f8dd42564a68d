"""Image files decoded with Pillow (the optional extra `protonet[images]`), laid out as OpenCV does.

A colour image is (3, H, W) uint8 in BGR channel order (OpenCV's, so means and weights made for
Caffe fit), a grey one (1, H, W); grey files read as colour repeat their one channel, colour files
read as grey are converted with Y = 0.299 R + 0.587 G + 0.114 B, and an alpha channel is dropped,
as OpenCV's IMREAD_COLOR / IMREAD_GRAYSCALE do. Resizing is bilinear; unlike OpenCV's, Pillow's
filter also smooths when it shrinks, so shrunk pixels can differ slightly from Caffe's.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import ConfigError, DataError


def pillow() -> ModuleType:
    """PIL.Image, or a ConfigError saying how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise ConfigError("reading images needs the Pillow package, which is not installed",
                          hint="pip install protonet[images]") from None
    return Image


def read_image(path: Path, *, color: bool, size: tuple[int, int] | None, source: str,
               line: int) -> np.ndarray:
    """The image at `path` as (C, H, W) uint8, BGR when `color`, resized to `size` = (height, width) if given.

    `source` and `line` (the list entry that named it) locate a DataError for an unreadable file."""
    image_module = pillow()
    try:
        with image_module.open(path) as image:
            image = image.convert("RGB" if color else "L")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), image_module.BILINEAR)
            pixels = np.asarray(image)
    except (OSError, ValueError) as exc:  # Pillow's UnidentifiedImageError is an OSError
        raise DataError(f"cannot decode image '{path}' ({exc})", file=source, line=line,
                        hint="the file is not an image Pillow reads, or it is truncated") from None
    return pixels[:, :, ::-1].transpose(2, 0, 1) if color else pixels[None]
