"""Property-based fuzzing of every file reader: whatever the input, a valid result or a ProtonetError.

Never another exception, never a hang (TIME_LIMIT seconds per case) and never more memory than
PEAK_BYTES per case (tracemalloc, which numpy reports its arrays to), with arrays limited to LIMIT
elements through PROTONET_MAX_ELEMENTS, so that a declared shape over it must be refused before
anything of that size is allocated. Inputs are seeds written in tests/conftest_fuzz.py, mutated
(characters, tokens, values and lines of configs; bits, bytes and lengths of binary files), files
built field by field with drawn values (shapes, dtypes, payloads), and plain random text or bytes.

Profiles (tests/conftest.py): "ci", the default, is derandomised and runs 200 cases per test;
PROTONET_FUZZ=long runs 5000 fresh random cases per test.
"""

from __future__ import annotations

import functools
import gzip
import io
import logging
import os
import re
import signal
import struct
import tracemalloc
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protonet import Net, config
from protonet.blob import LIMIT_VARIABLE
from protonet.convert import convert_file
from protonet.errors import ProtonetError
from protonet.layers.registry import layer_types
from protonet.proto import pb
from protonet.solvers.snapshot import decode_random_state, encode_random_state, read_state
from protonet.upgrade import upgrade_solver
from protonet.weights import array_to_blobproto, blobproto_to_array, weights_to_npz_bytes
from tests.conftest_fuzz import (
    LENET,
    LENET_V1,
    LENET_YAML,
    MANY_LAYERS,
    NET_V0,
    SOLVER,
    address_space_cap,
    npy_bytes,
    zip_bytes,
)

LIMIT = 2**18            # elements per array while fuzzing (1 MiB of float32)
PEAK_BYTES = 256 << 20   # traced memory one case may add at its peak
TIME_LIMIT = 30          # seconds per case: far above any real case (milliseconds), far below a hang


