#!/usr/bin/env python
"""Benchmark protonet (and PyTorch, with --compare torch): the same as `protonet bench`.

    .venv/bin/python scripts/bench.py --compare torch --threads 1 --threads 2 --json bench.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protonet.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["bench"]
    main()
