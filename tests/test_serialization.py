"""Checkpoints: safetensors layout and interop, nested structures, atomic writes, and clear
errors for truncated or corrupted files (never a crash, never garbage)."""

from __future__ import annotations

import io
import json
import math
import os
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.serialization import CheckpointError, load, load_metadata, save

ALL_DTYPES = [nr.bool_, nr.uint8, nr.int8, nr.int16, nr.int32, nr.int64, nr.float16,
              nr.float32, nr.float64]


def sample_state() -> OrderedDict[str, nr.Tensor]:
    rng = np.random.default_rng(0)
    sd: OrderedDict[str, nr.Tensor] = OrderedDict()
    sd["fc.weight"] = nr.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    sd["fc.bias"] = nr.tensor(rng.standard_normal(4).astype(np.float32))
    sd["bn.num_batches_tracked"] = nr.tensor(5)
    sd["emb.table"] = nr.tensor(rng.standard_normal((2, 2)))  # float32 from default
    sd["half"] = nr.tensor(np.arange(6, dtype=np.float16).reshape(2, 3))
    sd["mask"] = nr.tensor([True, False, True])
    sd["scalar"] = nr.tensor(np.float64(3.5))
    sd["empty"] = nr.zeros(0, 3)
    return sd


def assert_same(a: Any, b: Any) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, nr.Tensor):
        assert a.dtype is b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


# -- round trips and layout ---------------------------------------------------------------------
def test_state_dict_round_trip_keeps_values_dtypes_and_order(tmp_path: Path) -> None:
    sd = sample_state()
    path = tmp_path / "model.safetensors"
    save(sd, path)
    loaded = load(path)
    assert isinstance(loaded, dict) and list(loaded) == list(sd)
    for k, v in sd.items():
        assert_same(v, loaded[k])
        assert not loaded[k].requires_grad
    for dtype in ALL_DTYPES:
        t = nr.tensor(np.arange(-3, 3) % 2 if dtype is nr.bool_ else np.arange(6) - 2 *
                      (dtype is not nr.uint8)).to(dtype)
        save({"t": t}, path)
        assert_same(load(path)["t"], t)


