"""nn.Module machinery: registration, traversal, state dicts, modes, dtype moves, hooks,
repr, Parameter and the containers; PyTorch's behaviour is the reference."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn

torch = pytest.importorskip("torch")


# -- small modules defined the same way in both libraries --------------------------------------
def make_affine(lib: Any) -> Any:
    class Affine(lib.nn.Module):
        def __init__(self, n_in: int, n_out: int, bias: bool = True) -> None:
            super().__init__()
            self.n_in, self.n_out = n_in, n_out
            self.weight = lib.nn.Parameter(lib.ones(n_out, n_in))
            if bias:
                self.bias = lib.nn.Parameter(lib.zeros(n_out))
            else:
                self.register_parameter("bias", None)

        def forward(self, x: Any) -> Any:
            y = x @ self.weight.t()
            return y if self.bias is None else y + self.bias

        def extra_repr(self) -> str:
            return f"in_features={self.n_in}, out_features={self.n_out}, bias={self.bias is not None}"

    return Affine


def make_net(lib: Any) -> Any:
    Affine = make_affine(lib)

    class Norm(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("running_mean", lib.zeros(3))
            self.register_buffer("scratch", lib.zeros(3), persistent=False)
            self.register_buffer("count", lib.tensor(0))

        def forward(self, x: Any) -> Any:
            return x - self.running_mean

    class Net(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = Affine(4, 3)
            self.norm = Norm()
            self.body = lib.nn.Sequential(Affine(3, 3), Affine(3, 3, bias=False))
            self.heads = lib.nn.ModuleDict({"a": Affine(3, 2), "b": Affine(3, 1)})
            self.blocks = lib.nn.ModuleList([Affine(3, 3) for _ in range(3)])
            self.scale = lib.nn.Parameter(lib.ones(1))

        def forward(self, x: Any) -> Any:
            h = self.body(self.norm(self.fc1(x)))
            for b in self.blocks:
                h = b(h)
            return self.heads["a"](h) * self.scale

    return Net


NrNet = make_net(nr)
TorchNet = make_net(torch)


# -- registration ------------------------------------------------------------------------------
def test_named_parameters_buffers_and_state_dict_keys_match_pytorch() -> None:
    ours, theirs = NrNet(), TorchNet()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_parameters(prefix="m", recurse=False)] == ["m.scale"]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert isinstance(ours.state_dict(), OrderedDict)


def test_shared_parameters_and_modules_are_listed_once() -> None:
    Affine = make_affine(nr)
    a = Affine(2, 2)
    net = nn.Sequential(a, a)
    net.add_module("tied", Affine(2, 2))
    net.tied.weight = a.weight  # type: ignore[union-attr]
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "tied.bias"]
    all_names = [n for n, _ in net.named_parameters(remove_duplicate=False)]
    assert all_names == ["0.weight", "0.bias", "1.weight", "1.bias", "tied.weight", "tied.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "0", "tied"]
    assert len(list(net.children())) == 2


def test_setattr_routes_parameters_modules_and_buffers() -> None:
    m = nn.Module()
    m.w = nn.Parameter(nr.zeros(2))
    m.child = nn.Module()
    m.register_buffer("buf", nr.zeros(2))
    assert list(m._parameters) == ["w"] and list(m._modules) == ["child"]
    assert list(m._buffers) == ["buf"]
    assert "w" not in m.__dict__ and "child" not in m.__dict__
    m.buf = nr.ones(2)  # re-assigning a buffer name keeps it a buffer
    np.testing.assert_array_equal(m.buf.numpy(), [1, 1])
    assert type(m.buf) is nr.Tensor
    m.w = None  # a parameter name accepts None
    assert m.w is None and "w" in m._parameters
    m.plain = nr.zeros(1)  # a plain tensor is an ordinary attribute, as in PyTorch
    assert "plain" in m.__dict__ and "plain" not in m._buffers
    m.child = nn.Parameter(nr.ones(1))  # a name moves from modules to parameters
    assert "child" in m._parameters and "child" not in m._modules
    m.extra = nn.Buffer(nr.zeros(3), persistent=False)
    assert "extra" in m._buffers and "extra" not in m.state_dict()
    assert type(m._buffers["extra"]) is nr.Tensor


def test_registration_errors_are_clear() -> None:
    m = nn.Module()
    m.w = nn.Parameter(nr.zeros(2))
    with pytest.raises(TypeError, match=r"cannot assign 'Tensor' as parameter 'w' \(nn.Parameter or None"):
        m.w = nr.zeros(2)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' object to parameter 'v'"):
        m.register_parameter("v", nr.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(KeyError, match='must not contain "."'):
        m.register_buffer("a.b", nr.zeros(1))
    with pytest.raises(KeyError, match="attribute 'w' already exists"):
        m.register_buffer("w", nr.zeros(1))
    with pytest.raises(TypeError, match="cannot assign 'int' object to buffer 'b'"):
        m.register_buffer("b", 3)  # type: ignore[arg-type]
    frozen = nn.Parameter(nr.zeros(2), requires_grad=False)
    frozen.add_(nr.ones(2, requires_grad=True))  # now it has a history
    with pytest.raises(ValueError, match="non-leaf Tensor to parameter 'p'"):
        m.register_parameter("p", frozen)
    m.child = nn.Module()
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'child'"):
        m.child = 3
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        _ = m.nope

    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(nr.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Early()


def test_delattr_and_get_submodule() -> None:
    net = NrNet()
    assert net.get_submodule("body.1") is net.body[1]
    assert net.get_parameter("heads.a.weight") is net.heads["a"].weight
    assert net.get_buffer("norm.running_mean") is net.norm.running_mean
    with pytest.raises(AttributeError, match="has no submodule 'x'"):
        net.get_submodule("body.x")
    del net.scale
    del net.norm.running_mean
    del net.heads
    assert "scale" not in dict(net.named_parameters())
    assert "norm.running_mean" not in net.state_dict()
    assert "heads" not in dict(net.named_children())


# -- state dicts -------------------------------------------------------------------------------
@pytest.mark.cpu_only("numpy memory sharing: numpy() of a device tensor is a host copy")
def test_state_dict_is_detached_and_shares_storage() -> None:
    net = NrNet()
    sd = net.state_dict()
    w = sd["fc1.weight"]
    assert type(w) is nr.Tensor and not w.requires_grad and w.grad_fn is None
    assert np.shares_memory(w.numpy(), net.fc1.weight.detach().numpy())
    assert "norm.scratch" not in sd and "norm.count" in sd
    kept = net.state_dict(keep_vars=True)
    assert kept["fc1.weight"] is net.fc1.weight
    dest: OrderedDict[str, Any] = OrderedDict()
    net.fc1.state_dict(destination=dest, prefix="x.")
    assert list(dest) == ["x.weight", "x.bias"]


def test_load_state_dict_copies_in_place_and_round_trips_from_pytorch() -> None:
    theirs = TorchNet()
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype))
        theirs.norm.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
    ours = NrNet()
    param_before = ours.fc1.weight
    result = ours.load_state_dict({k: nr.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    assert ours.fc1.weight is param_before and ours.fc1.weight.requires_grad
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k].numpy(), v.numpy())
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(nr.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    # the copy does not alias the source
    src = ours.state_dict()
    fresh = NrNet()
    fresh.load_state_dict(src)
    assert not np.shares_memory(fresh.fc1.weight.detach().numpy(), src["fc1.weight"].numpy())


def test_load_state_dict_strict_error_lists_missing_unexpected_and_size_mismatch() -> None:
    net = NrNet()
    sd = net.state_dict()
    del sd["fc1.bias"]
    sd["fc1.b"] = nr.zeros(3)
    sd["nothere.weight"] = nr.zeros(3)
    sd["fc1.weight"] = nr.zeros(3, 5)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:\n\t")
    assert 'Missing key(s) in state_dict: "fc1.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "nothere.weight", "fc1.b".' in msg
    assert ("size mismatch for fc1.weight: copying a param with shape [3, 5] from checkpoint, "
            "the shape in current model is [3, 4].") in msg
    # the same problems as PyTorch reports
    tnet = TorchNet()
    tsd = tnet.state_dict()
    del tsd["fc1.bias"]
    tsd["fc1.b"] = torch.zeros(3)
    tsd["nothere.weight"] = torch.zeros(3)
    tsd["fc1.weight"] = torch.zeros(3, 5)
    with pytest.raises(RuntimeError) as tinfo:
        tnet.load_state_dict(tsd)
    assert str(tinfo.value).replace("torch.Size(", "").replace("])", "]").replace(". ", ".") \
        == msg.replace(". ", ".")


def test_load_state_dict_non_strict_returns_keys_but_shape_mismatch_still_raises() -> None:
    net = NrNet()
    sd = net.state_dict()
    del sd["scale"]
    sd["extra"] = nr.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]
    tnet = TorchNet()
    tsd = tnet.state_dict()
    del tsd["scale"]
    tsd["extra"] = torch.zeros(1)
    assert tuple(tnet.load_state_dict(tsd, strict=False)) == tuple(result)
    sd["fc1.weight"] = nr.zeros(1)
    with pytest.raises(RuntimeError, match="size mismatch for fc1.weight"):
        net.load_state_dict(sd, strict=False)
    with pytest.raises(RuntimeError, match='"fc1.bias", expected a Tensor from the checkpoint '
                                           "but received int"):
        net.load_state_dict({**net.state_dict(), "fc1.bias": 3})
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([1, 2])  # type: ignore[arg-type]


@pytest.mark.cpu_only("numpy memory sharing: numpy() of a device tensor is a host copy")
def test_load_state_dict_casts_dtype_and_assign_takes_tensors() -> None:
    net = make_affine(nr)(2, 2)
    sd = {"weight": nr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=nr.float64),
          "bias": nr.tensor([5.0, 6.0], dtype=nr.float64)}
    net.load_state_dict(sd)
    assert net.weight.dtype is nr.float32
    np.testing.assert_array_equal(net.weight.detach().numpy(), [[1, 2], [3, 4]])
    net.weight.requires_grad_(False)
    net.load_state_dict(sd, assign=True)
    assert net.weight.dtype is nr.float64 and isinstance(net.weight, nn.Parameter)
    assert not net.weight.requires_grad and net.bias.requires_grad
    assert np.shares_memory(net.weight.detach().numpy(), sd["weight"].numpy())


def test_extra_state_round_trips() -> None:
    class Counter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def get_extra_state(self) -> Any:
            return {"n": self.n}

        def set_extra_state(self, state: Any) -> None:
            self.n = state["n"]

    a, b = Counter(), Counter()
    a.n = 7
    assert list(a.state_dict()) == ["_extra_state"]
    b.load_state_dict(a.state_dict())
    assert b.n == 7


# -- modes, gradients, apply -------------------------------------------------------------------
def test_train_eval_propagate() -> None:
    net = NrNet()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="mode is expected to be a bool"):
        net.train(1)  # type: ignore[arg-type]


def test_backward_reaches_parameters_and_zero_grad() -> None:
    net = NrNet()
    out = net(nr.ones(2, 4)).sum()
    out.backward()
    unused = {"heads.b.weight", "heads.b.bias"}  # not in forward: no gradient, as in PyTorch
    assert all((p.grad is None) == (n in unused) for n, p in net.named_parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is None or not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_visits_children_first_like_pytorch() -> None:
    ours, theirs = [], []
    NrNet().apply(lambda m: ours.append(type(m).__name__))
    TorchNet().apply(lambda m: theirs.append(type(m).__name__))
    assert ours == theirs


# -- dtype and device --------------------------------------------------------------------------
def test_to_dtype_keeps_parameter_objects_and_converts_grads_and_float_buffers() -> None:
    net = NrNet()
    net(nr.ones(1, 4)).sum().backward()
    params = list(net.parameters())
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype is nr.float64 and isinstance(p, nn.Parameter) for p in params)
    assert all(p.grad is None or p.grad.dtype is nr.float64 for p in params)
    assert net.fc1.weight.grad is not None
    assert net.norm.running_mean.dtype is nr.float64
    assert net.norm.count.dtype is nr.int64  # integer buffers keep their dtype
    assert all(p.requires_grad and p.is_leaf for p in params)
    net.half()
    assert net.fc1.weight.dtype is nr.float16
    net.to(nr.float32)
    assert net.fc1.weight.dtype is nr.float32
    net.to(nr.zeros(1, dtype=nr.float64))
    assert net.fc1.weight.dtype is nr.float64
    net.float().cpu()
    assert net.fc1.weight.dtype is nr.float32
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        net.to(nr.int32)
    out = net(nr.ones(1, 4, device="cpu"))  # the net was moved to the cpu above
    assert out.dtype is nr.float32


# -- hooks and call ----------------------------------------------------------------------------
def test_forward_hooks_modify_inputs_and_outputs_and_remove() -> None:
    m = make_affine(nr)(2, 2)
    calls: list[str] = []

    def pre(mod: nn.Module, args: tuple[Any, ...]) -> Any:
        calls.append("pre")
        return args[0] * 2  # a single value replaces the args tuple

    def post(mod: nn.Module, args: tuple[Any, ...], out: Any) -> Any:
        calls.append("post")
        return out + 1

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    y = m(nr.ones(1, 2))
    np.testing.assert_array_equal(y.detach().numpy(), [[5, 5]])  # (2+2)+1
    assert calls == ["pre", "post"]
    h1.remove()
    h2.remove()
    np.testing.assert_array_equal(m(nr.ones(1, 2)).detach().numpy(), [[2, 2]])
    with m.register_forward_hook(lambda mod, a, out: out * 0):
        assert not m(nr.ones(1, 2)).detach().numpy().any()
    assert not m._forward_hooks


def test_hook_kwargs_prepend_and_always_call() -> None:
    class F(nn.Module):
        def forward(self, x: Any, *, scale: float = 1.0) -> Any:
            if scale < 0:
                raise ValueError("negative")
            return x * scale

    m = F()
    order: list[str] = []
    m.register_forward_hook(lambda mod, a, out: order.append("second"))
    m.register_forward_hook(lambda mod, a, out: order.append("first"), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: (a, {"scale": 3.0}), with_kwargs=True)
    seen: list[Any] = []
    m.register_forward_hook(lambda mod, a, kw, out: seen.append((kw, out)), with_kwargs=True,
                            always_call=True)
    out = m(nr.ones(1))
    np.testing.assert_array_equal(out.numpy(), [3.0])
    assert order == ["first", "second"] and seen[0][0] == {"scale": 3.0}
    m2 = F()
    failed: list[Any] = []
    m2.register_forward_hook(lambda mod, a, out: failed.append(out), always_call=True)
    with pytest.raises(ValueError, match="negative"):
        m2(nr.ones(1), scale=-1.0)
    assert failed == [None]


def test_missing_forward_is_a_clear_error() -> None:
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward"'):
        nn.Module()(nr.ones(1))
    with pytest.raises(TypeError, match="takes none"):
        nn.Module(3)


# -- repr --------------------------------------------------------------------------------------
def test_repr_matches_pytorch() -> None:
    assert repr(NrNet()) == repr(TorchNet())
    assert repr(nn.Module()) == "Module()"
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


# -- Parameter ---------------------------------------------------------------------------------
@pytest.mark.cpu_only("numpy memory sharing and the CPU repr")
def test_parameter_shares_data_and_prints_like_pytorch() -> None:
    base = nr.tensor([1.0, 2.0])
    p = nn.Parameter(base)
    assert p.requires_grad and p.is_leaf and isinstance(p, nr.Tensor)
    assert np.shares_memory(p.detach().numpy(), base.numpy())
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    assert not nn.Parameter(base, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        nn.Parameter(nr.tensor([1, 2]))
    assert not nn.Parameter(nr.tensor([1, 2]), requires_grad=False).requires_grad
    with pytest.raises(TypeError, match="data must be a Tensor"):
        nn.Parameter([1.0])  # type: ignore[arg-type]


def test_parameter_inputs_work_in_every_dispatch_path_and_results_are_plain_tensors() -> None:
    p = nn.Parameter(nr.tensor([1.0, 2.0]))
    q = nn.Parameter(nr.tensor([3.0, 4.0]))
    outs = [p * q, p + 1.0, -p, p * nr.tensor([2.0, 2.0]), nr.tensor([2.0, 2.0]) * p,
            p.exp(), (p @ q), p.sum(), p.reshape(2, 1), p.to(nr.float64)]
    assert all(type(o) is nr.Tensor for o in outs)
    loss = (p * q).sum() + (-p).sum() + p.exp().sum()
    loss.backward()
    np.testing.assert_allclose(p.grad.numpy(), [3 - 1 + np.exp(1), 4 - 1 + np.exp(2)], rtol=1e-6)
    assert type(p.grad) is nr.Tensor
    with nr.no_grad():
        p.mul_(2.0)  # in place on a parameter under no_grad (an optimizer step)
    np.testing.assert_array_equal(p.detach().numpy(), [2.0, 4.0])
    assert isinstance(p, nn.Parameter) and p.is_leaf


def test_deepcopy_and_pickle() -> None:
    net = NrNet()
    net(nr.ones(1, 4)).sum().backward()
    clone = copy.deepcopy(net)
    assert isinstance(clone.fc1.weight, nn.Parameter) and clone.fc1.weight.requires_grad
    assert clone.fc1.weight is not net.fc1.weight
    assert not np.shares_memory(clone.fc1.weight.detach().numpy(), net.fc1.weight.detach().numpy())
    assert clone.fc1.weight.grad is not None
    with nr.no_grad():
        clone.fc1.weight.add_(1.0)
    assert not np.array_equal(clone.fc1.weight.detach().numpy(), net.fc1.weight.detach().numpy())
    p = pickle.loads(pickle.dumps(nn.Parameter(nr.tensor([1.0, 2.0]))))
    assert isinstance(p, nn.Parameter) and p.requires_grad
    np.testing.assert_array_equal(p.detach().numpy(), [1.0, 2.0])


# -- containers --------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_mutation() -> None:
    Affine = make_affine(nr)
    a, b, c = Affine(2, 2), Affine(2, 2), Affine(2, 2)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert list(sub._modules) == ["1", "2"]  # slices keep their keys, as in PyTorch
    seq.append(Affine(2, 2))
    assert len(seq) == 4
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and seq[1] is c
    seq.insert(0, b)
    assert seq[0] is b and seq[1] is a
    assert seq.pop(0) is b and len(seq) == 3
    seq[0] = b
    assert seq[0] is b
    with pytest.raises(IndexError, match="index 7 is out of range"):
        seq[7]
    named = nn.Sequential(OrderedDict([("first", a), ("second", b)]))
    assert [n for n, _ in named.named_children()] == ["first", "second"]
    assert named.first is a
    x = nr.tensor([[1.0, -1.0]])
    np.testing.assert_allclose(named(x).detach().numpy(), b(a(x)).detach().numpy())
    with pytest.raises(TypeError, match="argument 0 is a int"):
        nn.Sequential(3)  # type: ignore[arg-type]


def test_sequential_slicing_and_deletion_match_pytorch() -> None:
    TAffine = make_affine(torch)
    Affine = make_affine(nr)
    ours = nn.Sequential(OrderedDict((k, Affine(2, 2)) for k in "abcd"))
    theirs = torch.nn.Sequential(OrderedDict((k, TAffine(2, 2)) for k in "abcd"))
    assert list(ours[1:3]._modules) == list(theirs[1:3]._modules)
    del ours[1]
    del theirs[1]
    assert list(ours._modules) == list(theirs._modules)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_module_list_and_dict() -> None:
    Affine = make_affine(nr)
    layers = nn.ModuleList([Affine(2, 2) for _ in range(3)])
    layers.append(Affine(2, 3))
    layers.extend([Affine(3, 3)])
    layers += [Affine(3, 3)]
    assert len(layers) == 6 and isinstance(layers[1:3], nn.ModuleList)
    layers.insert(1, Affine(5, 5))
    assert layers[1].n_in == 5 and len(layers) == 7
    del layers[1]
    assert list(layers._modules) == [str(i) for i in range(6)]
    assert "3.weight" in layers.state_dict()
    with pytest.raises(TypeError, match="iterable of modules"):
        layers.extend(Affine(1, 1))  # type: ignore[arg-type]
    heads = nn.ModuleDict({"a": Affine(1, 1)})
    heads["b"] = Affine(1, 2)
    heads.update([("c", Affine(1, 3))])
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert [k for k, _ in heads.items()] == list(heads.keys())
    assert heads.pop("a").n_out == 1 and list(heads) == ["b", "c"]
    assert list(heads.state_dict()) == ["b.weight", "b.bias", "c.weight", "c.bias"]
    compact = repr(nn.ModuleList([Affine(2, 2) for _ in range(3)] + [Affine(2, 1)]))
    expected = repr(torch.nn.ModuleList([make_affine(torch)(2, 2) for _ in range(3)]
                                        + [make_affine(torch)(2, 1)]))
    assert compact == expected


def test_parameter_list_and_dict() -> None:
    m = nn.Module()
    m.plist = nn.ParameterList([nr.zeros(2), nn.Parameter(nr.ones(3))])
    m.plist.append(nr.zeros(1))
    m.pdict = nn.ParameterDict({"a": nr.zeros(2)})
    m.pdict["b"] = nr.ones(1)
    assert list(m.state_dict()) == ["plist.0", "plist.1", "plist.2", "pdict.a", "pdict.b"]
    assert all(isinstance(p, nn.Parameter) for p in m.parameters())
    assert len(m.plist) == 3 and m.plist[1].shape == (3,) and list(m.pdict) == ["a", "b"]
    t = torch.nn.Module()
    t.plist = torch.nn.ParameterList([torch.zeros(2), torch.ones(3), torch.zeros(1)])
    t.pdict = torch.nn.ParameterDict({"a": torch.zeros(2), "b": torch.ones(1)})
    assert list(t.state_dict()) == list(m.state_dict())
