"""Layers whose output shape is a composition of registered rules: normalization, transposed
convolution, recurrent layers, multi-head attention and the Transformer encoder layer.

Each function follows the runtime's forward step by step, applying the registered rule of each
op it calls (``matmul`` for a projection, ``reshape``/``permute`` for the heads, ``stack`` for
the final states, ...), so shapes come from the op declarations, never from a formula here.
The runtime's own argument checks that are not op rules (``input.size(-1)`` of an LSTM, the
hidden state's size, a batch norm's channel count) are stated as requirements with the
runtime's words, so a provably violated one is an ``[nr-shape]`` error and an undecided one a
note, as for rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mypy.types import Instance, NoneType, TupleType, Type, get_proper_type

from neurarust.types.annotations import decide_under
from neurarust.types.cond import Cond
from neurarust.types.dim import Dim

from .core import Call, TInfo, apply_rule, dims_of, read, show, sizes_at_least_one


class Stop(Exception):
    """A step failed (reported) or gave an unknown shape: the layer's result is unknown."""


class Steps:
    """Registered rules applied one after another for one layer call, reported under the
    layer's name."""

    def __init__(self, call: Call, label: str) -> None:
        self.call, self.label = call, label

    def __call__(self, op: str, *operands: tuple[TInfo, str], **attrs: Any) -> TInfo:
        out = read(apply_rule(self.call, op, list(operands), attrs, label=self.label))
        if out is None or out.shape is None:
            raise Stop
        return out

    def weight(self, dtype: str, *shape: Any) -> TInfo:
        return TInfo(dtype, dims_of(shape))

    def require(self, cond: Cond, message: str) -> None:
        """A runtime check of the layer: an error when provably false, else a note."""
        facts = (*self.call.facts, *sizes_at_least_one(list(_dims_in(cond))))
        verdict = decide_under(cond, facts)
        if verdict is False:
            self.call.shape_error(f"{self.label}: {message}")
            raise Stop
        if verdict is None:
            self.call.undecided(self.label, [cond])


def _dims_in(cond: Cond) -> list[Dim]:
    return [Dim.sym(n) for n in sorted(cond.free_symbols())]


def _shape(x: TInfo) -> tuple[Any, ...]:
    shape = x.shape
    if shape is None:
        raise Stop
    return shape


def tensor_type(call: Call, info: TInfo | None) -> Type:
    """A Tensor type carrying ``info`` (a plain Tensor for None)."""
    if info is None:
        return call.result("Shaped", None)
    return call.result(info.dtype, info.shape)


def tuple_type(call: Call, items: Sequence[Type]) -> Type:
    fallback = call.api.named_generic_type("builtins.tuple", [_tensor_of(call)])
    return TupleType(list(items), fallback)


def _tensor_of(call: Call) -> Instance:
    p = get_proper_type(call.default)
    assert isinstance(p, Instance)
    return Instance(p.type, [])


# -- normalization -----------------------------------------------------------------------------
def batch_norm(call: Call, cfg: dict[str, Any], ranks: tuple[int, ...], x: TInfo, x_name: str,
               label: str) -> TInfo:
    """``BatchNorm1d``/``2d``: ``(x - mean) * rsqrt(var + eps) * weight + bias`` with the
    per-channel statistics viewed as ``(1, C, 1, ...)``."""
    steps = Steps(call, label)
    shape = _shape(x)
    if len(shape) not in ranks:
        expected = " or ".join(f"{r}D" for r in ranks)
        call.shape_error(f"{label}: expected {expected} input (got {len(shape)}D input "
                         f"{x_name} of shape {show(shape)})")
        raise Stop
    features = cfg["num_features"]
    steps.require(Dim.of(shape[1]).eq(features),
                  f"batch_norm: running_mean should have one entry per channel: {x_name} is "
                  f"{show(shape)}, running_mean is [{features}] (expected {features} == "
                  f"{shape[1]}, input.shape[1])")
    stats = steps.weight(x.dtype, features)
    per_channel = steps("reshape", (stats, f"{label}.running_mean"),
                        shape=(1, shape[1], *(1,) * (len(shape) - 2)))
    return steps("sub", (x, x_name), (per_channel, f"{label}.running_mean"))


