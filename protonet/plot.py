"""Figures of training runs with matplotlib (the optional extra `protonet[plot]`): PNG or SVG.

One row of panels for the curves: loss (every output not named like an accuracy; a log scale when
the values are positive and span a factor of 10 or more), accuracy (outputs whose name holds "acc")
and learning rate. Each run and output has its own colour (loss_mlp and accuracy_mlp share one;
matplotlib's ten colours, or its twenty past ten runs); train curves are solid, test curves dashed
(further test nets dotted). Each panel has its legend, or, past a few entries, the figure has one
beside the panels. With decision boundaries, a
second row holds one panel each: the predicted class as shaded regions, the records as dots
coloured by their class.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .boundary import Boundary
from .curves import Curves
from .errors import ConfigError
from .extras import require
from .io import atomic_write

FORMATS = (".png", ".svg")
PANEL_SIZE = (3.6, 2.7)  # inches
DPI = 80
STYLES = {"train": "-", "test": "--"}
SUBJECT = re.compile(r"^(loss|accuracy|acc)(_|$)")
LOG_RANGE = 10  # a panel other than accuracy gets a log scale when its values are positive and span this factor
PANEL_LEGEND_MAX = 6  # more legend entries than this go into one legend beside the panels


def matplotlib_figure() -> Any:
    """matplotlib's Figure class (no pyplot, no display needed), or a ConfigError naming the extra."""
    return require("matplotlib.figure", "plot", "drawing figures needs matplotlib, which is not installed").Figure


def check_output(out: str | Path) -> Path:
    """`out` as a Path, or a ConfigError when it is not a .png or .svg name."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot draw to '{out.name}': the figure is written as PNG or SVG",
                          hint="end the output name in .png or .svg")
    return out


def draw(runs: Sequence[Curves], out: str | Path, *, boundaries: Sequence[Boundary] = (), title: str = "") -> Path:
    """Write the figure of `runs` (and `boundaries`) to `out`, a .png or .svg file, atomically."""
    out = check_output(out)
    panels = _panels(runs)
    if not panels and not boundaries:
        raise ConfigError("nothing to draw: the runs hold no curves")
    rows = [row for row in (panels, boundaries) if row]
    columns = max(len(row) for row in rows)
    figure = matplotlib_figure()(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * len(rows)),
                                 dpi=DPI, layout="constrained")
    grid = figure.subplots(len(rows), columns, squeeze=False)
    if panels:
        colours = _colours(runs)
        legends = [_curve_panel(axes, name, series, colours, several=len(runs) > 1)
                   for axes, (name, series) in zip(grid[0], panels.items())]
        _legends(figure, grid[0], legends)
    for axes, boundary in zip(grid[-1], boundaries):
        _boundary_panel(axes, boundary)
    for row, axes_row in zip(rows, grid):
        for axes in axes_row[len(row):]:
            axes.set_axis_off()
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=out.suffix.lower()[1:], metadata=_metadata(out))
    atomic_write(out, _palette_png(buffer.getvalue()) if out.suffix.lower() == ".png" else buffer.getvalue())
    return out


def _palette_png(data: bytes) -> bytes:
    """The PNG with a palette of 256 colours: a third of the size, alike to the eye (Pillow comes with
    matplotlib)."""
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buffer, "png", optimize=True)
    return buffer.getvalue()


Series = list[tuple[str, str, str, list[int], list[float]]]  # (run, phase, name, iterations, values)


def _panels(runs: Sequence[Curves]) -> dict[str, Series]:
    """Panel title -> its series, for the panels that have any."""
    panels: dict[str, Series] = {"loss": [], "accuracy": [], "learning rate": []}
    for run in runs:
        for (phase, name), (iterations, values) in run.series.items():
            panel = "learning rate" if name == "lr" else "accuracy" if "acc" in name else "loss"
            panels[panel].append((run.label, phase, name, iterations, values))
    return {name: series for name, series in panels.items() if series}


def _colours(runs: Sequence[Curves]) -> dict[tuple[str, str], str]:
    """A colour per (run, subject), in order of first appearance: the subject is the output's name less a
    leading loss/accuracy word, so loss_mlp and accuracy_mlp share one, and "lr" takes its run's first."""
    keys = dict.fromkeys((run.label, _subject(name)) for run in runs for _, name in run.series if name != "lr")
    if len(keys) <= 10:
        return {key: f"C{k}" for k, key in enumerate(keys)}
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = colormaps["tab20"]
    return {key: to_hex(palette(k % 20)) for k, key in enumerate(keys)}


def _subject(name: str) -> str:
    return SUBJECT.sub("", name)


def _curve_panel(axes: Any, title: str, series: Series, colours: dict, *, several: bool) -> list:
    """Draw the series of one panel; return its legend's handles, naming each colour (run and output) and
    each line style (phase)."""
    from matplotlib.lines import Line2D

    low, high = float("inf"), 0.0
    entries: dict[str, str] = {}
    phases: dict[str, None] = {}
    for run, phase, name, iterations, values in series:
        colour = colours.get((run, _subject(name))) or next(c for (r, _), c in colours.items() if r == run)
        axes.plot(iterations, values, STYLES.get(phase, ":"), color=colour, linewidth=1.2)
        words = [run] if several else []
        words += [name] if name != "lr" and _subject(name) else []
        entries.setdefault(" ".join(words), colour)
        phases[phase] = None
        low, high = min(low, *values), max(high, *values)
    if title != "accuracy" and low > 0 and high >= LOG_RANGE * low:
        axes.set_yscale("log")
    axes.set_title(title)
    axes.set_xlabel("iteration")
    axes.grid(alpha=0.3)
    handles = [Line2D([], [], color=colour, label=label) for label, colour in entries.items() if label]
    if len(phases) > 1:
        handles += [Line2D([], [], color="grey", linestyle=STYLES.get(phase, ":"), label=phase) for phase in phases]
    return handles


def _legends(figure: Any, axes_row: Sequence[Any], legends: list[list]) -> None:
    """A legend in each panel that needs one, or, when one would hide its curves, one beside the panels
    with every entry once."""
    if max(len(handles) for handles in legends) <= PANEL_LEGEND_MAX:
        for axes, handles in zip(axes_row, legends):
            if len(handles) > 1:
                axes.legend(handles=handles, fontsize=7)
        return
    entries = {handle.get_label(): handle for handles in legends for handle in handles}
    figure.legend(handles=list(entries.values()), fontsize=7, loc="outside right upper")


def _boundary_panel(axes: Any, boundary: Boundary) -> None:
    count = int(max(boundary.classes.max(), boundary.labels.max())) + 1
    levels = np.arange(count + 1) - 0.5
    axes.contourf(boundary.xs, boundary.ys, boundary.classes, levels=levels, cmap="coolwarm", alpha=0.35,
                   rasterized=True)
    axes.scatter(boundary.points[:, 0], boundary.points[:, 1], c=boundary.labels, cmap="coolwarm", s=5,
                 vmin=0, vmax=count - 1, linewidths=0, rasterized=True)  # an SVG holds them as one image
    axes.set_title(f"{boundary.label}: {boundary.accuracy:.1%} right", fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def _metadata(out: Path) -> dict[str, Any]:
    """No date in an SVG, so the same figure gives the same bytes (committed figures stay put)."""
    return {"Date": None} if out.suffix.lower() == ".svg" else {}
