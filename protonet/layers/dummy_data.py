"""DummyData: tops of fixed shapes, refilled by fillers on every forward."""

from __future__ import annotations

from ..fillers import fill
from ..proto import pb
from .base import Blobs, Layer
from .registry import register


@register("DummyData")
class DummyData(Layer):
    """Tops of fixed shapes (shape, or legacy num/channels/height/width) refilled by data_filler each forward.

    One value of a field applies to every top; otherwise give one per top. No filler means constant 0.
    """

    bottoms = (0, 0)
    tops = (1, None)
    has_backward = False

    def _per_top(self, field: str, values: list, count: int) -> list:
        if len(values) not in (1, count):
            raise self.error(f"dummy_data_param has {len(values)} {field} values for {count} tops",
                             hint="give one for all tops, or one per top")
        return values * count if len(values) == 1 else values

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.dummy_data_param
        n = len(top)
        legacy = {f: list(getattr(p, f)) for f in ("num", "channels", "height", "width")}
        if any(legacy.values()) and p.shape:
            raise self.error("dummy_data_param gives both shape and num/channels/height/width",
                             hint="keep only shape")
        if any(legacy.values()):
            columns = [self._per_top(f, v, n) for f, v in legacy.items()]
            shapes = [tuple(dims) for dims in zip(*columns, strict=True)]
        else:
            shapes = [tuple(s.dim) for s in self._per_top("shape", list(p.shape), n)]
        self.fillers = self._per_top("data_filler", list(p.data_filler), n) if p.data_filler else \
            [pb.FillerParameter()] * n
        for blob, shape in zip(top, shapes, strict=True):
            if any(d <= 0 for d in shape):
                raise self.error(f"dummy data shape {list(shape)} has a zero or negative dimension")
            blob.reshape(shape)
        self.forward(bottom, top)  # filled from the start, as Caffe (which also checks the fillers here)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """The shapes are fixed at setup."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        for blob, filler in zip(top, self.fillers, strict=True):
            fill(blob.data, filler, self.ctx.rng)