def test_layout_is_exactly_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save({"b": nr.tensor([1.0, 2.0]), "a": nr.tensor([[1, 2]], dtype=nr.int16)}, path,
         metadata={"epoch": "3"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and (8 + n) % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["b"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    assert header["a"] == {"dtype": "I16", "shape": [1, 2], "data_offsets": [8, 12]}
    assert header["__metadata__"]["epoch"] == "3"
    assert set(header["__metadata__"]) == {"epoch", "neurarust.structure", "neurarust.sha256"}
    data = raw[8 + n:]
    assert len(data) == 12
    np.testing.assert_array_equal(np.frombuffer(data[:8], "<f4"), [1.0, 2.0])
    np.testing.assert_array_equal(np.frombuffer(data[8:], "<i2"), [1, 2])
    assert load_metadata(path)["epoch"] == "3"


def test_files_interoperate_with_the_safetensors_package(tmp_path: Path) -> None:
    sn = pytest.importorskip("safetensors.numpy")
    sd = sample_state()
    ours = tmp_path / "ours.safetensors"
    save(sd, ours)
    read_by_them = sn.load_file(str(ours))
    assert set(read_by_them) == set(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(read_by_them[k], v.numpy())
        assert read_by_them[k].dtype == v.numpy().dtype
    theirs = tmp_path / "theirs.safetensors"
    arrays = {k: v.numpy() for k, v in sd.items()}
    sn.save_file(arrays, str(theirs), metadata={"source": "safetensors"})
    read_by_us = load(theirs)
    assert set(read_by_us) == set(arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(read_by_us[k].numpy(), v)
        assert read_by_us[k].numpy().dtype == v.dtype
    assert load_metadata(theirs) == {"source": "safetensors"}


def test_files_interoperate_with_safetensors_torch(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.torch")
    torch = pytest.importorskip("torch")
    path = tmp_path / "t.safetensors"
    st.save_file({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, str(path))
    np.testing.assert_array_equal(load(path)["w"].numpy(), np.arange(6).reshape(2, 3))
    save({"w": nr.tensor([[1.0, 2.0]]), "i": nr.tensor([7])}, path)
    back = st.load_file(str(path))
    assert back["w"].tolist() == [[1.0, 2.0]] and back["i"].dtype == torch.int64


def test_nested_optimizer_like_state_round_trips(tmp_path: Path) -> None:
    state = {
        "state": {0: {"step": nr.tensor(3.0), "exp_avg": nr.ones(2, 2),
                      "exp_avg_sq": nr.zeros(2, 2)},
                  1: {"step": nr.tensor(3.0), "momentum_buffer": None}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                          "amsgrad": False, "foreach": None, "name": "body",
                          "params": [0, 1], "max_lr": math.inf, "odd": -math.inf,
                          "nan": math.nan}],
        "keys": {None: 1, True: 2, 2.5: "x", "0": "str zero"},
        "list_of_tensors": [nr.tensor([1, 2]), nr.tensor([3.0])],
    }
    path = tmp_path / "opt.safetensors"
    save(state, path)
    loaded = load(path)
    assert_same(state, loaded)
    assert isinstance(loaded["param_groups"][0]["betas"], tuple)
    assert list(loaded["state"]) == [0, 1]


def test_model_checkpoint_end_to_end(tmp_path: Path) -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(nr.randn(3, 2))
            self.layers = nn.ModuleList([nn.Module()])
            self.layers[0].register_buffer("stat", nr.arange(3))

    a, b = Net(), Net()
    save(a.state_dict(), tmp_path / "ckpt")
    b.load_state_dict(load(tmp_path / "ckpt"))
    np.testing.assert_array_equal(a.w.detach().numpy(), b.w.detach().numpy())
    assert b.w.requires_grad and isinstance(b.w, nn.Parameter)


def test_non_contiguous_and_parameter_tensors_are_saved_by_value(tmp_path: Path) -> None:
    base = nr.tensor(np.arange(12.0).reshape(3, 4))
    view = base.t()
    p = nn.Parameter(nr.ones(2))
    save({"v": view, "p": p}, tmp_path / "x")
    out = load(tmp_path / "x")
    np.testing.assert_array_equal(out["v"].numpy(), np.arange(12.0).reshape(3, 4).T)
    assert type(out["p"]) is nr.Tensor and not out["p"].requires_grad


def test_save_rejects_what_it_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="expected a state dict, got a Module.*model.state_dict"):
        save(nn.Module(), tmp_path / "x")
    with pytest.raises(TypeError, match=r"can't store a set \(at a.b\)"):
        save({"a": {"b": {1, 2}}}, tmp_path / "x")
    with pytest.raises(ValueError, match="'__metadata__' is reserved"):
        save({"__metadata__": nr.zeros(1)}, tmp_path / "x")
    with pytest.raises(ValueError, match="reserved"):
        save({}, tmp_path / "x", metadata={"neurarust.sha256": "0"})
    with pytest.raises(TypeError, match="metadata must map str to str"):
        save({}, tmp_path / "x", metadata={"a": 1})  # type: ignore[dict-item]
    assert not list(tmp_path.iterdir())  # nothing written, no temp files left behind


# -- atomic writes ------------------------------------------------------------------------------
def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.safetensors"
    save({"a": nr.ones(3)}, path)
    replaced: list[tuple[str, str]] = []
    fsynced: list[int] = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(os, "replace", lambda s, d: (replaced.append((s, d)), real_replace(s, d)))
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd)))
    save({"a": nr.zeros(3)}, path)
    assert len(replaced) == 1 and os.path.dirname(replaced[0][0]) == str(tmp_path)
    assert len(fsynced) == 2  # the file, then its directory
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]

    def crash(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save({"a": nr.full((3,), 7.0)}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]
    np.testing.assert_array_equal(load(path)["a"].numpy(), [0, 0, 0])  # old file intact


# -- corrupted files ----------------------------------------------------------------------------
def write_raw(path: Path, header: Any, data: bytes = b"", length: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if length is None else length
    path.write_bytes(struct.pack("<Q", n) + raw + data)
    return path


@pytest.mark.parametrize("header,data,length,message", [
    (b"", b"", None, "does not start with '{'"),
    (b"[1, 2]", b"", None, "does not start with '{'"),
    (b"{\"a\": ", b"", None, "tensor 'a': entry must be an object"),
    (b"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}", b"\0" * 4, None,
     "expected ',' or '}'"),
    (b"{\"a\": {\"dtype\": \"F\\x\", \"shape\": [1], \"data_offsets\": [0, 4]}}", b"\0" * 4, None,
     "header: not valid JSON"),
    (b"\xff\xfe{}", b"", None, "does not start with '{'"),
    (b'{"a\xff": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4, None,
     "not valid UTF-8"),
    ({}, b"", 10**9, "exceeds the 100000000-byte limit"),
    ({}, b"", 50, "runs past the end of the"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, None,
     r"tensor 'a' field 'data_offsets': \[0, 8\] runs past the 4 bytes of data"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 12, None,
     "cover 8 bytes of data but the file holds 12"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     r"tensor 'a' field 'data_offsets': F32\[3\] needs 12 bytes, but \[0, 8\] spans 8"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, None,
     "overlaps the previous tensor"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, None,
     "leaves a gap before it"),
    ({"a": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0" * 2, None,
     "tensor 'a' field 'dtype': 'BF16' is not supported by neurarust"),
    ({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 2]}}, b"\0" * 2, None,
     "field 'dtype': 'Q7' is unknown"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, None,
     "tensor 'a' field 'shape': must be a list of at most 64 non-negative integers below 2\\*\\*64, got '\\[-1"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}, b"\0" * 4, None,
     "tensor 'a' field 'data_offsets': must be \\[begin, end\\]"),
    ({"a": {"dtype": "F32", "shape": [1]}}, b"", None, "exactly dtype, shape and data_offsets"),
    ({"__metadata__": {"a": 1}}, b"", None, "__metadata__: must be an object mapping strings"),
    ({"a": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x07", None,
     "BOOL data holds bytes other than 0 and 1"),
    ({"a": {"dtype": "F32", "shape": [0, 2**62], "data_offsets": [0, 0]}}, b"", None,
     "can't build an array"),
    ({"__metadata__": {"neurarust.structure": "{}"}}, b"", None,
     "has neurarust entries but no 'neurarust.sha256'"),
])
def test_malformed_files_raise_a_clear_error(tmp_path: Path, header: Any, data: bytes,
                                             length: int | None, message: str) -> None:
    path = write_raw(tmp_path / "bad.safetensors", header, data, length)
    with pytest.raises(CheckpointError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_short_and_empty_files(tmp_path: Path) -> None:
    for content in (b"", b"\x01\x02"):
        (tmp_path / "short").write_bytes(content)
        with pytest.raises(CheckpointError, match="file too short"):
            load(tmp_path / "short")


def test_checksum_catches_silent_corruption(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    save({"w": nr.tensor([1.0, 2.0, 3.0])}, path)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01  # a flipped bit in the float data: still a valid-looking file
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load(path)
    # a shape permutation keeps the byte count but not the checksum
    save({"w": nr.zeros(2, 3)}, path)
    raw2 = path.read_bytes().replace(b'"shape":[2,3]', b'"shape":[3,2]')
    path.write_bytes(raw2)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load(path)


def _fuzz_file(tmp_path: Path) -> tuple[Path, Any]:
    obj = {"state": {0: {"step": nr.tensor(2.0), "buf": nr.tensor([[1.0, -2.0], [3.0, 4.5]])}},
           "groups": [{"lr": 0.1, "params": [0], "betas": (0.9, 0.99)}],
           "ids": nr.tensor([1, 2, 3]), "flags": nr.tensor([True, False])}
    path = tmp_path / "fuzz.safetensors"
    save(obj, path)
    return path, obj


def test_fuzz_truncation_at_every_length(tmp_path: Path) -> None:
    path, obj = _fuzz_file(tmp_path)
    raw = path.read_bytes()
    assert_same(obj, load(io.BytesIO(raw)))  # file objects work too
    for cut in range(len(raw)):  # in memory: the same reader, without disk latency
        with pytest.raises(CheckpointError, match="<file object>"):
            load(io.BytesIO(raw[:cut]))
    for cut in (0, 7, 8, len(raw) // 2, len(raw) - 1):
        (tmp_path / "bad").write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="bad"):
            load(tmp_path / "bad")
    with pytest.raises(CheckpointError):
        load(io.BytesIO(raw + b"\0"))


def test_fuzz_byte_mutations_load_the_original_or_raise_the_clear_error(tmp_path: Path) -> None:
    path, obj = _fuzz_file(tmp_path)
    raw = path.read_bytes()
    rng = np.random.default_rng(0)
    loaded_ok = 0
    positions = list(range(len(raw)))  # every byte, with several replacement values each
    for pos in positions:
        for value in {raw[pos] ^ 0x01, raw[pos] ^ 0x80, int(rng.integers(256)), 0x20, 0x30}:
            if value == raw[pos]:
                continue
            mutated = bytearray(raw)
            mutated[pos] = value
            try:
                result = load(io.BytesIO(bytes(mutated)))
            except CheckpointError:
                continue
            assert_same(obj, result)  # only harmless bytes (JSON whitespace) may change
            loaded_ok += 1
    assert loaded_ok < len(positions)  # almost every mutation is caught


def test_file_without_checksum_from_another_writer_still_validates(tmp_path: Path) -> None:
    sn = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "foreign.safetensors"
    sn.save_file({"a": np.arange(4, dtype=np.int32), "b": np.ones(2, np.float64)}, str(path))
    raw = path.read_bytes()
    for cut in range(len(raw)):
        with pytest.raises(CheckpointError):
            load(io.BytesIO(raw[:cut]))