class Hang(Exception):
    """A case ran past TIME_LIMIT."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang(f"a case ran over {TIME_LIMIT} s")


@pytest.fixture(scope="module", autouse=True)
def guarded_process():
    """The element limit, the alarm handler and tracemalloc, for every case of this module."""
    saved_limit = os.environ.get(LIMIT_VARIABLE)
    os.environ[LIMIT_VARIABLE] = str(LIMIT)
    saved_handler = signal.signal(signal.SIGALRM, _on_alarm)
    logger = logging.getLogger("protonet")
    saved_level = logger.level
    logger.setLevel(logging.ERROR)  # upgrade notes, once per case, are noise here
    tracemalloc.start()
    yield
    tracemalloc.stop()
    logger.setLevel(saved_level)
    signal.signal(signal.SIGALRM, saved_handler)
    if saved_limit is None:
        del os.environ[LIMIT_VARIABLE]
    else:
        os.environ[LIMIT_VARIABLE] = saved_limit


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def outcome(action: Callable[[], Any]) -> Any:
    """`action()`'s result, or the ProtonetError it raised (a one-line message).

    Any other exception fails the case, as do running past TIME_LIMIT and a traced memory peak
    more than PEAK_BYTES above what was in use before. The address space is capped meanwhile, so
    that a runaway allocation fails the case with a MemoryError rather than exhausting the machine.
    """
    in_use = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(), address_space_cap(4 * PEAK_BYTES):
            warnings.simplefilter("ignore")
            result = action()
    except ProtonetError as exc:
        assert "\n" not in str(exc), f"a multi-line error message: {exc!r}"
        result = exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    peak = tracemalloc.get_traced_memory()[1] - in_use
    assert peak < PEAK_BYTES, f"the case used {peak >> 20} MiB at its peak"
    return result


# ------------------------------------------------------------------ text mutations

NUMBERS = ["0", "-1", "1", "2", "3", "5", "64", "65536", "2147483647", "-2147483648", "4294967295",
           "4294967296", "1099511627776", "9223372036854775807", "0.5", "-0.0", "1e30", "1e-30", "nan",
           "inf", "-inf"]
ENUMS = ["MAX", "AVE", "STOCHASTIC", "TRAIN", "TEST", "SUM", "PROD", "SUMSQ", "MEAN", "ASUM", "CAFFE",
         "FULL", "VALID", "BATCH_SIZE", "NONE", "ACROSS_CHANNELS", "WITHIN_CHANNEL", "CONVOLUTION",
         "POOLING", "DATA", "PYTHON", "SGD", "ADAM"]
NAMES = [f'"{name}"' for name in layer_types()] + ['"Python"', '"data"', '"label"', '"conv1"', '"ip1"',
                                                   '"x"', '""', '"../../etc/passwd"']
WORDS = ["layer", "layers", "top", "bottom", "dim", "shape", "num_output", "kernel_size", "pad", "stride",
         "group", "axis", "param", "include", "phase", "name", "type", "input_dim", "blobs", "data",
         "lr_mult", "dilation", "slice_point", "tiles", "offset", "top_k", "loss_weight", "propagate_down"]
PUNCTUATION = ["{", "}", ":", '"', "'", "\\", "#", "\n", " ", "[", "]", ",", "- ", "&a ", "*a", "\x00",
               "\t", "!!python/object/apply:os.system ", "\ufeff", "é"]
TOKENS = NUMBERS + ENUMS + NAMES + WORDS + PUNCTUATION
VALUE = re.compile(r'-?\d+(?:\.\d+)?(?:e-?\d+)?|"[^"\n]*"|\b[A-Z][A-Za-z0-9_]*\b')


def _index(draw: Callable, text: str | list) -> int:
    return draw(st.integers(0, max(len(text) - 1, 0)))


def delete_span(draw: Callable, text: str) -> str:
    i = _index(draw, text)
    return text[:i] + text[i + draw(st.integers(1, 16)):]


def insert_token(draw: Callable, text: str) -> str:
    i = _index(draw, text)
    return text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]


def replace_value(draw: Callable, text: str) -> str:
    values = list(VALUE.finditer(text))
    if not values:
        return text
    found = draw(st.sampled_from(values))
    return text[:found.start()] + draw(st.sampled_from(NUMBERS + ENUMS + NAMES)) + text[found.end():]


def replace_word(draw: Callable, text: str) -> str:
    parts = re.split(r"(\s+)", text)
    parts[2 * _index(draw, parts[::2])] = draw(st.sampled_from(TOKENS))
    return "".join(parts)


def edit_lines(draw: Callable, text: str) -> str:
    lines = text.split("\n")
    i, j = _index(draw, lines), _index(draw, lines)
    edit = draw(st.sampled_from(["delete", "duplicate", "swap"]))
    if edit == "delete":
        del lines[i]
    elif edit == "duplicate":
        lines.insert(i, lines[j])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def truncate(draw: Callable, text: str) -> str:
    return text[:_index(draw, text)]


# Value replacements keep the text parseable most often, so they are drawn more often.
TEXT_MUTATIONS = [replace_value] * 4 + [delete_span, insert_token, replace_word, edit_lines, truncate]


@st.composite
def mutants(draw: Callable, seed: str) -> str:
    text = seed
    for _ in range(draw(st.integers(1, 4))):
        text = draw(st.sampled_from(TEXT_MUTATIONS))(draw, text)
    return text


# ------------------------------------------------------------------ configs

NETS = {"lenet": (LENET, "prototxt"), "many-layers": (MANY_LAYERS, "prototxt"), "yaml": (LENET_YAML, "yaml"),
        "v1": (LENET_V1, "prototxt"), "v0": (NET_V0, "prototxt")}


def build_and_run(text: str, syntax: str, train: bool) -> Net:
    """Parse, upgrade and build the net, then one forward (and backward in TRAIN) pass."""
    param = config.parse(text, pb.NetParameter(), syntax=syntax)
    net = Net(param, phase="TRAIN" if train else "TEST", seed=0)
    net.forward()
    if train:
        net.backward()
    return net


@pytest.mark.parametrize("seed", NETS)
@given(data=st.data())
def test_mutated_net_builds_and_runs_or_is_refused(seed: str, data: st.DataObject) -> None:
    text, syntax = NETS[seed]
    mutant = data.draw(mutants(text), label="config")
    outcome(lambda: build_and_run(mutant, syntax, data.draw(st.booleans(), label="train")))


@given(text=st.text(max_size=400), syntax=st.sampled_from(["prototxt", "yaml"]))
def test_random_text_is_a_net_or_is_refused(text: str, syntax: str) -> None:
    outcome(lambda: build_and_run(text, syntax, train=True))


@given(text=st.one_of(mutants(SOLVER), st.text(max_size=400)), syntax=st.sampled_from(["prototxt", "yaml"]))
def test_mutated_solver_parses_or_is_refused(text: str, syntax: str) -> None:
    outcome(lambda: upgrade_solver(config.parse(text, pb.SolverParameter(), syntax=syntax)))


SET_PATHS = ["base_lr", "max_iter", "type", "net_param.name", "net_param.layer", "test_iter", "lr_policy",
             "momentum", "snapshot_prefix", "net_param.state.phase", "stepvalue", "nonexistent", "a..b", ""]


@given(path=st.one_of(st.sampled_from(SET_PATHS), st.text(max_size=30)),
       value=st.one_of(st.sampled_from(TOKENS), st.text(max_size=60)))
def test_set_field_applies_or_is_refused(path: str, value: str) -> None:
    outcome(lambda: config.set_field(pb.SolverParameter(), path, value))


# ------------------------------------------------------------------ binary seeds


RANDOM_STATE = encode_random_state([0], [np.random.default_rng(0).bit_generator.state])


@functools.cache
def lenet() -> Net:
    return Net(config.parse(LENET, pb.NetParameter()), phase="TRAIN", seed=0)


@functools.cache
def binary_seeds() -> dict[str, bytes]:
    """Valid files of each binary kind, from the LeNet above."""
    net = lenet()
    model = net.to_proto()
    v1 = pb.NetParameter(name="v1")
    for layer in model.layer:
        if layer.blobs:
            v1.layers.add(name=layer.name, type=pb.V1LayerParameter.INNER_PRODUCT).blobs.extend(layer.blobs)
    state = pb.SolverState(iter=10, current_step=1, learned_net="lenet.caffemodel", recent_loss=[0.5, 0.25],
                           random_state=RANDOM_STATE)
    state.data_cursor.add(layer="data", position=3, epoch=1)
    state.history.extend(array_to_blobproto(np.zeros_like(p.blob.data)) for p in net.learnable)
    legacy = pb.BlobProto(num=1, channels=2, height=3, width=3, data=np.arange(18.0).tolist())
    return {
        "caffemodel": model.SerializeToString(),
        "v1.caffemodel": v1.SerializeToString(),
        "npz": weights_to_npz_bytes(OrderedDict((name, [b.data for b in blobs])
                                                for name, blobs in net.params.items())),
        "binaryproto": array_to_blobproto(np.arange(18, dtype=np.float32).reshape(2, 9)).SerializeToString(),
        "legacy.binaryproto": legacy.SerializeToString(),
        "solverstate": state.SerializeToString(),
    }


# Sizes and counts in binary headers are where readers go wrong: edits write these over 2 or 4 bytes.
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x4000, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


@st.composite
def mutated_bytes(draw: Callable, seed: bytes) -> bytes:
    """`seed` with 1 to 6 bit flips, byte changes, interesting integers, insertions, deletions or a truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        i = _index(draw, data)
        edit = draw(st.sampled_from(["flip", "set", "integer", "insert", "delete", "truncate"]))
        if edit == "integer":
            width, order = draw(st.sampled_from([2, 4])), draw(st.sampled_from(["big", "little"]))
            data[i:i + width] = (draw(st.sampled_from(INTERESTING)) % 2 ** (8 * width)).to_bytes(width, order)
        elif edit == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif edit == "set" and data:
            data[i] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del data[i:i + draw(st.integers(1, 16))]
        else:
            del data[i:]
    return bytes(data)


