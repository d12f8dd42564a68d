"""Input: tops whose values the user (or a data pipeline) supplies."""

from __future__ import annotations

from .base import Blobs, Layer
from .registry import register


@register("Input")
class Input(Layer):
    """Net inputs of the shapes in input_param (one shape for all tops, or one per top)."""

    bottoms = (0, 0)
    tops = (1, None)
    has_backward = False

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        shapes = self.param.input_param.shape
        if len(shapes) not in (0, 1, len(top)):
            raise self.error(f"input_param has {len(shapes)} shapes for {len(top)} tops",
                             hint="give one shape, or one per top")
        for k, blob in enumerate(top):
            if shapes:
                dims = tuple(shapes[0 if len(shapes) == 1 else k].dim)
                if any(d <= 0 for d in dims):
                    raise self.error(f"input shape {list(dims)} has a zero or negative dimension")
                blob.reshape(dims)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """Input shapes change only when the user reshapes the blobs."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        """The data is already in the tops."""
