"""The layer contract (Caffe's): setup, reshape, forward, backward; parameters in `blobs`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from google.protobuf import text_format

from ..blob import Blob
from ..errors import ConfigError
from ..proto import pb

Blobs = list[Blob]


@dataclass
class LayerContext:
    """What a layer may know of the net it lives in."""

    phase: int = pb.TEST
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng())
    base_dir: Path = field(default_factory=Path.cwd)
    seed: int | None = None  # the net's seed, for sources that derive their own streams (shuffling)

    @property
    def training(self) -> bool:
        return self.phase == pb.TRAIN


class Layer:
    """Base class. Subclasses set `bottoms`/`tops` (min, max; None = unbounded) and override the four methods.

    `forward` writes `top[i].data`; `backward` writes (overwrites) `bottom[i].diff` where
    `propagate_down[i]`, and adds (accumulates) into `self.blobs[j].diff`.
    """

    type: ClassVar[str] = ""
    bottoms: ClassVar[tuple[int, int | None]] = (1, 1)
    tops: ClassVar[tuple[int, int | None]] = (1, 1)
    is_loss: ClassVar[bool] = False  # loss layers weigh their first top 1 by default
    has_backward: ClassVar[bool] = True
    runs_parts: ClassVar[bool] = False  # whether it runs batch parts on protonet's threads (ops.parallel.run)
    # False when the net never sends this layer's gradients to its bottoms (an inference net): forward
    # may then skip what only backward reads (pooling's argmax). Set by the Net; True standing alone.
    bottom_grads_needed: bool = True

    def __init__(self, param: pb.LayerParameter, ctx: LayerContext | None = None) -> None:
        self.param = param
        self.ctx = ctx or LayerContext()
        self.name = param.name
        self.blobs: Blobs = []

    # -- the contract -------------------------------------------------------------------------

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        """Read parameters, check bottoms, create and fill `self.blobs` (once)."""

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """Shape the tops (and internal buffers) for the current bottom shapes."""
        raise NotImplementedError

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        raise NotImplementedError

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if any(propagate_down):
            raise ConfigError(f"{self.type} layers cannot propagate gradients to their inputs", layer=self.name)

    # -- helpers shared by layers --------------------------------------------------------------

    def allow_force_backward(self, bottom_index: int) -> bool:
        return True

    def supports_channels_last(self) -> bool:
        """Whether forward and backward work on bottoms and tops of either memory layout, (N, C, H, W) or
        channels-last (N, H, W, C), with the same results; the Net then may lay activations out channels-last."""
        return False

    def make_param(self, shape: tuple[int, ...], filler: pb.FillerParameter | None) -> Blob:
        """A new learnable blob of `shape`, filled by `filler` (constant 0 when absent)."""
        from ..fillers import fill

        blob = Blob(shape, self.ctx.dtype)
        fill(blob.data, filler if filler is not None else pb.FillerParameter(), self.ctx.rng)
        return blob

    def error(self, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, layer=self.name, hint=hint)

    def get_config(self) -> pb.LayerParameter:
        """The layer described as its LayerParameter (without weights): rebuild with `from_config`."""
        config = pb.LayerParameter()
        config.CopyFrom(self.param)
        config.ClearField("blobs")
        return config

    @classmethod
    def from_config(cls, config: pb.LayerParameter | str, ctx: LayerContext | None = None) -> Layer:
        if isinstance(config, str):
            config = text_format.Parse(config, pb.LayerParameter())
        return cls(config, ctx)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def canonical_axis(axis: int, num_axes: int, layer: str) -> int:
    if not -num_axes <= axis < max(num_axes, 1):
        raise ConfigError(f"axis {axis} is out of range for a {num_axes}-axis input", layer=layer)
    return axis % max(num_axes, 1)