def files_of(kind: str) -> st.SearchStrategy[bytes]:
    """Mutants of the seed of `kind`, now and then plain random bytes."""
    return st.one_of(mutated_bytes(binary_seeds()[kind]), st.binary(max_size=512))


def written(folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


# ------------------------------------------------------------------ weights


@pytest.mark.parametrize("kind", ["caffemodel", "v1.caffemodel"])
@given(data=st.data())
def test_mutated_caffemodel_loads_or_is_refused(kind: str, data: st.DataObject, workdir: Path) -> None:
    path = written(workdir, "mutant.caffemodel", data.draw(files_of(kind), label="file"))
    outcome(lambda: lenet().copy_from(path))
    outcome(lambda: convert_file(path, str(workdir / "out.npz")))


@given(file=files_of("npz"))
def test_mutated_npz_weights_load_or_are_refused(file: bytes, workdir: Path) -> None:
    path = written(workdir, "mutant.npz", file)
    outcome(lambda: lenet().copy_from(path))
    outcome(lambda: convert_file(path, str(workdir / "out.caffemodel")))


HUGE = [2**31, 2**32, 2**40, 2**62, 2**63 - 1]
DIMS = st.one_of(st.integers(0, 6), st.integers(-3, -1), st.sampled_from(HUGE),
                 st.integers(-2**63, 2**63 - 1))
SHAPES = st.lists(DIMS, max_size=5)


@st.composite
def blobprotos(draw: Callable) -> pb.BlobProto:
    """A BlobProto with any shape (or legacy 4-D shape), any number of float or double values."""
    blob = pb.BlobProto()
    if draw(st.booleans()):
        blob.shape.dim.extend(draw(SHAPES))
    elif draw(st.booleans()):
        int32 = st.one_of(st.integers(0, 4), st.integers(-2**31, 2**31 - 1))
        blob.num, blob.channels, blob.height, blob.width = (draw(int32) for _ in range(4))
    values = np.arange(draw(st.integers(0, 40)), dtype=np.float64).tolist()
    (blob.double_data if draw(st.booleans()) else blob.data).extend(values)
    return blob


@given(blobs=st.lists(blobprotos(), max_size=3), layer=st.sampled_from(["conv1", "ip1", "ip2", "other"]),
       v1=st.booleans())
def test_caffemodel_of_any_blob_shapes_loads_or_is_refused(blobs: list, layer: str, v1: bool,
                                                             workdir: Path) -> None:
    net = pb.NetParameter()
    (net.layers.add(name=layer) if v1 else net.layer.add(name=layer)).blobs.extend(blobs)
    path = written(workdir, "built.caffemodel", net.SerializeToString())
    outcome(lambda: lenet().copy_from(path))


@given(blob=blobprotos())
def test_binaryproto_of_any_shape_converts_or_is_refused(blob: pb.BlobProto, workdir: Path) -> None:
    path = written(workdir, "built.binaryproto", blob.SerializeToString())
    outcome(lambda: convert_file(path, str(workdir / "out.npy")))


@pytest.mark.parametrize("kind", ["binaryproto", "legacy.binaryproto"])
@given(data=st.data())
def test_mutated_binaryproto_converts_or_is_refused(kind: str, data: st.DataObject, workdir: Path) -> None:
    path = written(workdir, "mutant.binaryproto", data.draw(files_of(kind), label="file"))
    outcome(lambda: convert_file(path, str(workdir / "out.npy")))


def read_state_arrays(path: str) -> list[np.ndarray]:
    """What resuming reads from a .solverstate: the history arrays and the generator states."""
    state = read_state(path)
    decode_random_state(state.random_state, path)
    return [blobproto_to_array(blob, file=path) for blob in state.history]


@given(file=files_of("solverstate"))
def test_mutated_solverstate_reads_or_is_refused(file: bytes, workdir: Path) -> None:
    path = written(workdir, "mutant.solverstate", file)
    outcome(lambda: read_state_arrays(path))
    outcome(lambda: convert_file(path, str(workdir / "out.npz")))


@given(text=st.one_of(mutants(RANDOM_STATE), st.text(max_size=200), st.integers(1, 3000).map("[".__mul__)))
def test_random_state_text_decodes_or_is_refused(text: str) -> None:
    outcome(lambda: decode_random_state(text, "state.solverstate"))


# ------------------------------------------------------------------ HDF5 weights (.caffemodel.h5)


@pytest.fixture(scope="module")
def h5py() -> Any:
    return pytest.importorskip("h5py")  # an optional dependency


@pytest.fixture(scope="module")
def hdf5_seed(workdir: Path, h5py: Any) -> bytes:
    """LeNet's weights in Caffe's HDF5 layout."""
    from protonet.convert import write_hdf5_weights

    path = workdir / "seed.caffemodel.h5"
    write_hdf5_weights(OrderedDict((name, [b.data for b in blobs]) for name, blobs in lenet().params.items()),
                       str(path))
    return path.read_bytes()


@given(data=st.data())
def test_mutated_hdf5_weights_load_or_are_refused(data: st.DataObject, workdir: Path,
                                                  hdf5_seed: bytes) -> None:
    path = written(workdir, "mutant.caffemodel.h5", data.draw(mutated_bytes(hdf5_seed), label="file"))
    outcome(lambda: lenet().copy_from(path))


HDF5_DTYPES = ["<f4", "<f8", "<i4", "|u1", "|b1", "<c8", "|S4", "str", [("a", "<f4")]]
HDF5_SHAPES = st.lists(st.one_of(st.integers(0, 6), st.sampled_from(HUGE[:3])), max_size=4)
HDF5_DATASETS = st.dictionaries(st.sampled_from(["conv1/0", "conv1/1", "ip1/0", "ip1/x", "top"]),
                                st.tuples(HDF5_SHAPES, st.sampled_from(HDF5_DTYPES)), max_size=3)


def write_hdf5(h5py: Any, path: Path, datasets: dict[str, tuple[list[int], Any]]) -> None:
    """An HDF5 file of datasets {name: (shape, dtype)}; huge ones are chunked and left unwritten."""
    with h5py.File(path, "w") as handle:
        for name, (shape, dtype) in datasets.items():
            big = np.prod(shape, dtype=object) > 4096
            dtype = h5py.string_dtype() if dtype == "str" else np.dtype(dtype if isinstance(dtype, str)
                                                                          else [tuple(f) for f in dtype])
            handle.create_dataset(name, shape=tuple(shape), dtype=dtype, chunks=(1,) * len(shape) if big else None)


@given(datasets=HDF5_DATASETS)
def test_hdf5_weights_of_any_datasets_load_or_are_refused(datasets: dict, workdir: Path, h5py: Any) -> None:
    """Datasets of any declared shape (huge ones are chunked and left unwritten, so the file stays small)."""
    path = workdir / "built.caffemodel.h5"
    write_hdf5(h5py, path, {f"data/{name}": dataset for name, dataset in datasets.items()})
    outcome(lambda: lenet().copy_from(str(path)))


# ------------------------------------------------------------------ .npy / .npz built member by member

DESCRS = ["<f4", "<f8", ">f4", "<f2", "|u1", "|i1", "<i2", "<i4", "<i8", "|b1", "<c8", "|O", "<U4", "|S3",
          "|V8", "<M8[s]", [("a", "<f4")], "(2,)<f4"]


@st.composite
def npy_files(draw: Callable) -> bytes:
    """A .npy of any declared dtype and shape, with its exact payload or with random bytes."""
    descr, shape = draw(st.sampled_from(DESCRS)), tuple(draw(SHAPES))
    try:
        size = np.dtype(descr if isinstance(descr, str) else [tuple(f) for f in descr]).itemsize
    except TypeError:
        size = 4
    count = int(np.prod(shape, dtype=object)) if shape else 1
    length = count * size if 0 <= count * size <= 4096 and draw(st.booleans()) else None
    payload = draw(st.binary(max_size=64) if length is None else st.binary(min_size=length, max_size=length))
    return npy_bytes(descr, shape, payload, fortran_order=draw(st.booleans()))


@st.composite
def npz_files(draw: Callable, names: list[str]) -> bytes:
    members = draw(st.dictionaries(st.sampled_from(names), npy_files(), max_size=4))
    suffix = draw(st.sampled_from([".npy", ""]))
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    return zip_bytes({name + suffix: data for name, data in members.items()}, compression)


WEIGHT_NAMES = ["conv1/0", "conv1/1", "ip1/0", "ip1/1", "ip2/0", "ip2/1", "loose", "a/b/0", "conv1/x", "/0"]
STATE_NAMES = ["iter", "current_step", "learned_net", "random_state", "recent_loss", "history/0", "history/1",
               "history/x", "data_cursor/layer", "data_cursor/position", "data_cursor/epoch", "other"]


@given(file=npz_files(WEIGHT_NAMES))
def test_npz_weights_of_any_members_load_or_are_refused(file: bytes, workdir: Path) -> None:
    path = written(workdir, "built.npz", file)
    outcome(lambda: lenet().copy_from(path))
    outcome(lambda: convert_file(path, str(workdir / "out.caffemodel")))


@given(file=npz_files(STATE_NAMES))
def test_npz_solver_state_of_any_members_converts_or_is_refused(file: bytes, workdir: Path) -> None:
    path = written(workdir, "built.npz", file)
    outcome(lambda: convert_file(path, str(workdir / "out.solverstate")))


@given(file=npy_files())
def test_npy_of_any_header_converts_or_is_refused(file: bytes, workdir: Path) -> None:
    path = written(workdir, "built.npy", file)
    outcome(lambda: convert_file(path, str(workdir / "out.binaryproto")))


# ------------------------------------------------------------------ data files (IDX, NPZ)


@pytest.fixture(scope="module")
def data_readers() -> tuple[Callable, Callable]:
    """(read_idx, read an .npz data file), skipped while protonet.data is absent."""
    idx = pytest.importorskip("protonet.data.idx")
    npz = pytest.importorskip("protonet.data.npz")
    sources = pytest.importorskip("protonet.data.sources")

    def read_npz(path: str) -> Any:
        images, labels = npz.read_npz(path)
        return sources.check_arrays(images, labels, path, path)

    return idx.read_idx, read_npz


@functools.cache
def data_seeds() -> dict[str, bytes]:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", *images.shape) + images.tobytes()
    floats = bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 3) + np.arange(3, dtype=">f4").tobytes()
    return {"idx": raw, "idx.gz": gzip.compress(raw, mtime=0), "float.idx": floats,
            "npz": zip_bytes({"data.npy": npy_bytes("|u1", (2, 1, 2, 2), bytes(8)),
                              "labels.npy": npy_bytes("<i8", (2,), bytes(16))})}


