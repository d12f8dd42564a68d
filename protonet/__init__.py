"""protonet: Caffe-style, config-driven deep learning in Python and numpy."""

from .blob import Blob
from .errors import ProtonetError
from .net import Net
from .solvers import Solver

__version__ = "0.1.0"

__all__ = ["Blob", "Net", "ProtonetError", "Solver", "__version__"]
