"""The predict command: classify image files, .npy arrays or IDX files with a zoo model or a deploy net."""

from __future__ import annotations

import json

import click

from .group import cli


@cli.command()
@click.option("--model", required=True, help="zoo:NAME, or a deploy net (then give --weights).")
@click.option("--weights", default=None, help="Weights for a deploy net (.caffemodel or .npz), or zoo:NAME.")
@click.option("--top-k", "k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True,
              help="Records per forward pass.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record instead of text.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def predict(model: str, weights: str | None, k: int, batch: int, as_json: bool, inputs: tuple[str, ...]) -> None:
    """Print the top-k classes of each input: an image (PNG, JPEG, ...), an .npy array or an IDX file
    (one line per record), prepared as the model's TEST data layer prepared its records."""
    import numpy as np

    from ..predict import load_predictor, top_k

    if weights is None and not model.startswith("zoo:"):
        raise click.UsageError("give --weights (or a zoo:NAME model, whose weights come with it)")
    predictor = load_predictor(model, weights)
    records = [(path, i, record) for path in inputs for i, record in enumerate(predictor.read(path))]
    batch_input = predictor.prepare(np.stack([record for _, _, record in records]))
    probabilities = predictor.probabilities(batch_input, batch)
    many = {path for path, i, _ in records if i > 0}
    for (path, i, _), best in zip(records, top_k(probabilities, k, predictor.labels), strict=True):
        name = f"{path}[{i}]" if path in many else path
        if as_json:
            click.echo(json.dumps({"input": name, "top": best}))
        else:
            click.echo(f"{name}: " + ", ".join(f"{item['label']} {item['prob']:.4f}" for item in best))
