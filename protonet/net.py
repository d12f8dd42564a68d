"""Net: a DAG of layers joined by named blobs, built with Caffe's rules (src/caffe/net.cpp)."""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .blob import Blob
from .errors import ConfigError, ProtonetError, WeightsError
from .layers.base import Layer, LayerContext
from .layers.registry import layer_class
from .net_rules import blob_hint, filter_net, insert_splits, parse_phase
from .ops import parallel
from .proto import pb

log = logging.getLogger("protonet")

# ------------------------------------------------------------------ the net


@dataclass
class LearnableParam:
    """A learnable blob owned by one layer (shared ones appear once), with its multipliers."""

    blob: Blob
    layer: str
    index: int
    lr_mult: float
    decay_mult: float


class Net:
    """A net built from a NetParameter (or a prototxt/YAML file) for one phase, stages and level.

    The pycaffe-like surface: `blobs`, `params`, `layers`, `inputs`, `outputs`, `forward`,
    `backward`, `reshape`, `copy_from`, `save`.

    With `channels_last` (the default), activations that only convolution, pooling and ReLU layers
    produce and read are laid out (N, H, W, C) in memory, so that those kernels read and write them
    without transposing; every blob keeps Caffe's (N, C, H, W) shape, and inputs and outputs keep
    Caffe's memory order too.
    """

    def __init__(self, model: str | Path | pb.NetParameter, weights: str | Path | None = None,
                 phase: str | int = "TEST", stages: tuple[str, ...] | list[str] = (), level: int = 0,
                 *, dtype: type | np.dtype = np.float32, seed: int | None = None,
                 base_dir: str | Path | None = None, channels_last: bool = True) -> None:
        from .config import load_net
        from .upgrade import upgrade_net

        if isinstance(model, pb.NetParameter):
            param = upgrade_net(model, source=None)
            base = Path(base_dir) if base_dir else Path.cwd()
        else:
            param = load_net(model)
            base = Path(base_dir) if base_dir else Path(model).resolve().parent
        state = pb.NetState(phase=parse_phase(phase), level=level, stage=list(stages))
        self.name = param.name
        self.phase = state.phase
        self.source = None if isinstance(model, pb.NetParameter) else str(model)
        self.ctx = LayerContext(phase=state.phase, dtype=np.dtype(dtype), rng=np.random.default_rng(seed),
                                base_dir=base, seed=seed)
        # observer("forward" | "backward", layer index) runs after each layer: debug_info, fault finding.
        self.observer: Callable[[str, int], None] | None = None
        try:
            self.param = insert_splits(filter_net(param, state))
            self._build()
        except ProtonetError as exc:
            raise self._located(exc) from None
        if channels_last:
            self._lay_out_channels_last()
        if weights:
            self.copy_from(weights)

    # -- construction -----------------------------------------------------------------------

    def _build(self) -> None:
        self.layers: list[Layer] = []
        self._layer_io: list[tuple[list[Blob], list[Blob]]] = []
        self.blobs: OrderedDict[str, Blob] = OrderedDict()
        self.bottom_names: list[list[str]] = []
        self.top_names: list[list[str]] = []
        self.loss_weights: list[list[float]] = []
        self.learnable: list[LearnableParam] = []
        available: dict[str, None] = {}
        owners: dict[str, tuple[Blob, pb.ParamSpec, str]] = {}
        self.inputs: list[str] = []
        names = Counter(lp.name for lp in self.param.layer if lp.name)
        for name in (name for name, count in names.items() if count > 1):
            log.warning("Note: more than one layer is named '%s'; weights by name go to the last", name)
        for lp in self.param.layer:
            try:
                self._add_layer(lp, available, owners)
            except ProtonetError as exc:
                raise exc.located(layer=lp.name) from None
        self.outputs = list(available)
        self._plan_backward()

    def _located(self, exc: ProtonetError) -> ProtonetError:
        """A construction error with this net's file and, when it names a layer, that layer's line."""
        from .config import layer_line

        if self.source is None or exc.file not in (None, self.source):
            return exc
        line = exc.line or (layer_line(self.source, exc.layer) if exc.layer else None)
        return exc.located(file=self.source, line=line)

    def _add_layer(self, lp: pb.LayerParameter, available: dict[str, None],
                   owners: dict[str, tuple[Blob, pb.ParamSpec, str]]) -> None:
        cls = layer_class(lp.type, lp.name)
        if cls.is_loss and not lp.top:  # Caffe's AutoTopBlobs: an anonymous loss output
            lp.top.append(f"{lp.name or lp.type}_(automatic)")
        layer = cls(lp, self.ctx)
        _check_count("bottom", len(lp.bottom), cls.bottoms, lp)
        _check_count("top", len(lp.top), cls.tops, lp)
        bottom = []
        for j, name in enumerate(lp.bottom):
            if name not in self.blobs:
                raise ConfigError(f"unknown bottom blob '{name}' (bottom {j})", layer=lp.name,
                                  hint=blob_hint(name, self.blobs))
            bottom.append(self.blobs[name])
            available.pop(name, None)
        top = []
        for j, name in enumerate(lp.top):
            if j < len(lp.bottom) and lp.bottom[j] == name:
                top.append(self.blobs[name])  # in place
            elif name in self.blobs:
                raise ConfigError(f"top blob '{name}' is produced by more than one layer", layer=lp.name,
                                  hint="give the top another name, or use it in place (top = bottom)")
            else:
                self.blobs[name] = Blob((), self.ctx.dtype)
                top.append(self.blobs[name])
            available[name] = None
        layer.setup(bottom, top)
        layer.reshape(bottom, top)
        self._check_tops(layer, top)
        self._share_params(layer, lp, owners)
        if lp.loss_weight and len(lp.loss_weight) != len(lp.top):
            raise ConfigError(f"loss_weight has {len(lp.loss_weight)} values for {len(lp.top)} tops",
                              layer=lp.name)
        weights = list(lp.loss_weight) or ([1.0] + [0.0] * (len(lp.top) - 1) if cls.is_loss else
                                           [0.0] * len(lp.top))
        if cls.type == "Input":
            self.inputs.extend(lp.top)
        self.layers.append(layer)
        self._layer_io.append((bottom, top))
        self.bottom_names.append(list(lp.bottom))
        self.top_names.append(list(lp.top))
        self.loss_weights.append(weights)

    def _lay_out_channels_last(self) -> None:
        """Make channels-last each 4-D blob, other than an output, whose producer and readers all support it."""
        layers: dict[str, list[Layer]] = {}  # blob name -> its producer, then its readers
        for layer, bottoms, tops in zip(self.layers, self.bottom_names, self.top_names, strict=True):
            for name in tops:
                layers.setdefault(name, [layer])
            for name in bottoms:
                layers[name].append(layer)
        for name, blob in self.blobs.items():
            if blob.num_axes == 4 and name not in self.outputs and len(layers[name]) > 1 and \
                    all(layer.supports_channels_last() for layer in layers[name]):
                blob.use_channels_last()

    def _check_tops(self, layer: Layer, top: list[Blob]) -> None:
        for name, blob in zip(layer.param.top, top):
            if any(d <= 0 for d in blob.shape) and layer.type not in ("Input", "Silence"):
                raise ConfigError(f"output '{name}' would have shape {list(blob.shape)}",
                                  layer=layer.name, hint="check the input size, kernel, stride and pad")

    def _share_params(self, layer: Layer, lp: pb.LayerParameter,
                      owners: dict[str, tuple[Blob, pb.ParamSpec, str]]) -> None:
        if len(lp.param) > len(layer.blobs):
            raise ConfigError(f"{len(lp.param)} param entries for {len(layer.blobs)} parameter blobs",
                              layer=lp.name, hint="remove the extra 'param' entries")
        for i in range(len(layer.blobs)):
            spec = lp.param[i] if i < len(lp.param) else pb.ParamSpec()
            if spec.name and spec.name in owners:
                owner, owner_spec, owner_layer = owners[spec.name]
                mine = layer.blobs[i]
                strict = spec.share_mode != pb.ParamSpec.PERMISSIVE
                if (strict and mine.shape != owner.shape) or mine.count != owner.count:
                    raise ConfigError(f"shared param '{spec.name}' has shape {list(mine.shape)} here but "
                                      f"{list(owner.shape)} in layer '{owner_layer}'", layer=lp.name)
                for mult in ("lr_mult", "decay_mult"):
                    if spec.HasField(mult) and owner_spec.HasField(mult) and \
                            getattr(spec, mult) != getattr(owner_spec, mult):
                        raise ConfigError(f"shared param '{spec.name}' has mismatched {mult}", layer=lp.name)
                layer.blobs[i] = owner
                continue
            if spec.name:
                owners[spec.name] = (layer.blobs[i], spec, lp.name)
            self.learnable.append(LearnableParam(layer.blobs[i], lp.name, i, spec.lr_mult, spec.decay_mult))

    def _plan_backward(self) -> None:
        """Which layers run backward and to which bottoms (Caffe's Init and its pruning pass)."""
        blob_needs: dict[str, bool] = {}
        self.layer_needs_backward: list[bool] = []
        self.bottom_needs_backward: list[list[bool]] = []
        for i, layer in enumerate(self.layers):
            lp = layer.param
            if lp.propagate_down and len(lp.propagate_down) != len(lp.bottom):
                raise ConfigError(f"propagate_down has {len(lp.propagate_down)} values for "
                                  f"{len(lp.bottom)} bottoms", layer=layer.name)
            needs = any(blob_needs.get(b, False) for b in self.bottom_names[i])
            bottoms = [bool(lp.propagate_down[j]) if lp.propagate_down else blob_needs.get(b, False)
                       for j, b in enumerate(self.bottom_names[i])]
            params_learn = any(lp.param[k].lr_mult != 0 if k < len(lp.param) else True
                               for k in range(len(layer.blobs)))
            needs = (needs or params_learn) and layer.has_backward
            for name in self.top_names[i]:
                blob_needs[name] = needs
            self.layer_needs_backward.append(needs)
            self.bottom_needs_backward.append(bottoms)
        under_loss: set[str] = set()
        skip: set[str] = set()
        for i in reversed(range(len(self.layers))):
            contributes = False
            skip_down = True
            for j, name in enumerate(self.top_names[i]):
                if self.loss_weights[i][j] != 0 or name in under_loss:
                    contributes = True
                if name not in skip:
                    skip_down = False
            if self.layer_needs_backward[i] and skip_down or not contributes:
                self.layer_needs_backward[i] = False
                self.bottom_needs_backward[i] = [False] * len(self.bottom_names[i])
            for j, name in enumerate(self.bottom_names[i]):
                if contributes:
                    under_loss.add(name)
                if not self.bottom_needs_backward[i][j]:
                    skip.add(name)
        if self.param.force_backward:
            for i, layer in enumerate(self.layers):
                if not layer.has_backward:
                    continue
                self.layer_needs_backward[i] = True
                self.bottom_needs_backward[i] = [
                    need or layer.allow_force_backward(j) for j, need in enumerate(self.bottom_needs_backward[i])]
        for i, layer in enumerate(self.layers):
            layer.bottom_grads_needed = self.layer_needs_backward[i] and any(self.bottom_needs_backward[i])

    # -- running ----------------------------------------------------------------------------

    def _io(self, i: int) -> tuple[list[Blob], list[Blob]]:
        """Layer i's bottom and top blobs (lists made once, when the layer was added)."""
        return self._layer_io[i]

    def forward(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Run every layer; returns the outputs {name: array}. Inputs given by name are copied in first."""
        for name, value in inputs.items():
            if name not in self.blobs:
                raise ConfigError(f"unknown input blob '{name}'", hint=f"inputs: {', '.join(self.inputs)}")
            value = np.asarray(value)
            if value.shape != self.blobs[name].shape:
                self.blobs[name].reshape(value.shape)
            self.blobs[name].data = value
        self.loss = self._forward_all()
        return {name: self.blobs[name].data for name in self.outputs}

    def _forward_all(self) -> float:
        return self.forward_from_to(0, len(self.layers) - 1)

    def forward_from_to(self, start: int, end: int) -> float:
        """Run layers start..end (indices, inclusive; Caffe's ForwardFromTo); returns their weighted loss."""
        self._choose_product_threads()
        loss = 0.0
        for i in range(start, end + 1):
            layer = self.layers[i]
            bottom, top = self._io(i)
            try:
                layer.reshape(bottom, top)
                layer.forward(bottom, top)
            except ProtonetError as exc:
                raise exc.located(layer=layer.name) from None
            if self.observer is not None:
                self.observer("forward", i)
            for w, blob in zip(self.loss_weights[i], top):
                if w:
                    loss += w * float(blob.data.sum())
        return loss

    def backward(self, **diffs: np.ndarray) -> dict[str, np.ndarray]:
        """Back-propagate from the loss (and any output diffs given); returns {input: diff}."""
        for name, value in diffs.items():
            if name not in self.outputs:
                raise ConfigError(f"'{name}' is not an output of the net", hint=f"outputs: {', '.join(self.outputs)}")
            self.blobs[name].diff = value
        self._backward_all(set(diffs))
        return {name: self.blobs[name].diff for name in self.inputs}

    def _backward_all(self, given: set[str] = frozenset()) -> None:
        self.backward_from_to(len(self.layers) - 1, 0, given)

    def backward_from_to(self, start: int, end: int, given: set[str] = frozenset()) -> None:
        """Back-propagate through layers start down to end (indices, inclusive; Caffe's BackwardFromTo).
        Loss tops get their loss weight as diff, except the outputs named in `given` (diffs set by the user)."""
        self._choose_product_threads()
        for i in range(start, end - 1, -1):
            if not self.layer_needs_backward[i]:
                continue
            bottom, top = self._io(i)
            for w, name, blob in zip(self.loss_weights[i], self.top_names[i], top):
                if w and name not in given:
                    blob.diff.fill(w)
            self.layers[i].backward(top, self.bottom_needs_backward[i], bottom)
            if self.observer is not None:
                self.observer("backward", i)

    def _choose_product_threads(self) -> None:
        """Inner products on OpenBLAS's threads when no layer runs batch parts on protonet's
        (ops.parallel.set_product_threads)."""
        parallel.set_product_threads(self._without_parts)

    @cached_property
    def _without_parts(self) -> bool:
        return not any(layer.runs_parts for layer in self.layers)

    def forward_backward(self) -> float:
        """One forward and one backward pass; returns the weighted loss."""
        loss = self._forward_all()
        self._backward_all()
        self.loss = loss
        return loss

    def reshape(self) -> None:
        """Propagate new input shapes (after `net.blobs[name].reshape(...)`) through every layer."""
        for i, layer in enumerate(self.layers):
            layer.reshape(*self._io(i))

    def clear_param_diffs(self) -> None:
        for p in self.learnable:
            p.blob.clear_diff()

    # -- parameters -------------------------------------------------------------------------

    @property
    def params(self) -> OrderedDict[str, list[Blob]]:
        """Layer name -> its parameter blobs, for layers that have any."""
        return OrderedDict((layer.name, layer.blobs) for layer in self.layers if layer.blobs)

    @property
    def layer_dict(self) -> OrderedDict[str, Layer]:
        return OrderedDict((layer.name, layer) for layer in self.layers)

    def share_with(self, other: Net) -> None:
        """Use `other`'s parameter blobs for layers of the same name (test nets share the train net's)."""
        theirs = other.layer_dict
        for layer in self.layers:
            source = theirs.get(layer.name)
            if source is None or not layer.blobs:
                continue
            for k, blob in enumerate(layer.blobs):
                if k < len(source.blobs) and source.blobs[k].shape == blob.shape:
                    layer.blobs[k] = source.blobs[k]

    def copy_from(self, path: str | Path, *, reinit: tuple[str, ...] | list[str] = (),
                  log: callable | None = None) -> list[str]:
        """Copy weights by layer name from a .caffemodel (V1 or V2) or .npz; returns the layers copied.

        A layer whose shapes differ is an error naming both shapes, unless it is listed in `reinit`
        (it then keeps its fresh filler values). Source layers absent from this net are skipped.
        """
        from .weights import blob_fits, read_weights

        source = read_weights(path)
        mine = self.layer_dict
        copied = []
        for name, arrays in source.items():
            layer = mine.get(name)
            if layer is None:
                if log:
                    log(f"Ignoring source layer {name}")
                continue
            if name in reinit:
                continue
            if len(arrays) != len(layer.blobs):
                raise WeightsError(f"{len(arrays)} parameter blobs in the weights file, {len(layer.blobs)} in "
                                   f"the net", file=str(path), layer=name)
            for k, (array, blob) in enumerate(zip(arrays, layer.blobs)):
                if not blob_fits(array.shape, blob.shape):
                    raise WeightsError(f"cannot copy param {k}: shape mismatch, the file has {list(array.shape)}, "
                                       f"the net needs {list(blob.shape)}", file=str(path), layer=name,
                                       hint=f"to learn it from scratch instead, pass --reinit {name}")
            for array, blob in zip(arrays, layer.blobs):
                blob.data = array.reshape(blob.shape)
            copied.append(name)
        return copied

    def to_proto(self, *, with_diff: bool = False) -> pb.NetParameter:
        """The net as a NetParameter with its weights (a Caffe-readable .caffemodel)."""
        from .weights import array_to_blobproto

        out = pb.NetParameter(name=self.name)
        for layer in self.layers:
            if layer.type == "Split":
                continue
            lp = out.layer.add()
            lp.CopyFrom(layer.get_config())
            for blob in layer.blobs:
                lp.blobs.add().CopyFrom(array_to_blobproto(blob.data, blob.diff if with_diff else None))
        return out

    def save(self, path: str | Path) -> None:
        """Write the weights as a .caffemodel (or .npz by extension), atomically."""
        from .io import atomic_write
        from .weights import weights_to_npz_bytes

        if str(path).endswith(".npz"):
            arrays = OrderedDict((name, [b.data for b in blobs]) for name, blobs in self.params.items())
            atomic_write(path, weights_to_npz_bytes(arrays))
        else:
            atomic_write(path, self.to_proto().SerializeToString())


def _check_count(what: str, count: int, bounds: tuple[int, int | None], lp: pb.LayerParameter) -> None:
    low, high = bounds
    if count < low or (high is not None and count > high):
        expected = f"{low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{lp.type} takes {expected} {what}s, found {count}", layer=lp.name)
