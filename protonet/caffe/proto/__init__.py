"""`caffe.proto.caffe_pb2`: protonet's schema module (Caffe's messages, names and field numbers)."""

import sys

from ...proto import pb as caffe_pb2

sys.modules[f"{__name__}.caffe_pb2"] = caffe_pb2  # `import protonet.caffe.proto.caffe_pb2` works too

__all__ = ["caffe_pb2"]
