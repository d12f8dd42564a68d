"""`protonet export`: a net and its weights as an ONNX model."""

from __future__ import annotations

import click

from .group import cli


@cli.command("export")
@click.option("--model", required=True, help="Net definition (.prototxt or .yaml), or zoo:NAME.")
@click.option("--weights", required=True, help="Trained weights (.caffemodel or .npz), or zoo:NAME.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=N,C,H,W",
              help="Give input blob NAME this shape (repeatable); its batch is then fixed, else symbolic.")
@click.option("--opset", type=int, default=None, help="ONNX opset version [default: 17].")
@click.argument("output", type=click.Path(dir_okay=False))
def export(model: str, weights: str, input_shapes: tuple[str, ...], opset: int | None, output: str) -> None:
    """Write the net's TEST-phase forward to OUTPUT (.onnx), inputs and outputs named after the Caffe blobs."""
    from ..onnx_export import DEFAULT_OPSET, parse_input_shape
    from ..onnx_export import export as export_onnx
    from ..zoo import resolve_model, resolve_weights

    shapes = dict(parse_input_shape(spec) for spec in input_shapes)
    opset = opset or DEFAULT_OPSET
    onnx_model = export_onnx(resolve_model(model), output, weights=resolve_weights(weights), input_shapes=shapes,
                             opset=opset)
    graph = onnx_model.graph
    click.echo(f"wrote {output} (opset {opset}; inputs {describe(graph.input)}; "
               f"outputs {describe(graph.output)})")


def describe(values) -> str:
    """'data [batch,3,224,224], ...' from ONNX value infos."""
    def dims(value) -> str:
        return ",".join(d.dim_param or str(d.dim_value) for d in value.type.tensor_type.shape.dim)

    return ", ".join(f"{value.name} [{dims(value)}]" for value in values)
