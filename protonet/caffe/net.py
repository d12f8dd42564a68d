"""pycaffe's Net over protonet's: the constructor forms, forward/backward by layer range, batching.

Blobs, params and layers are protonet's own objects (a Blob has `data`, `diff`, `shape`, `count`,
`reshape`, `num`/`channels`/`height`/`width`; a layer has `type` and `blobs`), so writing into
`net.blobs['data'].data[...]` feeds the net as in Caffe. The semantics follow Caffe's
python/caffe/pycaffe.py and _caffe.cpp.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from itertools import zip_longest
from pathlib import Path

import numpy as np

from .. import net as protonet_net
from ..blob import Blob
from ..errors import did_you_mean
from ..layers.base import Layer
from ..proto import pb
from . import runtime

log = logging.getLogger("protonet")


class Net:
    """A net for one phase: `Net(file, phase, level=0, stages=None, weights=None)`, or the legacy
    `Net(file, weights, phase)`. `phase` is caffe.TRAIN or caffe.TEST."""

    def __init__(self, network_file: str | Path | pb.NetParameter, *args: int | str, phase: int | None = None,
                 level: int = 0, stages: Sequence[str] | None = None, weights: str | Path | None = None) -> None:
        if len(args) == 2 and phase is None and weights is None:  # Net(file, weights, phase)
            weights, phase = args
            log.info("Net('%s', '%s', %s) is deprecated; use Net('%s', %s, weights='%s')", network_file,
                     weights, phase, network_file, phase, weights)
        elif len(args) == 1 and phase is None:
            phase = args[0]
        elif args or phase is None:
            raise TypeError("Net() takes (network_file, phase, level=0, stages=None, weights=None) or "
                            f"(network_file, weights, phase); got {len(args)} positional arguments after "
                            "the file" + ("" if phase is not None else " and no phase"))
        if phase not in (pb.TRAIN, pb.TEST):
            raise TypeError(f"phase must be caffe.TRAIN ({pb.TRAIN}) or caffe.TEST ({pb.TEST}), found {phase!r}")
        self._net = protonet_net.Net(network_file, weights, phase, list(stages or ()), level, seed=runtime.seed())

    @classmethod
    def wrap(cls, net: protonet_net.Net) -> Net:
        """The pycaffe view of a protonet Net (a solver's train and test nets)."""
        view = cls.__new__(cls)
        view._net = net
        return view

    # -- what the net holds ---------------------------------------------------------------------

    @property
    def blobs(self) -> OrderedDict[str, Blob]:
        """Blob name -> Blob, input to output."""
        return self._net.blobs

    @property
    def params(self) -> OrderedDict[str, list[Blob]]:
        """Layer name -> its parameter blobs (weights, biases), for layers that have any."""
        return self._net.params

    @property
    def layers(self) -> list[Layer]:
        return self._net.layers

    @property
    def layer_dict(self) -> OrderedDict[str, Layer]:
        return self._net.layer_dict

    @property
    def _layer_names(self) -> list[str]:
        return [layer.name for layer in self._net.layers]

    @property
    def _blob_names(self) -> list[str]:
        return list(self._net.blobs)

    @property
    def _blobs(self) -> list[Blob]:
        return list(self._net.blobs.values())

    @property
    def inputs(self) -> list[str]:
        return list(self._net.inputs)

    @property
    def outputs(self) -> list[str]:
        return list(self._net.outputs)

    @property
    def top_names(self) -> OrderedDict[str, list[str]]:
        """Layer name -> the names of its tops."""
        return OrderedDict(zip(self._layer_names, self._net.top_names, strict=True))

    @property
    def bottom_names(self) -> OrderedDict[str, list[str]]:
        """Layer name -> the names of its bottoms."""
        return OrderedDict(zip(self._layer_names, self._net.bottom_names, strict=True))

    @property
    def blob_loss_weights(self) -> OrderedDict[str, float]:
        """Blob name -> its weight in the loss (0 for all but the loss tops)."""
        weights = OrderedDict((name, 0.0) for name in self._net.blobs)
        for names, values in zip(self._net.top_names, self._net.loss_weights, strict=True):
            weights.update((name, w) for name, w in zip(names, values, strict=True) if w)
        return weights

    # -- running --------------------------------------------------------------------------------

    def forward(self, blobs: list[str] | None = None, start: str | None = None, end: str | None = None,
                **kwargs: np.ndarray) -> dict[str, np.ndarray]:
        """Copy the inputs given by name into their blobs, run layers `start`..`end` (names, inclusive;
        default all); returns {blob: data} for the outputs (or `end`'s tops) and the `blobs` named."""
        first = self._layer_index(start) if start is not None else 0
        last = self._layer_index(end) if end is not None else len(self.layers) - 1
        names = set(self._net.top_names[last] if end is not None else self.outputs) | set(blobs or ())
        self._copy_in(kwargs, self.inputs, "data", "Input blob arguments", "net inputs")
        self._net.loss = self._net.forward_from_to(first, last)
        return {name: self.blobs[name].data for name in names}

    def backward(self, diffs: list[str] | None = None, start: str | None = None, end: str | None = None,
                 **kwargs: np.ndarray) -> dict[str, np.ndarray]:
        """Copy the output diffs given by name into their blobs, back-propagate from layer `start` down to
        `end` (names, inclusive; default all); returns {blob: diff} for the inputs (or `end`'s bottoms)
        and the `diffs` named."""
        first = self._layer_index(start) if start is not None else len(self.layers) - 1
        last = self._layer_index(end) if end is not None else 0
        names = set(self._net.bottom_names[last] if end is not None else self.inputs) | set(diffs or ())
        self._copy_in(kwargs, self.outputs, "diff", "Top diff arguments", "net outputs")
        self._net.backward_from_to(first, last, set(kwargs))
        return {name: self.blobs[name].diff for name in names}

    def forward_all(self, blobs: list[str] | None = None, **kwargs: np.ndarray) -> dict[str, np.ndarray]:
        """forward() over inputs of any length, a batch at a time (the last padded with zeros); returns
        {blob: data of all the items}."""
        outs: dict[str, list[np.ndarray]] = {name: [] for name in set(self.outputs) | set(blobs or ())}
        for batch in self._batch(kwargs):
            for name, value in self.forward(blobs=blobs, **batch).items():
                outs[name].extend(value.copy())
        return self._unpad(outs, kwargs)

    def forward_backward_all(self, blobs: list[str] | None = None, diffs: list[str] | None = None,
                             **kwargs: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """forward() then backward() a batch at a time: inputs and output diffs given by name; returns
        ({blob: data}, {blob: diff}) of all the items."""
        outs: dict[str, list[np.ndarray]] = {name: [] for name in set(self.outputs) | set(blobs or ())}
        grads: dict[str, list[np.ndarray]] = {name: [] for name in set(self.inputs) | set(diffs or ())}
        forward = self._batch({k: v for k, v in kwargs.items() if k in self.inputs})
        backward = self._batch({k: v for k, v in kwargs.items() if k in self.outputs})
        for inputs, output_diffs in zip_longest(forward, backward, fillvalue={}):
            for name, value in self.forward(blobs=blobs, **inputs).items():
                outs[name].extend(value.copy())
            for name, value in self.backward(diffs=diffs, **output_diffs).items():
                grads[name].extend(value.copy())
        return self._unpad(outs, kwargs), self._unpad(grads, kwargs)

    def _batch(self, arrays: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """Batches of the net's batch size (axis 0 of its first blob); the last one padded with zeros."""
        if not arrays:
            return
        count = len(next(iter(arrays.values())))
        size = next(iter(self.blobs.values())).shape[0]
        for i in range(0, count, size):
            batch = {name: np.asarray(value[i:i + size]) for name, value in arrays.items()}
            yield {name: value if len(value) == size else
                   np.concatenate([value, np.zeros((size - len(value), *value.shape[1:]), value.dtype)])
                   for name, value in batch.items()}

    @staticmethod
    def _unpad(outs: dict[str, list[np.ndarray]], given: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        count = len(next(iter(given.values()))) if given else None
        return {name: np.asarray(values)[:count] for name, values in outs.items()}

    def _copy_in(self, arrays: dict[str, np.ndarray], allowed: list[str], field: str, what: str,
                 expected: str) -> None:
        """Copy `arrays` into the blobs' data or diff, as pycaffe does: all of `allowed`, batch sized."""
        if not arrays:
            return
        if set(arrays) != set(allowed):
            raise ValueError(f"{what} {sorted(arrays)} do not match the {expected} {allowed}")
        for name, value in arrays.items():
            value = np.asarray(value)
            blob = self.blobs[name]
            if value.ndim == 0 or value.shape[0] != blob.shape[0]:
                raise ValueError(f"'{name}' has shape {list(value.shape)}, not batch sized: the blob is "
                                 f"{list(blob.shape)}; reshape the blob (and call net.reshape()) first")
            getattr(blob, field)[...] = value

    def _layer_index(self, name: str) -> int:
        names = self._layer_names
        if name not in names:
            hint = did_you_mean(name, names)
            raise ValueError(f"no layer named '{name}'" + (f"; {hint}" if hint else ""))
        return names.index(name)

    def reshape(self) -> None:
        """Propagate new input shapes (after `net.blobs[name].reshape(...)`) through every layer."""
        self._net.reshape()

    def clear_param_diffs(self) -> None:
        self._net.clear_param_diffs()

    def set_input_arrays(self, data: np.ndarray, labels: np.ndarray) -> None:
        """Hand arrays to the net's first layer, which must be a MemoryData layer."""
        first = self.layers[0] if self.layers else None
        if first is None or first.type != "MemoryData":
            raise ValueError("set_input_arrays may only be called if the first layer is a MemoryData layer")
        first.set_arrays(data, labels)

    # -- weights --------------------------------------------------------------------------------

    def copy_from(self, path: str | Path) -> None:
        """Copy weights by layer name from a .caffemodel (or .npz, .caffemodel.h5)."""
        self._net.copy_from(path)

    def share_with(self, other: Net) -> None:
        """Use `other`'s parameter blobs for layers of the same name."""
        self._net.share_with(other._net)

    def save(self, path: str | Path) -> None:
        """Write the weights as a .caffemodel."""
        self._net.save(path)

    def save_hdf5(self, path: str | Path) -> None:
        """Write the weights in Caffe's HDF5 layout (needs h5py: protonet[hdf5])."""
        from ..convert import write_hdf5_weights

        write_hdf5_weights(OrderedDict((name, [b.data for b in blobs]) for name, blobs in self.params.items()),
                           str(path))

    def load_hdf5(self, path: str | Path) -> None:
        self._net.copy_from(path)
