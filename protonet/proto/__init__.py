"""The generated message classes of proto/protonet.proto (Caffe-compatible on the wire)."""

from . import protonet_pb2 as pb

__all__ = ["pb"]