def group_norm(call: Call, cfg: dict[str, Any], x: TInfo, x_name: str, label: str) -> TInfo:
    """``GroupNorm``: statistics over ``(N, G, -1)``, then the per-channel affine viewed as
    ``(1, C, 1, ...)`` (whose reshape is what checks the channel count, as at run time)."""
    steps = Steps(call, label)
    shape = _shape(x)
    if len(shape) < 2:
        call.shape_error(f"{label}: group_norm: expected an input of shape (N, C, *), got "
                         f"{x_name} of shape {show(shape)}")
        raise Stop
    groups = cfg["num_groups"]
    steps.require(Dim.of(shape[1]).__mod__(groups).eq(0),
                  f"group_norm: expected the number of channels to be divisible by "
                  f"num_groups, got {x_name} of shape {show(shape)} and num_groups={groups}")
    grouped = steps("reshape", (x, x_name), shape=(shape[0], groups, -1))
    out = steps("reshape", (grouped, f"{label}(...)"), shape=tuple(shape))
    if not cfg["affine"]:
        return out
    weight = steps.weight(x.dtype, cfg["num_channels"])
    per_channel = steps("reshape", (weight, f"{label}.weight"),
                        shape=(1, shape[1], *(1,) * (len(shape) - 2)))
    return steps("mul", (out, f"{label}(...)"), (per_channel, f"{label}.weight"))