@pytest.mark.parametrize("kind", ["idx", "idx.gz", "float.idx", "npz"])
@given(data=st.data())
def test_mutated_data_file_reads_or_is_refused(kind: str, data: st.DataObject, workdir: Path,
                                               data_readers: tuple[Callable, Callable]) -> None:
    file = data.draw(st.one_of(mutated_bytes(data_seeds()[kind]), st.binary(max_size=256)), label="file")
    read = data_readers[1] if kind == "npz" else data_readers[0]
    path = written(workdir, "mutant.npz" if kind == "npz" else "mutant-images-idx3", file)
    outcome(lambda: read(path))


@st.composite
def idx_files(draw: Callable) -> bytes:
    """An IDX header of any type code and dimensions (huge ones included), then a payload."""
    code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x0A, 0xFF]))
    dim = st.one_of(st.integers(0, 5), st.sampled_from([2**16, 2**31, 2**32 - 1]))
    dims = draw(st.lists(dim, max_size=4))
    payload = draw(st.binary(max_size=128))
    data = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload
    return gzip.compress(data, mtime=0) if draw(st.booleans()) else data


@given(file=idx_files())
def test_idx_of_any_header_reads_or_is_refused(file: bytes, workdir: Path,
                                              data_readers: tuple[Callable, Callable]) -> None:
    path = written(workdir, "built-images-idx3", file)
    outcome(lambda: data_readers[0](path))


