"""From a solver file (or message) to a checked SolverParameter, its nets and its snapshot prefix."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import load_net, load_solver, set_field
from ..errors import ConfigError, ProtonetError, did_you_mean
from ..net import Net
from ..proto import pb
from ..upgrade import upgrade_solver
from .adadelta import AdaDelta
from .adagrad import AdaGrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .gd import GD
from .lbfgs import LBFGS
from .lr_policy import check_policy
from .nadam import NAdam
from .nesterov import Nesterov
from .newton import Newton
from .qhadam import QHAdam
from .radam import RAdam
from .rmsprop import RMSProp
from .rule import UpdateRule
from .sgd import SGD

log = logging.getLogger("protonet")

RULES: dict[str, type[UpdateRule]] = {
    cls.type: cls for cls in (SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam,
                              GD, NAdam, Adamax, AdamW, RAdam, QHAdam, Newton, LBFGS)}
TRAIN_FIELDS = ("net", "net_param", "train_net", "train_net_param")
NET_PREFIX = "net."  # `--set net.<path>=value` sets a field of every net the solver builds


def load(solver: str | Path | pb.SolverParameter, overrides: list[str] | None = None
         ) -> tuple[pb.SolverParameter, Path | None, list[tuple[str, str]]]:
    """The solver message (a copy) with `key=value` overrides applied, its file if any, and the overrides
    of the nets' fields (`net.<path>=value`, applied by net_specs)."""
    if isinstance(solver, pb.SolverParameter):
        param, source = upgrade_solver(solver), None
    else:
        param, source = load_solver(solver), Path(solver)
    net_overrides = []
    for item in overrides or ():
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key=value", file="--set",
                              hint="for example base_lr=0.001, or net.layer[conv1].convolution_param.num_output=32")
        if key.startswith(NET_PREFIX):
            net_overrides.append((key[len(NET_PREFIX):], value))
        else:
            set_field(param, key, value)
    return param, source, net_overrides


def validate(param: pb.SolverParameter, file: str | None = None) -> None:
    """ConfigError for a solver Caffe would refuse (or silently misuse), naming the field."""

    def fail(message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=file, hint=hint)

    train = [name for name in TRAIN_FIELDS if param.HasField(name)]
    if not train:
        raise fail("no train net", hint="set one of net, net_param, train_net or train_net_param")
    if len(train) > 1:
        raise fail(f"more than one train net: {', '.join(train)}", hint="keep exactly one of them")
    if param.type not in RULES:
        raise fail(f"unknown solver type '{param.type}'",
                   hint=did_you_mean(param.type, RULES) or f"use one of {', '.join(RULES)}")
    if not param.HasField("base_lr"):
        raise fail("base_lr is not set", hint="add base_lr, e.g. base_lr: 0.01")
    if param.base_lr < 0:
        raise fail(f"base_lr must be >= 0, found {param.base_lr:g}")
    check_policy(param, file)
    if not param.HasField("max_iter"):
        raise fail("max_iter is not set", hint="add max_iter, the number of iterations to train")
    if param.max_iter < 0:
        raise fail(f"max_iter must be >= 0, found {param.max_iter}")
    for name in ("iter_size", "average_loss"):
        if getattr(param, name) < 1:
            raise fail(f"{name} must be >= 1, found {getattr(param, name)}")
    for name in ("display", "snapshot", "test_interval", "weight_decay", "momentum"):
        if getattr(param, name) < 0:
            raise fail(f"{name} must be >= 0, found {getattr(param, name):g}")
    if param.regularization_type not in ("L1", "L2"):
        raise fail(f"unknown regularization_type '{param.regularization_type}'", hint="use L1 or L2")
    if param.type in ("AdaGrad", "RMSProp") and param.momentum != 0:
        raise fail(f"momentum cannot be used with {param.type}, found {param.momentum:g}",
                   hint="remove momentum, or use type SGD, Nesterov or Adam")
    if param.type == "RMSProp" and not 0 <= param.rms_decay <= 1:
        raise fail(f"rms_decay must lie in [0, 1], found {param.rms_decay:g}")
    RULES[param.type].check(param, fail)
    _validate_tests(param, fail)


def _validate_tests(param: pb.SolverParameter, fail: Callable[..., ConfigError]) -> None:
    explicit = len(param.test_net_param) + len(param.test_net)
    generic = param.HasField("net") or param.HasField("net_param")
    count = len(param.test_iter)
    if count < explicit or (count > explicit and not generic):
        raise fail(f"test_iter has {count} values for {explicit} test nets",
                   hint="give one test_iter per test net (test_net / test_net_param)")
    if param.test_state and len(param.test_state) != count:
        raise fail(f"test_state has {len(param.test_state)} entries for {count} test nets",
                   hint="give none, or one per test net")
    if count and param.test_interval <= 0:  # Caffe then never tests during training
        log.warning("Note: test_iter is set but test_interval is not: the test nets run only when asked "
                    "(solver.test_all())")
    for k, value in enumerate(param.test_iter):
        if value <= 0:
            raise fail(f"test_iter #{k} must be > 0, found {value}")