# -- transposed convolution ----------------------------------------------------------------------
def conv_transpose(call: Call, cfg: dict[str, Any], n: int, x: TInfo, x_name: str,
                   label: str) -> TInfo:
    """``ConvTranspose{n}d``: the registered ``conv_transpose{n}d`` rule, with PyTorch's
    ``padding``/``output_padding`` as the (before, after) crops the rule takes."""
    from neurarust.ops.arguments import int_tuple as _tuple

    op = f"conv_transpose{n}d"
    try:
        k = _tuple(cfg["kernel_size"], n, "kernel_size", op)
        st = _tuple(cfg["stride"], n, "stride", op)
        di = _tuple(cfg["dilation"], n, "dilation", op)
        p = _tuple(cfg["padding"], n, "padding", op)
        extra = _tuple(cfg["output_padding"], n, "output_padding", op)
    except ValueError as err:
        call.shape_error(f"{label}: {str(err).split(': ', 1)[-1]}")
        raise Stop from None
    groups = cfg["groups"]
    if not isinstance(groups, int) or groups <= 0:
        raise Stop
    steps = Steps(call, label)
    w = steps.weight(x.dtype, cfg["in_channels"], cfg["out_channels"] // groups, *k)
    operands = [(x, x_name), (w, f"{label}.weight")]
    if cfg["bias"]:
        operands.append((steps.weight(x.dtype, cfg["out_channels"]), f"{label}.bias"))
    pads = tuple((v, v - e) for v, e in zip(p, extra))  # the runtime's _conv_transpose
    return steps(op, *operands, stride=st, padding=pads, dilation=di, groups=groups)


# -- recurrent layers ----------------------------------------------------------------------------
_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def recurrent(call: Call, cfg: dict[str, Any], mode: str, x: TInfo, x_name: str,
              hx: Sequence[TInfo | None], label: str) -> Type:
    """``RNN``/``LSTM``/``GRU`` on ``x`` with optional initial states ``hx`` (``(h0,)`` or
    ``(h0, c0)``): ``output`` and the final states, as the runtime's layer loop builds them."""
    steps = Steps(call, label)
    shape = _shape(x)
    if len(shape) not in (2, 3):
        call.shape_error(f"{label}: Expected input to be 2D or 3D, got {len(shape)}D instead "
                         f"({x_name} of shape {show(shape)})")
        raise Stop
    hidden, layers = cfg["hidden_size"], cfg["num_layers"]
    proj = cfg.get("proj_size", 0) or 0
    out_size = proj if proj > 0 else hidden
    directions = 2 if cfg["bidirectional"] else 1
    steps.require(Dim.of(shape[-1]).eq(cfg["input_size"]),
                  f"{mode}: input.size(-1) must be equal to input_size. Expected "
                  f"{cfg['input_size']}, got {shape[-1]} ({x_name} of shape {show(shape)})")
    batched = len(shape) == 3
    seq = x
    if not batched:
        seq = steps("unsqueeze", (x, x_name), dim=1)
    elif cfg["batch_first"]:
        seq = steps("permute", (x, x_name), dims_order=(1, 0, 2))
    steps_t, batch = _shape(seq)[0], _shape(seq)[1]
    states = [("hidden[0]" if mode == "LSTM" else "hx", out_size)]
    if mode == "LSTM":
        states.append(("hidden[1]", hidden))
    initial: list[TInfo] = []
    for (what, size), given in zip(states, [*hx, *[None] * (2 - len(hx))]):
        want = (layers * directions, batch, size)
        if given is None or given.shape is None:
            initial.append(steps.weight(x.dtype, *want))
            continue
        got = given.shape
        if len(got) != (3 if batched else 2):
            call.shape_error(f"{label}: For {'batched 3-D' if batched else 'unbatched 2-D'} "
                             f"input, {what} should also be {3 if batched else 2}-D but got "
                             f"{len(got)}-D tensor")
            raise Stop
        state = given if batched else steps("unsqueeze", (given, what), dim=1)
        for a, b in zip(_shape(state), want):
            steps.require(Dim.of(a).eq(b), f"{mode}: Expected {what} size "
                          f"{_show_state(want, batched)}, got {_show_state(got, batched)}")
        initial.append(state)
    gates = _GATES[mode] * hidden
    layer_in, h_n, c_n = seq, [], []
    for layer in range(layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            width = _shape(layer_in)[-1]
            w_ih = steps.weight(x.dtype, width, gates)
            xp = steps("matmul", (layer_in, x_name if layer == 0 else f"{label}(...)"),
                       (w_ih, f"{label}.weight_ih{suffix}.T"))  # (T, N, G)
            index = layer * directions + direction
            h = steps("getitem", (initial[0], "h_0"), index=(index,))
            c = steps("getitem", (initial[1], "c_0"), index=(index,)) if mode == "LSTM" \
                else None
            step_in = steps("getitem", (xp, "x_t"), index=(0,))  # one step: (N, G)
            pre = steps("add", (step_in, "x_t"),
                        (steps("matmul", (h, "h"), (steps.weight(x.dtype, out_size, gates),
                                                     f"{label}.weight_hh{suffix}.T")), "h"))
            if mode == "LSTM" and c is not None:
                gate = steps("narrow", (pre, "gates"), dim=1, start=0, length=hidden)
                c = steps("add", (steps("mul", (gate, "f"), (c, "c")), "f*c"), (gate, "i*g"))
                h = steps("mul", (gate, "o"), (c, "c"))
                if proj > 0:
                    h = steps("matmul", (h, "h"), (steps.weight(x.dtype, hidden, proj),
                                                   f"{label}.weight_hr{suffix}.T"))
            else:
                h = steps("narrow", (pre, "gates"), dim=1, start=0, length=hidden)
            per_step = steps("unsqueeze", (h, "h_t"), dim=0)
            outputs.append(steps("expand", (per_step, "h_t"), size=(steps_t, -1, -1)))
            h_n.append(h)
            if c is not None:
                c_n.append(c)
        layer_in = outputs[0] if directions == 1 else steps(
            "cat", *[(o, f"{label}(...)") for o in outputs], dim=2)
    final = [steps("stack", *[(h, "h_n") for h in h_n], dim=0)]
    if c_n:
        final.append(steps("stack", *[(c, "c_n") for c in c_n], dim=0))
    out = layer_in
    if not batched:
        out = steps("squeeze", (out, "output"), dim=(1,))
        final = [steps("squeeze", (f, "h_n"), dim=(1,)) for f in final]
    elif cfg["batch_first"]:
        out = steps("permute", (out, "output"), dims_order=(1, 0, 2))
    states_type = [tensor_type(call, f) for f in final]
    second = tuple_type(call, states_type) if mode == "LSTM" else states_type[0]
    return tuple_type(call, [tensor_type(call, out), second])


def _show_state(shape: Sequence[Any], batched: bool) -> str:
    shown = tuple(shape) if batched else (shape[0], shape[-1])
    return "(" + ", ".join(str(d) for d in shown) + ")"


# -- attention -------------------------------------------------------------------------------------
def attention(call: Call, cfg: dict[str, Any], q: TInfo, q_name: str, k: TInfo, k_name: str,
              v: TInfo, v_name: str, need_weights: bool, average: bool,
              label: str) -> tuple[TInfo, TInfo | None]:
    """``MultiheadAttention``: in-projections, heads, scores, weighted sum, out-projection."""
    steps = Steps(call, label)
    embed, heads = cfg["embed_dim"], cfg["num_heads"]
    if not isinstance(embed, int) or not isinstance(heads, int) or heads <= 0 \
            or embed % heads:
        raise Stop
    head_dim = embed // heads
    kdim = cfg["kdim"] if cfg["kdim"] is not None else embed
    vdim = cfg["vdim"] if cfg["vdim"] is not None else embed
    ranks = {len(_shape(t)) for t in (q, k, v)}
    if ranks not in ({2}, {3}):
        call.shape_error(f"{label}: query, key and value must be all 2-D (unbatched) or all "
                         f"3-D: {q_name} is {show(_shape(q))}, {k_name} is {show(_shape(k))}, "
                         f"{v_name} is {show(_shape(v))}")
        raise Stop
    batched = ranks == {3}

    def seq_first(t: TInfo, name: str) -> TInfo:
        if not batched:
            return steps("unsqueeze", (t, name), dim=1)
        if cfg["batch_first"]:
            return steps("permute", (t, name), dims_order=(1, 0, 2))
        return t

    steps.require(Dim.of(_shape(q)[-1]).eq(embed),
                  f"MultiheadAttention: was expecting embedding dimension of {embed}, but got "
                  f"{_shape(q)[-1]} ({q_name} of shape {show(_shape(q))})")
    for a, b in zip(_shape(k)[:-1], _shape(v)[:-1]):
        steps.require(Dim.of(a).eq(b), f"MultiheadAttention: key shape {show(_shape(k))} does "
                      f"not match value shape {show(_shape(v))} ({k_name}, {v_name})")
    dtype = q.dtype
    projected = []  # the in-projections act on the last dim: the layout does not matter
    for t, name, width, which in ((q, q_name, embed, "q"), (k, k_name, kdim, "k"),
                                  (v, v_name, vdim, "v")):
        w = steps.weight(dtype, width, embed)
        out_t = steps("matmul", (t, name), (w, f"{label}.{which}_proj_weight.T"))
        projected.append(seq_first(out_t, f"{label}.{which}_proj(...)"))
    length, batch = _shape(projected[0])[0], _shape(projected[0])[1]
    split = []
    for t, name in zip(projected, ("q", "k", "v")):
        t4 = steps("reshape", (t, name), shape=(_shape(t)[0], batch, heads, head_dim))
        split.append(steps("permute", (t4, name), dims_order=(1, 2, 0, 3)))  # (N, h, L, hd)
    qh, kh, vh = split
    scores = steps("matmul", (qh, "q"), (steps("permute", (kh, "k"), dims_order=(0, 1, 3, 2)),
                                         "k.T"))  # (N, h, L, S)
    mixed = steps("matmul", (scores, "weights"), (vh, "v"))  # (N, h, L, hd)
    merged = steps("reshape", (steps("permute", (mixed, "out"), dims_order=(2, 0, 1, 3)),
                               "out"), shape=(length, batch, embed))
    out = steps("matmul", (merged, "out"), (steps.weight(dtype, embed, embed),
                                            f"{label}.out_proj.weight.T"))
    weights: TInfo | None = None
    if need_weights:
        weights = steps("mean", (scores, "weights"), dim=(1,), keepdim=False) if average \
            else scores
        if not batched:
            weights = steps("squeeze", (weights, "weights"), dim=(0,))
    if not batched:
        out = steps("squeeze", (out, "output"), dim=(1,))
    elif cfg["batch_first"]:
        out = steps("permute", (out, "output"), dims_order=(1, 0, 2))
    return out, weights


def attention_type(call: Call, out: TInfo, weights: TInfo | None, need_weights: bool) -> Type:
    second = tensor_type(call, weights) if need_weights else NoneType()
    return tuple_type(call, [tensor_type(call, out), second])


def encoder_layer(call: Call, cfg: dict[str, Any], x: TInfo, x_name: str, label: str) -> TInfo:
    """``TransformerEncoderLayer``: self-attention and feed-forward blocks with residual adds
    and layer norms (the order of ``norm_first`` does not change a shape)."""
    from .functions import layer_norm

    steps = Steps(call, label)
    d_model = cfg["d_model"]
    mha = {"embed_dim": d_model, "num_heads": cfg["nhead"], "kdim": None, "vdim": None,
           "batch_first": cfg["batch_first"]}
    attended, _ = attention(call, mha, x, x_name, x, x_name, x, x_name, False, True,
                            f"{label}.self_attn")
    h = steps("add", (x, x_name), (attended, f"{label}.self_attn(...)"))
    normed = read(layer_norm(call, h, f"{label}(...)", d_model, f"{label}.norm1"))
    if normed is None or normed.shape is None:
        raise Stop
    ff = steps("matmul", (normed, f"{label}(...)"),
               (steps.weight(x.dtype, d_model, cfg["dim_feedforward"]), f"{label}.linear1.weight.T"))
    ff = steps("matmul", (ff, f"{label}.linear1(...)"),
               (steps.weight(x.dtype, cfg["dim_feedforward"], d_model), f"{label}.linear2.weight.T"))
    return steps("add", (normed, f"{label}(...)"), (ff, f"{label}.linear2(...)"))
