"""A net described as a table: layer, type, bottoms -> tops with shapes, parameters, FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

from .net import Net


@dataclass
class LayerRow:
    name: str
    type: str
    bottoms: list[str]
    tops: list[tuple[str, tuple[int, ...]]]
    params: int
    flops: int


def product_flops(net: Net, index: int) -> int:
    """Forward FLOPs of one layer's matrix products, 2 x MACs (0 for a layer without a weight matrix):
    2 * top count * fan-in, Deconvolution's 2 * bottom count * fan-in."""
    layer = net.layers[index]
    bottom, top = net._io(index)
    if not (layer.blobs and layer.blobs[0].num_axes >= 2 and top):
        return 0
    weight = layer.blobs[0]
    fan_in = weight.count // weight.shape[0]
    if layer.type == "Deconvolution":
        return 2 * bottom[0].count * fan_in
    if layer.type == "InnerProduct" and layer.param.inner_product_param.transpose:
        fan_in = weight.shape[0]
    return 2 * top[0].count * fan_in


def flops_of(net: Net, index: int) -> int:
    """Forward FLOPs of one layer: its products' (`product_flops`), else one per output value."""
    return product_flops(net, index) or sum(t.count for t in net._io(index)[1])


def describe(net: Net) -> list[LayerRow]:
    rows = []
    for i, layer in enumerate(net.layers):
        rows.append(LayerRow(layer.name, layer.type, net.bottom_names[i],
                             [(t, net.blobs[t].shape) for t in net.top_names[i]],
                             sum(b.count for b in layer.blobs), flops_of(net, i)))
    return rows


def learnable_count(net: Net) -> int:
    """Learnable values, each shared parameter counted once."""
    return sum(p.blob.count for p in net.learnable if p.lr_mult != 0)


def format_table(net: Net) -> str:
    rows = describe(net)
    lines = [f"{'layer':<22} {'type':<18} {'bottoms -> tops (shapes)':<58} {'params':>10} {'FLOPs':>14}"]
    for r in rows:
        tops = ", ".join(f"{n} {'x'.join(map(str, s)) or 'scalar'}" for n, s in r.tops)
        flow = f"{', '.join(r.bottoms) or '-'} -> {tops or '-'}"
        lines.append(f"{r.name:<22} {r.type:<18} {flow:<58} {r.params:>10,} {r.flops:>14,}")
    total_params = learnable_count(net)
    lines.append(f"{'total':<22} {len(rows)} layers{'':<44} {total_params:>10,} "
                 f"{sum(r.flops for r in rows):>14,}")
    return "\n".join(lines)