@given(file=npz_files(["data", "labels", "other"]))
def test_data_npz_of_any_members_reads_or_is_refused(file: bytes, workdir: Path,
                                                    data_readers: tuple[Callable, Callable]) -> None:
    path = written(workdir, "built.npz", file)
    outcome(lambda: data_readers[1](path))


@pytest.fixture(scope="module")
def image_seeds() -> dict[str, bytes]:
    image_module = pytest.importorskip("PIL.Image")  # an optional dependency
    pixels = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    seeds = {}
    for kind in ("PNG", "BMP", "GIF", "JPEG", "TIFF", "PPM"):
        buffer = io.BytesIO()
        image_module.fromarray(pixels).save(buffer, kind)
        seeds[kind] = buffer.getvalue()
    return seeds


@given(data=st.data(), color=st.booleans(), size=st.sampled_from([None, (3, 5)]))
def test_mutated_image_decodes_or_is_refused(data: st.DataObject, color: bool, size: tuple | None,
                                            workdir: Path, image_seeds: dict[str, bytes]) -> None:
    from protonet.data.images import read_image

    seed = image_seeds[data.draw(st.sampled_from(sorted(image_seeds)), label="format")]
    path = Path(written(workdir, "mutant.image", data.draw(mutated_bytes(seed), label="file")))
    outcome(lambda: read_image(path, color=color, size=size, source="list.txt", line=1))


@given(datasets=HDF5_DATASETS.map(lambda found: {name.replace("/", "_"): v for name, v in found.items()}),
       names=st.lists(st.sampled_from(["conv1_0", "ip1_0", "top", "missing"]), min_size=1, max_size=2))
def test_hdf5_data_of_any_datasets_reads_or_is_refused(datasets: dict, names: list[str], workdir: Path,
                                                      h5py: Any) -> None:
    from protonet.data.hdf5 import read_datasets

    path = workdir / "built.h5"
    write_hdf5(h5py, path, datasets)
    outcome(lambda: read_datasets(path, names))
