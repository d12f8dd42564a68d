"""Python layers run user code only when allowed, with pycaffe's layer interface."""

import numpy as np
import pytest

from protonet import Net
from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient
from protonet.layers.python import allow_python_layers

MODULE = '''
class Scaler:
    """y = k x, with k from param_str."""

    def setup(self, bottom, top):
        self.k = float(self.param_str)

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].shape)

    def forward(self, bottom, top):
        top[0].data[...] = self.k * bottom[0].data

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].diff[...] = self.k * top[0].diff
'''

NET = """
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "py" type: "Python" bottom: "x" top: "y"
        python_param { module: "user_scaler" layer: "Scaler" param_str: "3" } }
"""


@pytest.fixture
def net_file(tmp_path):
    (tmp_path / "user_scaler.py").write_text(MODULE)
    (tmp_path / "net.prototxt").write_text(NET)
    yield tmp_path / "net.prototxt"
    allow_python_layers(False)


def test_refused_by_default(net_file):
    with pytest.raises(ConfigError, match="pass --allow-python-layers"):
        Net(net_file)


def test_runs_when_allowed(net_file):
    allow_python_layers(True)
    net = Net(net_file)
    out = net.forward(x=np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_allclose(out["y"], 3 * np.arange(6).reshape(2, 3))


def test_gradient(net_file, monkeypatch):
    allow_python_layers(True)
    monkeypatch.syspath_prepend(str(net_file.parent))
    check_gradient('type: "Python" python_param { module: "user_scaler" layer: "Scaler" param_str: "-2" }',
                   [np.random.default_rng(0).normal(size=(2, 3))])


def test_missing_module_is_a_config_error(net_file):
    allow_python_layers(True)
    net_file.write_text(NET.replace("user_scaler", "no_such_module_here"))
    with pytest.raises(ConfigError, match="cannot import python_param.module 'no_such_module_here'"):
        Net(net_file)
