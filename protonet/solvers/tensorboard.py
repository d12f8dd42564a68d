"""TensorBoard event files for a run (tensorboardX, the optional extra `protonet[tensorboard]`).

Scalars, by the metrics event they come from: `train/loss`, `train/lr`, `train/<output>`,
`train/seconds_per_iter` (wall time since the previous display, per iteration) and
`test<k>/loss`, `test<k>/<output>`; an output of several values gives `<output>/<i>`.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..extras import require


class TensorBoard:
    """Each event is written as it comes (tensorboardX's synchronous EventsWriter: its SummaryWriter queues
    events for a thread that may not have run when the process ends)."""

    def __init__(self, folder: str | Path, start: int) -> None:
        """Events go to a new file in `folder`; a resumed run (start > 0) marks `start` so that TensorBoard
        drops the folder's older events from there on, as the metrics file does."""
        require("tensorboardX", "tensorboard", "--tensorboard needs the tensorboardX package, which is not installed")
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog
        from tensorboardX.summary import scalar

        Path(folder).mkdir(parents=True, exist_ok=True)
        self.writer, self.scalar, self.new_event = EventsWriter(str(Path(folder) / "events")), scalar, Event
        if start:
            self.writer.write_event(Event(step=start, wall_time=time.time(),
                                          session_log=SessionLog(status=SessionLog.START)))
        self.last: tuple[int, float] | None = None  # (iteration, seconds) of the previous train event

    def event(self, fields: dict) -> None:
        iteration = fields["iter"]
        tag = "train" if fields["phase"] == "train" else f"test{fields['net']}"
        scalars = {"loss": fields["loss"], **_flat(fields["outputs"])}
        if tag == "train":
            scalars["lr"] = fields["lr"]
            if self.last is not None and iteration > self.last[0]:
                scalars["seconds_per_iter"] = (fields["seconds"] - self.last[1]) / (iteration - self.last[0])
            self.last = iteration, fields["seconds"]
        for name, value in scalars.items():
            self.writer.write_event(self.new_event(step=iteration, wall_time=time.time(),
                                                   summary=self.scalar(f"{tag}/{name}", value)))

    def flush(self) -> None:
        self.writer.flush()


def _flat(outputs: dict[str, float | list[float]]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for name, value in outputs.items():
        if isinstance(value, list):
            flat.update({f"{name}/{i}": v for i, v in enumerate(value)})
        else:
            flat[name] = value
    return flat
