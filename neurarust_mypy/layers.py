"""Built-in layers: their literal configuration kept in the layer's type where it is built
(``nn.Linear(784, 128)``), and applied where it is called, through the same rules as the
functions the layer's forward calls. Layers composed of several rules live in :mod:`.composite`."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from mypy.nodes import (
    CallExpr,
    Expression,
    TypeInfo,
)
from mypy.plugin import (
    FunctionContext,
    MethodContext,
)
from mypy.types import (
    AnyType,
    Instance,
    LiteralType,
    NoneType,
    TupleType,
    Type,
    TypeOfAny,
    get_proper_type,
)

from neurarust.types.dim import Dim
from neurarust.types.dtype import get_default_dtype

from .core import (
    TENSOR,
    Call,
    NotLiteral,
    TInfo,
    _ints,
    _is_tensor,
    _lit,
    _literal,
    _str_lit,
    apply_rule,
    dims_of,
    expr_name,
    literal_value,
    plain,
    read,
)
from .functions import (
    adaptive_pool,
    conv,
    embedding,
    layer_norm,
    pool,
    softmax,
)
from .signatures import (
    _signature,
    bind_call,
)

UNARY_MODULES = {"ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "Dropout", "Identity", "LeakyReLU",
                 "ELU", "Softplus", "ReLU6", "Hardtanh", "CELU", "SELU", "Mish", "Hardsigmoid",
                 "Hardswish", "Softsign", "Tanhshrink", "LogSigmoid", "Threshold", "Dropout1d",
                 "Dropout2d"}

# -- layers ------------------------------------------------------------------------------------
LAYERS = {
    "neurarust.nn.linear.Linear": "Linear",
    "neurarust.nn.conv.Conv2d": "Conv2d",
    "neurarust.nn.pooling.MaxPool2d": "MaxPool2d",
    "neurarust.nn.pooling.AvgPool2d": "AvgPool2d",
    "neurarust.nn.linear.Flatten": "Flatten",
    "neurarust.nn.normalization.LayerNorm": "LayerNorm",
    "neurarust.nn.sparse.Embedding": "Embedding",
    "neurarust.nn.container.Sequential": "Sequential",
    "neurarust.nn.conv.Conv1d": "Conv1d",
    "neurarust.nn.conv.ConvTranspose1d": "ConvTranspose1d",
    "neurarust.nn.conv.ConvTranspose2d": "ConvTranspose2d",
    "neurarust.nn.pooling.MaxPool1d": "MaxPool1d",
    "neurarust.nn.pooling.AvgPool1d": "AvgPool1d",
    "neurarust.nn.normalization.BatchNorm1d": "BatchNorm1d",
    "neurarust.nn.normalization.BatchNorm2d": "BatchNorm2d",
    "neurarust.nn.normalization.GroupNorm": "GroupNorm",
    "neurarust.nn.normalization.RMSNorm": "RMSNorm",
    "neurarust.nn.activation.Softmax": "Softmax",
    "neurarust.nn.activation.LogSoftmax": "LogSoftmax",
    "neurarust.nn.activation.Softmin": "Softmin",
    "neurarust.nn.rnn.RNN": "RNN",
    "neurarust.nn.rnn.LSTM": "LSTM",
    "neurarust.nn.rnn.GRU": "GRU",
    "neurarust.nn.attention.MultiheadAttention": "MultiheadAttention",
    "neurarust.nn.transformer.TransformerEncoderLayer": "TransformerEncoderLayer",
    "neurarust.nn.transformer.TransformerEncoder": "TransformerEncoder",
    "neurarust.nn.pooling.AdaptiveAvgPool1d": "AdaptiveAvgPool1d",
    "neurarust.nn.pooling.AdaptiveAvgPool2d": "AdaptiveAvgPool2d",
}

_CONV_ARGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
              "groups", "bias")

_TRANSPOSE_ARGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                   "output_padding", "groups", "bias", "dilation")

_RNN_ARGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
             "bidirectional")

LAYER_ARGS = {  # the constructor arguments that decide a layer's output shape
    "Conv2d": _CONV_ARGS,
    "Conv1d": _CONV_ARGS,
    "ConvTranspose1d": _TRANSPOSE_ARGS,
    "ConvTranspose2d": _TRANSPOSE_ARGS,
    "MaxPool1d": ("kernel_size", "stride", "padding", "dilation", "return_indices",
                  "ceil_mode"),
    "AvgPool1d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    "AdaptiveAvgPool1d": ("output_size",),
    "AdaptiveAvgPool2d": ("output_size",),
    "BatchNorm1d": ("num_features",),
    "BatchNorm2d": ("num_features",),
    "GroupNorm": ("num_groups", "num_channels", "affine"),
    "RMSNorm": ("normalized_shape",),
    "Softmax": ("dim",),
    "LogSoftmax": ("dim",),
    "Softmin": ("dim",),
    "RNN": _RNN_ARGS,
    "LSTM": (*_RNN_ARGS, "proj_size"),
    "GRU": _RNN_ARGS,
    "MultiheadAttention": ("embed_dim", "num_heads", "kdim", "vdim", "batch_first"),
    "TransformerEncoderLayer": ("d_model", "nhead", "dim_feedforward", "batch_first"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "return_indices",
                  "ceil_mode"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                  "divisor_override"),
    "Flatten": ("start_dim", "end_dim"),
    "LayerNorm": ("normalized_shape",),
    "Embedding": ("num_embeddings", "embedding_dim"),
}

_RNN_DEFAULTS = {"num_layers": 1, "bias": True, "batch_first": False, "bidirectional": False}

LAYER_DEFAULTS: dict[str, dict[str, Any]] = {
    "Conv2d": {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True},
    "Conv1d": {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True},
    "ConvTranspose1d": {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1,
                        "bias": True, "dilation": 1},
    "ConvTranspose2d": {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1,
                        "bias": True, "dilation": 1},
    "MaxPool1d": {"stride": None, "padding": 0, "dilation": 1, "return_indices": False,
                  "ceil_mode": False},
    "AvgPool1d": {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True},
    "GroupNorm": {"affine": True},
    "Softmax": {"dim": None},
    "LogSoftmax": {"dim": None},
    "Softmin": {"dim": None},
    "RNN": _RNN_DEFAULTS,
    "LSTM": {**_RNN_DEFAULTS, "proj_size": 0},
    "GRU": _RNN_DEFAULTS,
    "MultiheadAttention": {"kdim": None, "vdim": None, "batch_first": False},
    "TransformerEncoderLayer": {"dim_feedforward": 2048, "batch_first": False},
    "MaxPool2d": {"stride": None, "padding": 0, "dilation": 1, "return_indices": False,
                  "ceil_mode": False},
    "AvgPool2d": {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                  "divisor_override": None},
    "Flatten": {"start_dim": 1, "end_dim": -1},
}

def _plain_literal(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_plain_literal(v) for v in value)
    return value is None or isinstance(value, (int, str))

def _layer_key(t: Type) -> str | None:
    """How a layer inside ``Sequential(...)`` is remembered: its encoded configuration."""
    p = get_proper_type(t)
    if not isinstance(p, Instance):
        return None
    if p.type.name in UNARY_MODULES and p.type.fullname.startswith("neurarust.nn."):
        return p.type.name + "{}"
    lit = get_proper_type(p.args[0]) if p.args else None
    if isinstance(lit, LiteralType) and isinstance(lit.value, str):
        return lit.value
    return None

def layer_config(ctx: FunctionContext, cls: str) -> Type:
    """``nn.Linear(784, 128)``, ``nn.Conv2d(1, 32, 3, padding=1)``, ``nn.Sequential(...)``:
    remember the literal configuration in the layer's type."""
    p = get_proper_type(ctx.default_return_type)
    if not isinstance(p, Instance) or p.args:
        return ctx.default_return_type
    try:
        if cls == "Linear":
            fin, fout = _lit(ctx, "in_features", None, 0), _lit(ctx, "out_features", None, 1)
            bias = _lit(ctx, "bias", True, 2)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (fin, fout)):
                return ctx.default_return_type
            text = f"Linear({fin}, {fout}, {bool(bias)})"
        elif cls == "Sequential":
            items = [get_proper_type(t) for t in ctx.arg_types[0]] if ctx.args else []
            if any(isinstance(t, Instance) and t.type.fullname.endswith("OrderedDict")
                   for t in items):
                return ctx.default_return_type
            layers = tuple(_layer_key(t) for t in ctx.arg_types[0])
            config: dict[str, Any] = {"layers": layers}
            broken = _check_chain(ctx, layers)
            if broken is not None:
                config["broken"] = broken
            text = f"Sequential{config!r}"
        elif cls == "TransformerEncoder":
            if not ctx.arg_types or not ctx.arg_types[0]:
                return ctx.default_return_type
            text = f"TransformerEncoder{ {'layer': _layer_key(ctx.arg_types[0][0])}!r}"
        else:
            config = dict(LAYER_DEFAULTS.get(cls, {}))
            for name in LAYER_ARGS[cls]:
                value = _str_lit(ctx, name, config.get(name, NotLiteral))
                if value is NotLiteral or not _plain_literal(value):
                    return ctx.default_return_type
                config[name] = value
            text = f"{cls}{config!r}"
    except NotLiteral:
        return ctx.default_return_type
    return Instance(p.type, [_literal(ctx.api, text)], line=p.line, column=p.column)

