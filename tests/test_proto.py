"""The generated module matches proto/protonet.proto, and the schema keeps Caffe's field numbers."""

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import descriptor_pb2

from protonet.proto import pb

ROOT = Path(__file__).resolve().parents[1]


def test_generated_module_is_fresh(tmp_path):
    protoc = pytest.importorskip("grpc_tools.protoc")
    out = tmp_path / "set.pb"
    rc = protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"--descriptor_set_out={out}",
                      str(ROOT / "proto" / "protonet.proto")])
    assert rc == 0
    committed = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in [*fresh.message_type, *committed.message_type]:
        _normalise(message)
    assert fresh == committed, "protonet_pb2.py is stale: run python scripts/gen_proto.py"


def _normalise(message: descriptor_pb2.DescriptorProto) -> None:
    """Drop what only one side spells out: json names, and float defaults' decimal spelling."""
    for field in message.field:
        field.ClearField("json_name")
        if field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE) and field.HasField("default_value"):
            field.default_value = str(np.float32(float(field.default_value)))
    for nested in message.nested_type:
        _normalise(nested)


@pytest.mark.parametrize(("message", "field", "number"), [
    ("NetParameter", "layer", 100), ("NetParameter", "layers", 2), ("NetParameter", "input_dim", 4),
    ("LayerParameter", "convolution_param", 106), ("LayerParameter", "batch_norm_param", 139),
    ("LayerParameter", "blobs", 7), ("BlobProto", "shape", 7), ("BlobProto", "data", 5),
    ("BlobProto", "double_data", 8), ("SolverParameter", "base_lr", 5), ("SolverParameter", "type", 40),
    ("SolverState", "history", 3), ("PoolingParameter", "round_mode", 13), ("Datum", "float_data", 6),
    ("V1LayerParameter", "blobs_lr", 7), ("ParamSpec", "decay_mult", 4),
])
def test_caffe_field_numbers(message, field, number):
    assert getattr(pb, message).DESCRIPTOR.fields_by_name[field].number == number


def test_own_fields_are_numbered_from_1000():
    caffe_max = {"DataParameter": 10, "PoolingParameter": 13, "SolverState": 4}
    for name, highest in caffe_max.items():
        for field in getattr(pb, name).DESCRIPTOR.fields:
            assert field.number <= highest or field.number >= 1000, (name, field.name)
