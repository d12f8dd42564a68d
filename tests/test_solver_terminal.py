"""Training on a terminal: the progress bar and the log lines, each line printed once."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

from tests.test_crash_helpers import ENV, SMALL_NET, SMALL_SOLVER, cli_args, write_run


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_each_log_line_prints_once_under_a_terminal(tmp_path: Path):
    solver = write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER}\nmax_iter: 20\ndisplay: 10\nsnapshot: 0")
    args = [a for a in cli_args(solver) if a != "--no-progress"]
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a bar needs a width
    process = subprocess.Popen(args, env=ENV, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    try:
        output = read_all(leader).decode(errors="replace")
    finally:
        os.close(leader)
        process.wait(timeout=60)
    assert process.returncode == 0, output
    assert "it/s" in output or "train:" in output  # the bar was drawn: this was a terminal
    for line in ("Solving small", "Iteration 10, loss = ", "Iteration 10, lr = 0.1", "Optimization Done."):
        assert output.count(line) == 1, output
    assert output.count("Train net output #0: loss") == 3, output  # iterations 0, 10 and 20