def _probe(key: str | None) -> TInfo | None:
    """A symbolic input a layer accepts, from its configuration alone (None: no such)."""
    if key is None:
        return None
    dtype = get_default_dtype().name
    if key.startswith("Linear("):
        return TInfo(dtype, dims_of((Dim.sym("N"), int(key[len("Linear("):].split(",")[0]))))
    cls, brace, rest = key.partition("{")
    if not brace:
        return None
    cfg = ast.literal_eval(brace + rest)
    n, h, w = Dim.sym("N"), Dim.sym("H"), Dim.sym("W")
    shapes: dict[str, Callable[[], tuple[Any, ...]]] = {
        "Conv2d": lambda: (n, cfg["in_channels"], h, w),
        "Conv1d": lambda: (n, cfg["in_channels"], Dim.sym("L")),
        "BatchNorm2d": lambda: (n, cfg["num_features"], h, w),
        "BatchNorm1d": lambda: (n, cfg["num_features"]),
        "LayerNorm": lambda: (n, *_ints(cfg["normalized_shape"])),
    }
    if cls == "Sequential":
        return _probe(cfg["layers"][0]) if cfg["layers"] else None
    if cls == "Embedding":
        return TInfo("int64", dims_of((n, Dim.sym("T"))))
    return TInfo(dtype, dims_of(shapes[cls]())) if cls in shapes else None

