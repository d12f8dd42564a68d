"""Legacy formats -> current, as Caffe's upgrade_proto does; each upgrade notes itself once."""

from __future__ import annotations

import logging

from .errors import ConfigError
from .proto import pb

log = logging.getLogger("protonet")


def _note(source: str | None, what: list[str]) -> None:
    log.warning("Note: %s%s was upgraded (%s); 'protonet upgrade IN OUT' writes the current format",
                f"{source}: " if source else "", "the net" if source is None else "this file",
                ", ".join(what))


def upgrade_net(net: pb.NetParameter, source: str | None = None) -> pb.NetParameter:
    """A copy of `net` in the current format (Caffe's UpgradeNetAsNeeded and the later upgrades).

    V0 layers -> V1, V1 data-layer transformation fields -> transform_param, V1 `layers` ->
    `layer`, legacy inputs -> an Input layer, BatchNorm statistics never learned. One note is
    logged listing what changed.
    """
    out = pb.NetParameter()
    out.CopyFrom(net)
    done = []
    if out.layers:
        from . import upgrade_v1

        if upgrade_v1.is_v0(out):
            out = upgrade_v1.upgrade_v0_net(out, source)
            done.append("V0 layers to V1")
        if upgrade_v1.upgrade_data_transformation(out):
            done.append("data layer transformation fields to transform_param")
        out = upgrade_v1.upgrade_v1_net(out, source)
        done.append("V1 'layers' to 'layer'")
    if out.input:
        _upgrade_inputs(out, source)
        done.append("'input' declarations to an Input layer")
    for layer in out.layer:
        if layer.type == "BatchNorm":  # its blobs are statistics, never learned (UpgradeNetBatchNorm)
            del layer.param[:]
            layer.param.extend(pb.ParamSpec(lr_mult=0, decay_mult=0) for _ in range(3))
    if done:
        _note(source, done)
    return out


def _upgrade_inputs(net: pb.NetParameter, source: str | None) -> None:
    names = list(net.input)
    if net.input_shape:
        if len(net.input_shape) != len(names):
            raise ConfigError(f"{len(names)} inputs but {len(net.input_shape)} input_shape entries",
                              file=source)
        shapes = [list(s.dim) for s in net.input_shape]
    elif net.input_dim:
        if len(net.input_dim) != 4 * len(names):
            raise ConfigError(f"{len(names)} inputs need {4 * len(names)} input_dim values, found "
                              f"{len(net.input_dim)}", file=source)
        shapes = [list(net.input_dim[4 * i:4 * i + 4]) for i in range(len(names))]
    else:
        shapes = []
    layer = pb.LayerParameter(name="input", type="Input", top=names)
    for dims in shapes:
        layer.input_param.shape.add(dim=dims)
    layers = [layer] + list(net.layer)
    del net.layer[:]
    net.layer.extend(layers)
    net.ClearField("input")
    net.ClearField("input_shape")
    net.ClearField("input_dim")


SOLVER_TYPES = {pb.SolverParameter.SGD: "SGD", pb.SolverParameter.NESTEROV: "Nesterov",
                pb.SolverParameter.ADAGRAD: "AdaGrad", pb.SolverParameter.RMSPROP: "RMSProp",
                pb.SolverParameter.ADADELTA: "AdaDelta", pb.SolverParameter.ADAM: "Adam"}


def upgrade_solver(solver: pb.SolverParameter, source: str | None = None) -> pb.SolverParameter:
    """A copy of `solver` in the current format (Caffe's UpgradeSolverAsNeeded, and more).

    The legacy `solver_type` enum becomes `type`; nets embedded as net_param, train_net_param
    or test_net_param are upgraded like net files (Caffe leaves them to fail later).
    """
    out = pb.SolverParameter()
    out.CopyFrom(solver)
    if out.HasField("solver_type"):
        if out.HasField("type") and out.type != SOLVER_TYPES[out.solver_type]:
            raise ConfigError(f"solver_type {pb.SolverParameter.SolverType.Name(out.solver_type)} and type "
                              f"'{out.type}' disagree", file=source, hint="keep only 'type'")
        out.type = SOLVER_TYPES[out.solver_type]
        out.ClearField("solver_type")
        _note(source, ["'solver_type' to 'type'"])
    for name in ("net_param", "train_net_param"):
        if out.HasField(name):
            getattr(out, name).CopyFrom(upgrade_net(getattr(out, name), _within(source, name)))
    for i, net in enumerate(out.test_net_param):
        net.CopyFrom(upgrade_net(net, _within(source, f"test_net_param[{i}]")))
    return out


def _within(source: str | None, field: str) -> str:
    return f"{source} ({field})" if source else field
