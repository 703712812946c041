"""Checkpoints under hostile or unlucky conditions: headers built to cost time or memory,
malformed fields of every JSON type, saves killed half-way, the umask, and a seeded miniature
of the mutation campaign of bench/fuzz_checkpoints.py."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import neurarust as nr
from neurarust import _atomic, _checkpoint_header, serialization
from neurarust.serialization import MAX_ENTRIES, MAX_RANK, CheckpointError, load, save

ROOT = Path(__file__).resolve().parents[1]


def _bench_module() -> Any:
    """bench/fuzz_checkpoints.py, imported as a module."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import fuzz_checkpoints
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return fuzz_checkpoints


def raw_file(header: bytes | dict[str, Any], data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def entry(shape: Any, offsets: Any = (0, 4), dtype: Any = "F32") -> dict[str, Any]:
    return {"t": {"dtype": dtype, "shape": shape, "data_offsets": list(offsets)}}


# -- hostile headers: rejected early, by field, as CheckpointError -----------------------------
HOSTILE_HEADERS: list[tuple[Any, str]] = [
    (entry([3] * 1_600_000), "tensor 't' field 'shape'"),        # was 30-70 s in math.prod
    (entry([1] * (MAX_RANK + 1)), "tensor 't' field 'shape'"),
    (b'{"t":{"dtype":"F32","shape":[' + b"[]," * 3_000_000 + b'[]],"data_offsets":[0,4]}}',
     "tensor 't' field 'shape'"),                                 # was 32 bytes of memory a byte
    (entry(["F32"]), "tensor 't' field 'shape'"),
    (entry([1], dtype=["F32"]), "tensor 't' field 'dtype'"),      # was TypeError
    (entry([1], dtype={"F": 32}), "tensor 't' field 'dtype'"),
    (entry([1], dtype=32), "tensor 't' field 'dtype'"),
    (b'{"t":{"dtype":"F32","shape":[' + b"9" * 4300 + b'],"data_offsets":[0,4]}}',
     "tensor 't' field 'shape'"),                                 # was ValueError
    (entry([2 ** 64]), "tensor 't' field 'shape'"),
    (entry([1.0]), "tensor 't' field 'shape'"),
    (entry([True]), "tensor 't' field 'shape'"),
    (entry([None]), "tensor 't' field 'shape'"),
    (entry([1], offsets=(0, 2 ** 64)), "tensor 't' field 'data_offsets'"),
    (entry([1], offsets=(0, 4, 8)), "tensor 't' field 'data_offsets'"),
    (entry([1], offsets=(0, 2 ** 63)), "tensor 't' field 'data_offsets'"),
    (entry([2 ** 40, 2 ** 40], offsets=(0, 4)), "tensor 't' field 'data_offsets'"),
    ({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, "tensor 't'"),
    ({"t": [1]}, "tensor 't'"),
    ({"t": "F32"}, "tensor 't'"),
    ({"__metadata__": {"a": {"b": "c"}}}, "__metadata__"),
    ({"__metadata__": ["a"]}, "__metadata__"),
    ({"__metadata__": None}, "__metadata__"),
    ((b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
      b'"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), "duplicate key 't'"),
    (b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x', "header"),
    (b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}', "header"),
]
HOSTILE_IDS = ['1.6M dims', '65 dims', '3M nested lists', 'string dim', 'dtype list', 'dtype dict', 'dtype int', '4300-digit dim', 'dim 2**64', 'float dim', 'bool dim', 'null dim', 'offset 2**64', '3 offsets', 'offset past data', '2**80 bytes', 'extra field', 'entry list', 'entry string', 'metadata nested', 'metadata list', 'metadata null', 'duplicate name', 'trailing junk', 'trailing comma']


@pytest.mark.parametrize("header,field", HOSTILE_HEADERS, ids=HOSTILE_IDS)
def test_hostile_headers_raise_checkpoint_error_naming_file_and_field(
        header: Any, field: str) -> None:
    with pytest.raises(CheckpointError) as info:
        load(io.BytesIO(raw_file(header, b"\0" * 4)))
    assert "<file object>" in str(info.value) and field in str(info.value)


def test_a_header_of_tiny_json_values_is_refused_within_a_small_memory_budget() -> None:
    # 30 MB of "[]," in a shape: json.loads would first build 10 M lists (~700 MB); the
    # child process may only grow its address space by 300 MB.
    script = textwrap.dedent("""
        import io, resource, struct
        import neurarust as nr
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
        body = b'{"t":{"dtype":"F32","shape":[' + b"[]," * 10_000_000 + b'[]],"data_offsets":[0,4]}}'
        raw = struct.pack("<Q", len(body)) + body + bytes(4)
        resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.RLIM_INFINITY))
        try:
            nr.load(io.BytesIO(raw))
        except Exception as exc:
            print(type(exc).__name__, str(exc)[:300])
    """)
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux /proc to read the address-space size")
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.startswith("CheckpointError"), done.stdout + done.stderr[-500:]
    assert "tensor 't' field 'shape'" in done.stdout


def test_too_many_tensors_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_ENTRIES == 1_000_000
    monkeypatch.setattr(_checkpoint_header, "MAX_ENTRIES", 1000)  # the same check, sooner
    one = b'"%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    header = b"{" + b",".join(one % i for i in range(1000)) + b"}"
    assert len(load(io.BytesIO(raw_file(header)))) == 1000
    header = b"{" + b",".join(one % i for i in range(1001)) + b"}"
    with pytest.raises(CheckpointError, match="more than 1000 tensors"):
        load(io.BytesIO(raw_file(header)))


def test_what_passes_the_limits_still_loads() -> None:
    header = {"__metadata__": {"k": "v"},
              "t": {"dtype": "F32", "shape": [1] * MAX_RANK, "data_offsets": [0, 4]},
              "z": {"dtype": "I64", "shape": [0, 2 ** 64 - 1], "data_offsets": [4, 4]}}
    with pytest.raises(CheckpointError, match="tensor 'z': can't build an array"):
        load(io.BytesIO(raw_file(header, b"\0" * 4)))
    del header["z"]
    assert load(io.BytesIO(raw_file(header, b"\0" * 4)))["t"].shape == (1,) * MAX_RANK


def test_structure_description_is_bounded_even_with_a_recomputed_checksum(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz = _bench_module()
    base = fuzz.base_files()[1][1]  # a nested (optimizer-like) checkpoint
    header, data = fuzz.split(base)
    meta = header["__metadata__"]
    doc = json.loads(meta["neurarust.structure"])
    doc["extra"] = [[] for _ in range(100)]  # about 100 more values: a valid description
    meta["neurarust.structure"] = json.dumps(doc)
    raw = fuzz.join(fuzz.resign(header, data), data)
    load(io.BytesIO(raw))
    monkeypatch.setattr(serialization, "MAX_STRUCTURE_VALUES", 100)
    with pytest.raises(CheckpointError, match="'neurarust.structure' metadata: more than 100 "
                                              "JSON values"):
        load(io.BytesIO(raw))


# -- saves: stale temp files, umask -------------------------------------------------------------
def test_a_save_killed_half_way_leaves_a_temp_file_that_the_next_save_removes(
        tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    save({"a": nr.ones(2)}, target)
    script = textwrap.dedent(f"""
        import os, signal
        from neurarust._atomic import atomic_write
        def write(f):
            f.write(b"half a checkpoint")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_write({str(target)!r}, write)
    """)
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], check=False)
        assert done.returncode == -signal.SIGKILL
    pattern = _atomic.temp_name_pattern(target.name)
    stale = [p.name for p in tmp_path.iterdir() if pattern.fullmatch(p.name)]
    assert len(stale) == 1  # the second killed save already removed the first one's
    others = [".model.safetensors.keep.tmp", ".other.safetensors.abcdefgh.tmp",
              "model.safetensors.abcdefgh.tmp"]
    for name in others:
        (tmp_path / name).write_bytes(b"not ours")
    save({"a": nr.zeros(2)}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others + [target.name])
    assert load(target)["a"].tolist() == [0.0, 0.0]


def test_a_live_save_keeps_its_temp_file_while_another_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    seen: list[list[str]] = []

    def write(f: Any) -> None:  # a second save to the same path starts meanwhile
        _atomic.remove_stale_temp_files(str(tmp_path), target.name)
        seen.append([p.name for p in tmp_path.iterdir()])
        f.write(b"data")

    _atomic.atomic_write(target, write)
    assert len(seen[0]) == 1 and _atomic.temp_name_pattern(target.name).fullmatch(seen[0][0])
    assert target.read_bytes() == b"data"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_checkpoints_respect_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        save({"a": nr.ones(1)}, tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o666 & ~umask


# -- the mutation campaign, in miniature --------------------------------------------------------
def test_seeded_mutation_campaign_miniature() -> None:
    counts = _bench_module().campaign(n=200, seed=13, workers=1, in_process=True)
    assert counts["total"] == 200
    assert counts["other_exception"] == 0 and counts["timeout"] == 0, counts["failures"][:3]
    assert counts["loaded_altered"] == counts["loaded_reference_rejects"] == 0, \
        counts["failures"][:3]
    assert counts["checkpoint_error"] > 150  # nearly every mutant is caught