@dataclass
class NetSpec:
    """One net to build: its definition, the state it is filtered for, and where it came from."""

    param: pb.NetParameter
    state: pb.NetState
    file: str | None
    base_dir: Path


def net_specs(param: pb.SolverParameter, source: Path | None,
              net_overrides: list[tuple[str, str]] = ()) -> list[NetSpec]:
    """The train net then the test nets, in Caffe's order: test_net_param, test_net, then net/net_param;
    each with the `(path, value)` overrides of its fields set."""
    base = source.resolve().parent if source else Path.cwd()

    def spec(value: pb.NetParameter | str, phase: int, override: pb.NetState | None) -> NetSpec:
        if isinstance(value, str):
            net, file, where = load_net(value), value, Path(value).resolve().parent
        else:
            net, file, where = pb.NetParameter(), (str(source) if source else None), base
            net.CopyFrom(value)
        for path, text in net_overrides:
            set_field(net, path, text, file=f"--set {NET_PREFIX}{path}")
        state = pb.NetState(phase=phase)
        state.MergeFrom(net.state)
        if override is not None:
            state.MergeFrom(override)
        return NetSpec(net, state, file, where)

    train_field = next(name for name in TRAIN_FIELDS if param.HasField(name))
    specs = [spec(getattr(param, train_field), pb.TRAIN, param.train_state)]
    tests: list[pb.NetParameter | str] = list(param.test_net_param) + list(param.test_net)
    generic = param.net_param if param.HasField("net_param") else param.net if param.HasField("net") else None
    tests += [generic] * (len(param.test_iter) - len(tests))
    for k, value in enumerate(tests):
        override = param.test_state[k] if param.test_state else None
        specs.append(spec(value, pb.TEST, override))
    return specs


def build_net(spec: NetSpec, seed: int, dtype: np.dtype) -> Net:
    try:
        return Net(spec.param, phase=spec.state.phase, stages=list(spec.state.stage), level=spec.state.level,
                   dtype=dtype, seed=seed, base_dir=spec.base_dir)
    except ProtonetError as exc:
        raise exc.located(file=spec.file) from None


def net_seeds(random_seed: int, count: int) -> tuple[int, list[int]]:
    """The run's seed (random when random_seed < 0) and one seed per net: the train net gets the run's
    own seed, so Net(train, seed=s) starts from the same weights; test nets get derived ones."""
    seed = random_seed if random_seed >= 0 else secrets.randbits(63)
    derived = [int(np.random.SeedSequence(seed, spawn_key=(k,)).generate_state(1, np.uint64)[0])
               for k in range(1, count)]
    return seed, [seed, *derived]


def snapshot_prefix(param: pb.SolverParameter, source: Path | None, net_name: str) -> str | None:
    """Caffe's rule: no prefix -> the solver file without its extension; a folder -> folder/<solver stem>."""
    stem = source.stem if source else (net_name or "protonet")
    if param.snapshot_prefix:
        prefix = param.snapshot_prefix
        if prefix.endswith(("/", "\\")) or Path(prefix).is_dir():
            return str(Path(prefix) / stem)
        return prefix
    if source:
        return str(source.with_suffix(""))
    if param.snapshot:
        raise ConfigError("snapshot is set but snapshot_prefix is not",
                          hint="set snapshot_prefix, e.g. snapshot_prefix: \"snapshots/lenet\"")
    return None


def resolved(param: pb.SolverParameter, specs: list[NetSpec], seed: int, prefix: str | None
             ) -> pb.SolverParameter:
    """The solver as run: net files inlined (net -> net_param, train_net -> train_net_param,
    test_net -> test_net_param) with their overrides, and the seed and the snapshot prefix actually used."""
    out = pb.SolverParameter()
    out.CopyFrom(param)
    train = next(name for name in TRAIN_FIELDS if param.HasField(name))
    out.ClearField(train)
    getattr(out, train if train.endswith("_param") else f"{train}_param").CopyFrom(specs[0].param)
    out.ClearField("test_net")
    out.ClearField("test_net_param")
    for spec in specs[1:1 + len(param.test_net_param) + len(param.test_net)]:
        out.test_net_param.add().CopyFrom(spec.param)
    out.random_seed = seed
    if prefix:
        out.snapshot_prefix = prefix
    return out
