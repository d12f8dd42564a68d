"""Resource limits: absurd declared sizes are refused with a clear error before anything is allocated.

The limit is protonet.blob.max_elements() per array: MAX_ELEMENTS (2^31) or $PROTONET_MAX_ELEMENTS.
Every check here also measures, with tracemalloc (numpy reports its arrays to it), that the
refusal came before the allocation.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from protonet import Net, config
from protonet.blob import LIMIT_VARIABLE, MAX_ELEMENTS, Blob, check_shape, max_elements
from protonet.convert import convert_file
from protonet.errors import ConfigError, ProtonetError, WeightsError
from protonet.proto import pb
from protonet.weights import blobproto_to_array, read_weights
from tests.conftest_fuzz import LENET, address_space_cap, npy_bytes, zip_bytes

HUGE = 2**40
SMALL_PEAK = 32 << 20  # bytes: a refusal allocates next to nothing


def refused(error: type[ProtonetError], action: Callable[[], object]) -> ProtonetError:
    """The `error` that `action` raises, checked to come before any large allocation."""
    tracemalloc.start()
    try:
        with pytest.raises(error) as info, address_space_cap(1 << 30):  # a MemoryError, never an OOM kill
            action()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < SMALL_PEAK, f"{peak >> 20} MiB allocated before the refusal"
    return info.value


def assert_names_the_limit(error: ProtonetError, limit: int = MAX_ELEMENTS) -> None:
    text = str(error)
    assert f"limit of {limit} elements" in text and LIMIT_VARIABLE in text, text
    assert "\n" not in text


def net(text: str, phase: str = "TEST") -> Net:
    return Net(config.parse(text, pb.NetParameter()), phase=phase)


# ------------------------------------------------------------------ the limit itself


def test_limit_defaults_to_max_elements_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv(LIMIT_VARIABLE, raising=False)
    assert max_elements() == MAX_ELEMENTS == 2**31
    monkeypatch.setenv(LIMIT_VARIABLE, "1000")
    assert max_elements() == 1000
    Blob((10, 100))
    assert_names_the_limit(refused(ConfigError, lambda: Blob((10, 101))), 1000)


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_a_bad_limit_variable_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv(LIMIT_VARIABLE, value)
    with pytest.raises(ConfigError, match=f"{LIMIT_VARIABLE} must be a positive integer, found '{value}'"):
        Blob((2,))


def test_raising_the_limit_admits_what_the_default_refuses(monkeypatch):
    shape = (2**31 + 1,)
    assert_names_the_limit(refused(ConfigError, lambda: Blob(shape, "uint8")))
    monkeypatch.setenv(LIMIT_VARIABLE, str(2**32))
    assert check_shape(shape) == shape  # the check only: allocating 2 GiB here would be wasteful


def test_a_lower_limit_refuses_an_ordinary_net(monkeypatch):
    monkeypatch.setenv(LIMIT_VARIABLE, "100")
    error = refused(ConfigError, lambda: net(LENET))
    assert "layer 'data'" in str(error) and "[2, 1, 12, 12]" in str(error)
    assert_names_the_limit(error, 100)
    monkeypatch.setenv(LIMIT_VARIABLE, "1000")
    assert net(LENET).blobs["data"].shape == (2, 1, 12, 12)


def test_the_cli_flag_sets_the_limit(tmp_path: Path):
    (tmp_path / "net.prototxt").write_text(LENET)
    command = [sys.executable, "-m", "protonet.cli", "--max-elements", "100", "check", "--model", "net.prototxt"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == ConfigError.exit_code and result.stderr.count("\n") == 1, result.stderr
    assert "limit of 100 elements" in result.stderr
    del command[3:5]
    assert subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=120).returncode == 0


# ------------------------------------------------------------------ configs declaring absurd shapes

INPUT = 'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }\n'


@pytest.mark.parametrize("layer", [
    'layer { name: "big" type: "Input" top: "y" input_param { shape { dim: 1048576 dim: 1048576 } } }',
    'layer { name: "big" type: "DummyData" top: "y" dummy_data_param { shape { dim: 1099511627776 } } }',
    'layer { name: "big" type: "DummyData" top: "y" dummy_data_param { num: 65536 channels: 65536 height: 1 '
    'width: 512 } }',
    'layer { name: "big" type: "Parameter" top: "y" parameter_param { shape { dim: 1099511627776 } } }',
])
def test_an_absurd_declared_shape_is_refused_before_allocation(layer):
    error = refused(ConfigError, lambda: net(INPUT + layer))
    assert "layer 'big'" in str(error)
    assert_names_the_limit(error)


# Every layer that creates parameters, with a size that makes them absurd.
PARAM_LAYERS = [
    'type: "Convolution" bottom: "x" convolution_param { num_output: 4294967295 kernel_size: 3 }',
    'type: "Deconvolution" bottom: "x" convolution_param { num_output: 4294967295 kernel_size: 3 }',
    'type: "InnerProduct" bottom: "x" inner_product_param { num_output: 4294967295 }',
    'type: "Embed" bottom: "x" embed_param { num_output: 65536 input_dim: 65536 }',
]


@pytest.mark.parametrize("layer", PARAM_LAYERS)
def test_absurd_parameter_blobs_are_refused_before_allocation(layer):
    error = refused(ConfigError, lambda: net(INPUT + f'layer {{ name: "big" top: "y" {layer} }}'))
    assert "layer 'big'" in str(error)
    assert_names_the_limit(error)


@pytest.mark.parametrize("layer", PARAM_LAYERS + [
    'type: "Scale" bottom: "x" scale_param { bias_term: true }',
    'type: "Bias" bottom: "x"',
    'type: "PReLU" bottom: "x"',
    'type: "BatchNorm" bottom: "x"',
    'type: "Parameter" parameter_param { shape { dim: 2 dim: 3 } }',
])
def test_every_layer_creates_its_parameters_through_the_checked_blob(monkeypatch, layer):
    """The shape of every parameter blob went through check_shape (so the limit applies to it)."""
    checked = []

    def recording(shape, *args, **kwargs):
        checked.append(tuple(shape))
        return check_shape(shape, *args, **kwargs)

    monkeypatch.setattr("protonet.blob.check_shape", recording)
    small = layer.replace("4294967295", "2").replace("65536", "2")
    params = net(INPUT + f'layer {{ name: "p" top: "y" {small} }}').params["p"]
    assert params and all(isinstance(b, Blob) and b.shape in checked for b in params)


def test_work_arrays_are_checked_too(monkeypatch):
    """Pooling pads its input into a work array (not a Blob): it obeys the same limit."""
    text = ('layer { name: "in" type: "Input" top: "x" '
            'input_param { shape { dim: 1 dim: 1 dim: 12 dim: 12 } } } '
            'layer { name: "pool" type: "Pooling" bottom: "x" top: "y" '
            'pooling_param { pool: MAX kernel_size: 12 pad: 11 } }')
    monkeypatch.setenv(LIMIT_VARIABLE, "1000")  # input 144, output 23 x 23 = 529, padded input 34 x 34 = 1156
    built = net(text)
    error = refused(ConfigError, built.forward)
    assert "layer 'pool'" in str(error) and "work array shape [1, 1, 34, 34]" in str(error)
    assert_names_the_limit(error, 1000)


# ------------------------------------------------------------------ weights declaring absurd shapes


def blob_of(dims: list[int], values: int = 0) -> pb.BlobProto:
    blob = pb.BlobProto(data=[0.0] * values)
    blob.shape.dim.extend(dims)
    return blob


@pytest.mark.parametrize("dims", [[HUGE], [2**20, 2**20], [2**32, 2**32], [2**62, 4], [0, 2**63 - 1]])
def test_a_blobproto_declaring_an_absurd_shape_is_refused(dims):
    error = refused(WeightsError, lambda: blobproto_to_array(blob_of(dims), file="w.caffemodel", layer="ip"))
    assert str(error).startswith("w.caffemodel: layer 'ip': declared shape")
    assert_names_the_limit(error)


@pytest.mark.parametrize("dims", [[-1, -1], [-2, -3], [4, -1]])
def test_a_blobproto_with_negative_dimensions_is_refused(dims):
    count = abs(dims[0] * dims[1])
    with pytest.raises(WeightsError, match="negative dimension"):
        blobproto_to_array(blob_of(dims, count))


def test_a_caffemodel_declaring_an_absurd_blob_is_refused_by_net_and_convert(tmp_path: Path):
    model = pb.NetParameter()
    model.layer.add(name="ip1").blobs.append(blob_of([HUGE]))
    path = tmp_path / "huge.caffemodel"
    path.write_bytes(model.SerializeToString())
    lenet = net(LENET)
    for action in (lambda: read_weights(path), lambda: lenet.copy_from(path),
                   lambda: convert_file(str(path), str(tmp_path / "out.npz"))):
        assert_names_the_limit(refused(WeightsError, action))


def test_a_binaryproto_declaring_an_absurd_shape_is_refused(tmp_path: Path):
    path = tmp_path / "mean.binaryproto"
    path.write_bytes(pb.BlobProto(num=65536, channels=65536, height=65536, width=1).SerializeToString())
    assert_names_the_limit(refused(WeightsError, lambda: convert_file(str(path), str(tmp_path / "mean.npy"))))


def test_a_solver_state_history_declaring_an_absurd_shape_is_refused():
    state = pb.SolverState(iter=1)
    state.history.append(blob_of([HUGE]))
    state = pb.SolverState.FromString(state.SerializeToString())
    assert_names_the_limit(refused(WeightsError, lambda: blobproto_to_array(state.history[0], file="s")))


def test_an_hdf5_dataset_declaring_an_absurd_shape_is_refused_before_reading(tmp_path: Path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "huge.caffemodel.h5"
    with h5py.File(path, "w") as handle:  # 4 TiB declared, nothing written: the file is a few kB
        handle.create_dataset("data/ip1/0", shape=(2**20, 2**20), dtype="f4", chunks=(1, 1024))
    error = refused(WeightsError, lambda: net(LENET).copy_from(path))
    assert "dataset '/data/ip1/0' shape [1048576, 1048576]" in str(error)
    assert_names_the_limit(error)


HUGE_NPY = npy_bytes("<f4", (HUGE,), b"\0" * 64)


def test_an_npz_member_declaring_an_absurd_shape_is_refused_before_numpy_allocates(tmp_path: Path):
    """numpy itself would allocate the declared 4 TiB (or fail with a MemoryError) before reading."""
    path = tmp_path / "huge.npz"
    path.write_bytes(zip_bytes({"ip1/0.npy": HUGE_NPY}))
    lenet = net(LENET)
    for action in (lambda: lenet.copy_from(path),
                   lambda: convert_file(str(path), str(tmp_path / "o.caffemodel")),
                   lambda: convert_file(str(path), str(tmp_path / "o.solverstate"))):
        error = refused(WeightsError, action)
        assert "array 'ip1/0' shape [1099511627776]" in str(error)
        assert_names_the_limit(error)


def test_an_npy_declaring_an_absurd_shape_is_refused(tmp_path: Path):
    path = tmp_path / "huge.npy"
    path.write_bytes(HUGE_NPY)
    target = str(tmp_path / "o.binaryproto")
    assert_names_the_limit(refused(WeightsError, lambda: convert_file(str(path), target)))


def test_wide_strings_in_a_solver_state_npz_are_bounded_by_characters(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(LIMIT_VARIABLE, "1000")
    path = tmp_path / "state.npz"
    path.write_bytes(zip_bytes({"iter.npy": npy_bytes("<i8", (), bytes(8)),
                                "learned_net.npy": npy_bytes("<U100", (20,), b"")}))
    target = str(tmp_path / "s.solverstate")
    assert_names_the_limit(refused(WeightsError, lambda: convert_file(str(path), target)), 1000)


# ------------------------------------------------------------------ YAML that expands


def test_yaml_aliases_that_expand_to_millions_of_nodes_are_refused():
    """A "billion laughs" config: 3 kB of text whose aliases would make 10^9 nodes."""
    row = "[" + ", ".join(["1.0"] * 1000) + "]"
    text = (f"layer:\n  - &l\n    name: x\n    blobs:\n      - &b {{data: {row}}}\n"
            f"      - {{data: [1]}}\n    blobs: [{', '.join(['*b'] * 1000)}]\n"
            + "".join("  - *l\n" for _ in range(1000)))
    error = refused(ConfigError, lambda: config.parse(text, pb.NetParameter(), syntax="yaml"))
    assert "YAML aliases add" in str(error) and "over the limit of 1000000" in str(error)


def test_ordinary_yaml_aliases_still_work():
    text = "layer:\n  - &l {name: a, type: ReLU, bottom: x, top: x}\n  - *l\n"
    assert [layer.name for layer in config.parse(text, pb.NetParameter(), syntax="yaml").layer] == ["a", "a"]


@pytest.mark.parametrize("text", ["[" * 50000, "{a: " * 5000])
def test_deeply_nested_yaml_is_a_config_error(text):
    with pytest.raises(ConfigError, match="nested too deeply|exceeded maximum nesting depth"):
        config.parse(text, pb.NetParameter(), syntax="yaml")


# ------------------------------------------------------------------ data files (IDX)


def test_an_idx_header_declaring_an_absurd_shape_is_refused(tmp_path: Path):
    idx = pytest.importorskip("protonet.data.idx")
    from protonet.errors import DataError

    path = tmp_path / "huge-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x0D, 3]) + (2**20).to_bytes(4, "big") * 3 + bytes(64))
    assert_names_the_limit(refused(DataError, lambda: idx.read_idx(path)))


def test_a_gzip_bomb_idx_is_refused_without_decompressing_it_all(tmp_path: Path):
    idx = pytest.importorskip("protonet.data.idx")
    from protonet.errors import DataError

    path = tmp_path / "bomb-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as stream:  # 100 MiB of zeros after a header of 4 values
        stream.write(bytes([0, 0, 0x08, 1]) + (4).to_bytes(4, "big") + bytes(4))
        for _ in range(100):
            stream.write(bytes(1 << 20))
    assert path.stat().st_size < 1 << 20
    refused(DataError, lambda: idx.read_idx(path))


def test_an_absurd_batch_size_is_refused_before_allocation(tmp_path: Path):
    pytest.importorskip("protonet.data.npz")
    path = tmp_path / "d.npz"
    path.write_bytes(zip_bytes({"data.npy": npy_bytes("|u1", (4, 1, 28, 28), bytes(4 * 784)),
                                "labels.npy": npy_bytes("|u1", (4,), bytes(4))}))
    text = (f'layer {{ name: "d" type: "Data" top: "x" top: "y" '
            f'data_param {{ source: "{path}" batch_size: 2147483647 }} }}')
    assert_names_the_limit(refused(ConfigError, lambda: net(text)))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a grey image of width x height and holds no pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [20000, 3000])
def test_an_image_declaring_absurd_pixels_is_refused_before_decoding(tmp_path: Path, monkeypatch, side: int):
    pytest.importorskip("PIL.Image")
    from protonet.data.images import read_image
    from protonet.errors import DataError

    monkeypatch.setenv(LIMIT_VARIABLE, str(10**6))  # 20000^2 trips Pillow's own guard, 3000^2 only ours
    path = tmp_path / "big.png"
    path.write_bytes(png_header(side, side))
    error = refused(DataError, lambda: read_image(path, color=True, size=None, source="list.txt", line=1))
    assert_names_the_limit(error, 10**6)


def test_an_hdf5_data_file_declaring_an_absurd_dataset_is_refused(tmp_path: Path):
    h5py = pytest.importorskip("h5py")
    from protonet.data.hdf5 import read_datasets
    from protonet.errors import DataError

    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", shape=(2**20, 2**20), dtype="f4", chunks=(1, 1024))
    assert_names_the_limit(refused(DataError, lambda: read_datasets(path, ["data"])))


def input_net(dims: int) -> str:
    return f'layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ {"dim: 1 " * dims}}} }} }}'


@pytest.mark.parametrize("syntax", ["prototxt", "yaml"])
def test_more_axes_than_caffes_32_are_one_error_naming_the_layer(tmp_path: Path, syntax: str):
    path = tmp_path / f"net.{syntax}"
    dims = ", ".join(["1"] * 65)
    path.write_text(input_net(65) if syntax == "prototxt" else
                    f"layer:\n  - {{name: in, type: Input, top: x, input_param: {{shape: {{dim: [{dims}]}}}}}}\n")
    with pytest.raises(ConfigError, match=r"layer 'in': blob shape has 65 axes; at most 32 are allowed") as info:
        Net(path)
    assert str(info.value).startswith(str(path))
    assert Net(config.parse(input_net(32), pb.NetParameter())).blobs["x"].shape == (1,) * 32


def test_a_blobproto_with_more_than_32_axes_is_refused():
    with pytest.raises(WeightsError, match="has 40 axes; at most 32"):
        blobproto_to_array(blob_of([1] * 40, 1), file="w.caffemodel", layer="ip")


def test_a_config_of_millions_of_entries_is_refused_before_parsing(tmp_path: Path):
    path = tmp_path / "big.prototxt"
    path.write_text(input_net(5_000_000))  # 35 MB: parsing it whole would take over a minute
    with pytest.raises(ConfigError, match=r"big.prototxt: is 33.4 MiB; config files over 4 MiB are refused"):
        config.load_net(path)
