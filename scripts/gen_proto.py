"""Regenerate protonet/proto/protonet_pb2.py from proto/protonet.proto.

Needs grpcio-tools (a test extra): ``python scripts/gen_proto.py``.
tests/test_proto.py fails when the committed module is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from grpc_tools import protoc

    out = ROOT / "protonet" / "proto"
    args = ["protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}", str(ROOT / "proto" / "protonet.proto")]
    return protoc.main(args)


if __name__ == "__main__":
    sys.exit(main())