def _check_chain(ctx: FunctionContext, layers: tuple[str | None, ...]) -> int | None:
    """Where ``nn.Sequential(...)`` is built: apply its layers to a symbolic input of the
    first one; a layer that provably cannot take its predecessor's output is reported here,
    once (calls then stop before it). Returns that layer's index."""
    h = _probe(layers[0]) if layers else None
    if h is None:
        return None
    sym = _LOOKUP[0](TENSOR) if _LOOKUP else None
    if sym is None or not isinstance(sym.node, TypeInfo):
        return None
    call = Call(ctx.api, ctx.context, Instance(sym.node, []), facts=(), quiet=True)
    name = "input"
    for i, sub in enumerate(layers):
        shape = h.shape or ()
        out = read(apply_layer(call, sub, h, name, f"Sequential[{i}]"))
        if call.errors:
            if any(isinstance(d, Dim) and d.free_symbols() - {"N"} for d in shape):
                return None  # sizes of the probe's own: clearer where it is called
            for message, code in call.held or []:
                ctx.api.fail(message, ctx.context, code=code)
            return i
        if out is None or out.shape is None:
            return None
        h, name = out, f"Sequential[{i}](...)"
    return None

def apply_layer(call: Call, key: str | None, x: TInfo, x_name: str, label: str,
                extra: dict[str, Any] | None = None) -> Type:
    """A configured built-in layer applied to ``x`` (``key`` as :func:`layer_config` wrote
    it), through the same code paths as the functions it calls; ``extra``: the call's other
    arguments (an RNN's ``hx``, attention's ``key``/``value``/``need_weights``)."""
    if key is None:
        return plain(call.default)
    cls, brace, rest = key.partition("{")
    if not brace:
        if key.startswith("Linear("):
            fin, fout, _bias = key[len("Linear("):-1].split(", ")
            w = TInfo(get_default_dtype().name, dims_of((int(fin), int(fout))))
            return apply_rule(call, "matmul", [(x, x_name), (w, f"{label}.weight.T")], {},
                              label=label)
        return plain(call.default)
    if cls in UNARY_MODULES:
        return call.result(x.dtype, x.shape)
    cfg = ast.literal_eval(brace + rest)
    if cls in COMPOSITE_LAYERS:
        return composite_layer(call, cls, cfg, x, x_name, label, extra or {})
    if cls == "Sequential":
        h, h_name = x, x_name
        layers = cfg["layers"]
        for i, sub in enumerate(layers):
            if i == cfg.get("broken"):
                return plain(call.default)  # reported where the Sequential is built
            last = i == len(layers) - 1
            out = apply_layer(call if last else call.inner(), sub, h, h_name, f"{label}[{i}]")
            found = read(out)
            if found is None or last:
                return out
            h, h_name = found, f"{label}[{i}](...)"
        return call.result(x.dtype, x.shape)
    if cls in ("Conv1d", "Conv2d"):
        n = 1 if cls == "Conv1d" else 2
        k = cfg["kernel_size"]
        k = (k,) * n if isinstance(k, int) else tuple(k)
        groups = cfg["groups"]
        if not isinstance(groups, int) or groups <= 0 or len(k) != n:
            return plain(call.default)
        dtype = get_default_dtype().name
        w = TInfo(dtype, dims_of((cfg["out_channels"], cfg["in_channels"] // groups, *k)))
        b = TInfo(dtype, dims_of((cfg["out_channels"],))) if cfg["bias"] else None
        return conv(call, x, x_name, w, f"{label}.weight", b, cfg["stride"], cfg["padding"],
                    cfg["dilation"], groups, label, n=n)
    if cls in ("MaxPool1d", "MaxPool2d"):
        if cfg["return_indices"]:
            return plain(call.default)
        return pool(call, cls.lower().replace("pool", "_pool"), x, x_name, cfg["kernel_size"],
                    cfg["stride"], cfg["padding"], {"dilation": cfg["dilation"],
                                                    "ceil_mode": bool(cfg["ceil_mode"])}, label)
    if cls in ("AvgPool1d", "AvgPool2d"):
        extra_attrs = {"ceil_mode": bool(cfg["ceil_mode"]),
                       "count_include_pad": bool(cfg["count_include_pad"]),
                       "divisor_override": cfg.get("divisor_override")}
        return pool(call, cls.lower().replace("pool", "_pool"), x, x_name, cfg["kernel_size"],
                    cfg["stride"], cfg["padding"], extra_attrs, label)
    if cls in ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d"):
        return adaptive_pool(call, f"adaptive_avg_pool{cls[-2]}d", x, x_name, cfg["output_size"],
                             label)
    if cls == "Flatten":
        return apply_rule(call, "flatten", [(x, x_name)],
                          {"start_dim": cfg["start_dim"], "end_dim": cfg["end_dim"]},
                          label=label)
    if cls == "LayerNorm":
        return layer_norm(call, x, x_name, cfg["normalized_shape"], label)
    if cls == "Embedding":
        return embedding(call, x, x_name, cfg["embedding_dim"], get_default_dtype().name,
                         label)
    return plain(call.default)

COMPOSITE_LAYERS = {"ConvTranspose1d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d",
                    "GroupNorm", "RMSNorm", "Softmax", "LogSoftmax", "Softmin", "RNN", "LSTM",
                    "GRU", "MultiheadAttention", "TransformerEncoderLayer",
                    "TransformerEncoder"}

def composite_layer(call: Call, cls: str, cfg: dict[str, Any], x: TInfo, x_name: str,
                    label: str, extra: dict[str, Any]) -> Type:
    """The layers :mod:`.composite` builds from registered rules (and softmax's dim)."""
    from . import composite as c

    try:
        if cls in ("Softmax", "LogSoftmax", "Softmin"):
            return softmax(call, x, x_name, cls.lower(), cfg["dim"])
        if cls == "RMSNorm":
            return layer_norm(call, x, x_name, cfg["normalized_shape"], label)
        if cls in ("ConvTranspose1d", "ConvTranspose2d"):
            return c.tensor_type(call, c.conv_transpose(call, cfg, int(cls[-2]), x, x_name,
                                                        label))
        if cls in ("BatchNorm1d", "BatchNorm2d"):
            ranks = (2, 3) if cls == "BatchNorm1d" else (4,)
            return c.tensor_type(call, c.batch_norm(call, cfg, ranks, x, x_name, label))
        if cls == "GroupNorm":
            return c.tensor_type(call, c.group_norm(call, cfg, x, x_name, label))
        if cls in ("RNN", "LSTM", "GRU"):
            return c.recurrent(call, cfg, cls, x, x_name, extra.get("hx", ()), label)
        if cls == "MultiheadAttention":
            (k, k_name), (v, v_name) = extra.get("key", (x, x_name)), extra.get(
                "value", (x, x_name))
            if k is None or v is None:
                return AnyType(TypeOfAny.implementation_artifact)
            need = extra.get("need_weights", True)
            out, weights = c.attention(call, cfg, x, x_name, k, k_name, v, v_name, need,
                                       extra.get("average_attn_weights", True), label)
            return c.attention_type(call, out, weights, need)
        if cls == "TransformerEncoderLayer":
            return c.tensor_type(call, c.encoder_layer(call, cfg, x, x_name, label))
        if cls == "TransformerEncoder":
            return apply_layer(call, cfg["layer"], x, x_name, f"{label}.layers[0]")
    except c.Stop:
        if cls in ("RNN", "LSTM", "GRU", "MultiheadAttention"):
            return AnyType(TypeOfAny.implementation_artifact)
        return plain(call.default)
    return plain(call.default)

def _layer_extra(ctx: MethodContext) -> dict[str, Any] | None:
    """The arguments of ``layer(x, ...)`` after the input that a layer's shape depends on;
    None when one of them is present but cannot be read."""
    positional = list(zip(ctx.args[0], ctx.arg_types[0]))[1:] if ctx.args else []
    keywords = {name: (e, t) for e, t, name in zip(
        ctx.args[1], ctx.arg_types[1], ctx.arg_names[1])} if len(ctx.args) > 1 else {}
    extra: dict[str, Any] = {}

    def tensor(e: Expression, t: Type, name: str) -> tuple[TInfo | None, str]:
        return read(t), expr_name(e, name)

    key = _layer_key(ctx.type)
    cls = key.partition("{")[0] if key is not None else ""
    if cls in ("RNN", "LSTM", "GRU"):
        found = positional[0] if positional else keywords.get("hx")
        if found is not None:
            p = get_proper_type(found[1])
            items = p.items if isinstance(p, TupleType) else [found[1]]
            extra["hx"] = [read(i) if not isinstance(get_proper_type(i), NoneType) else None
                           for i in items]
    elif cls == "MultiheadAttention":
        for i, name in enumerate(("key", "value")):
            found = positional[i] if i < len(positional) else keywords.get(name)
            if found is None:
                return None
            extra[name] = tensor(found[0], found[1], name)
        for name in ("need_weights", "average_attn_weights"):
            index = {"need_weights": 3, "average_attn_weights": 5}[name]
            found = positional[index] if index < len(positional) else keywords.get(name)
            if found is not None:
                try:
                    value = literal_value(found[0], ctx.api)
                except NotLiteral:
                    return None
                if not isinstance(value, bool):
                    return None
                extra[name] = value
    elif positional and cls in ("TransformerEncoderLayer", "TransformerEncoder"):
        return extra  # masks: they do not change the output's shape
    elif positional:
        return None
    return extra

def module_call(ctx: MethodContext) -> Type:
    """``layer(x)``: a configured built-in layer's rule, or a user Module's ``forward``."""
    layer = ctx.type
    if not isinstance(layer, Instance):
        return ctx.default_return_type
    callee = ctx.context.callee if isinstance(ctx.context, CallExpr) else None
    if not layer.type.fullname.startswith("neurarust.nn."):
        return _forward_call(ctx, layer, expr_name(callee, layer.type.name))
    if not ctx.args or not ctx.args[0]:
        return ctx.default_return_type
    extra = _layer_extra(ctx)
    if extra is None:
        return ctx.default_return_type
    x_type, x_expr = ctx.arg_types[0][0], ctx.args[0][0]
    label = expr_name(callee, layer.type.name)
    call = Call(ctx.api, ctx.context, _tensor_default(ctx, x_type))
    x = read(x_type)
    key = _layer_key(layer)
    if key is not None and "'return_indices': True" in key:
        return ctx.default_return_type
    if key is None:
        return plain(call.default)
    if x is None:
        return plain(call.default)
    return apply_layer(call, key, x, expr_name(x_expr, "input"), label, extra)

def _forward_call(ctx: MethodContext, layer: Instance, label: str) -> Type:
    """A Module subclass called: check and type the call as its ``forward``."""
    sig = _signature(layer.type.get_method("forward"))
    if sig is None:
        return ctx.default_return_type
    names = [n for n in sig.arg_names[1:]]
    actuals = {n: t for n, t in zip(names, ctx.arg_types[0] if ctx.arg_types else [])
               if n is not None}
    callee = ctx.context.callee if isinstance(ctx.context, CallExpr) else None
    return bind_call(ctx, sig, actuals, where=f"{label}", default=sig.ret_type,
                     instance_expr=callee)

def _tensor_default(ctx: MethodContext, fallback: Type) -> Type:
    p = get_proper_type(ctx.default_return_type)
    if isinstance(p, Instance) and _is_tensor(p.type):
        return p
    q = get_proper_type(fallback)
    if isinstance(q, Instance) and _is_tensor(q.type):
        return q
    return ctx.default_return_type

_LOOKUP: list[Callable[[str], Any]] = []  # the plugin's lookup_fully_qualified
