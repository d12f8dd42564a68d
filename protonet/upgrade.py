"""Legacy formats -> current, as Caffe's upgrade_proto does; each upgrade notes itself once."""

from __future__ import annotations

import logging

from .errors import ConfigError
from .proto import pb

log = logging.getLogger("protonet")


def _note(source: str | None, what: str) -> None:
    log.warning("Note: %s%s was upgraded (%s); 'protonet upgrade IN OUT' writes the current format",
                f"{source}: " if source else "", "the net" if source is None else "this file", what)


def upgrade_net(net: pb.NetParameter, source: str | None = None) -> pb.NetParameter:
    """A copy of `net` in the current format: legacy inputs become an Input layer."""
    out = pb.NetParameter()
    out.CopyFrom(net)
    if out.layers:
        from .upgrade_v1 import upgrade_v1_net

        out = upgrade_v1_net(out, source)
        _note(source, "V1 'layers' to 'layer'")
    if out.input:
        _upgrade_inputs(out, source)
        _note(source, "'input' declarations to an Input layer")
    for layer in out.layer:
        if layer.type == "BatchNorm":  # its blobs are statistics, never learned (UpgradeNetBatchNorm)
            del layer.param[:]
            layer.param.extend(pb.ParamSpec(lr_mult=0, decay_mult=0) for _ in range(3))
    return out


def _upgrade_inputs(net: pb.NetParameter, source: str | None) -> None:
    names = list(net.input)
    if net.input_shape:
        if len(net.input_shape) != len(names):
            raise ConfigError(f"{len(names)} inputs but {len(net.input_shape)} input_shape entries", file=source)
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
    """A copy of `solver` with the legacy `solver_type` enum turned into `type`."""
    out = pb.SolverParameter()
    out.CopyFrom(solver)
    if out.HasField("solver_type"):
        if out.HasField("type") and out.type != SOLVER_TYPES[out.solver_type]:
            raise ConfigError(f"solver_type {pb.SolverParameter.SolverType.Name(out.solver_type)} and type "
                              f"'{out.type}' disagree", file=source, hint="keep only 'type'")
        out.type = SOLVER_TYPES[out.solver_type]
        out.ClearField("solver_type")
        _note(source, "'solver_type' to 'type'")
    return out
