"""Certificates that mean something: forged claims never HOLD, malformed fields name their
path, and signatures say who certified a file (issue 13, finding 1)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.cli import main
from neurarust.verify.assumptions import AssumptionError
from neurarust.verify.certificate import (
    CERT_KEY,
    CertificateError,
    check_certificate,
    export_certified,
    model_hash,
)
from neurarust.verify.certificate_schema import parse_certificate
from neurarust.verify.signing import SIGNATURE_KEY

from .model_sources import LINEAR_NET

LINEAR_SRC = LINEAR_NET


def _export(tmp: Path, *extra: str, seed: int | None = None) -> str:
    """``neurarust export --certify`` of a Linear(8, 4) on x in [-1, 1] (its weights drawn
    after ``nr.manual_seed(seed)`` when a seed is given: the model file runs in a fresh worker
    process, so two exports without one draw the same weights)."""
    src = tmp / "lin.py"
    seeded = "" if seed is None else f"import neurarust as nr\nnr.manual_seed({seed})\n"
    src.write_text(seeded + LINEAR_SRC)
    out = str(tmp / "net.onnx")
    assert main(["export", f"{src}:Net", "--input", "x: f32[B, 8]", "-o", out, "--certify",
                 "--assume", "B <= 64", "--range", "x in [-1, 1]", *extra]) == 0
    return out


def _forge(path: str, edit: Callable[[dict[str, Any]], None],
           weights: Callable[[onnx.ModelProto], None] | None = None) -> None:
    """Edit the certificate JSON (and the weights) as a forger would, recomputing the hash."""
    proto = onnx.load(path)
    if weights is not None:
        weights(proto)
    for p in proto.metadata_props:
        if p.key == CERT_KEY:
            d = json.loads(p.value)
            d["hash"] = model_hash(proto)
            edit(d)
            p.value = json.dumps(d)
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


@pytest.mark.parametrize("spec", ["f32[B, 9]", "i64[B, 8]", "f32[B, 8]"])
def test_forged_spec_and_widened_range_never_hold(
        tmp_path: Path, spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 1: the spec no longer traces (or is the right one) and the range is widened to
    [-1e6, 1e6]; this used to print "only hash-checked" and HOLDS, exit 0."""
    path = _export(tmp_path)
    capsys.readouterr()
    _forge(path, lambda d: d.update(inputs={"x": spec}, input_ranges={"x": [-1e6, 1e6]}))
    assert main(["verify", path]) == 1
    out = capsys.readouterr().out
    assert "HOLDS" not in out and "hash-checked" not in out
    if spec == "f32[B, 8]":  # onnxruntime at a corner of the widened range breaks the bounds
        assert "numeric: REFUTED: onnxruntime gives" in out and "-1000000" in out, out
    else:
        assert f"input spec x: REFUTED: recorded {spec}; the graph declares FLOAT[B, 8]" in out


def test_deleting_obligations_from_the_certificate_does_not_help(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The obligations are re-derived from the file's own graph: with ``T == 8`` dropped and
    the recorded obligation deleted, the file's broadcast x + y is refuted at T = 2."""
    src = tmp_path / "m.py"
    src.write_text(LINEAR_SRC.replace("return self.fc(x)", "return self.fc(x + y)")
                   .replace("def forward(self, x)", "def forward(self, x, y)"))
    out = str(tmp_path / "net.onnx")
    assert main(["export", f"{src}:Net", "--input", "x: f32[B, 8]", "--input", "y: f32[B, T]",
                 "-o", out, "--certify", "--assume", "T == 8"]) == 0
    _forge(out, lambda d: d.update(shape_facts=[], assumptions=["T >= 1"]))
    assert main(["verify", out]) == 1
    text = capsys.readouterr().out
    assert "file shape obligations: REFUTED" in text and "T=2" in text, text


def test_unsatisfiable_assumptions_are_never_a_proof(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = _export(tmp_path)
    _forge(path, lambda d: d.update(assumptions=["B >= 600", "B <= 4"]))
    assert main(["verify", path]) == 3
    out = capsys.readouterr().out
    assert "contradict" in out and "'B >= 600' and 'B <= 4'" in out and "HOLDS" not in out
    graph = nr.trace(nn.Linear(8, 4), {"x": "f32[B, 8]"})
    with pytest.raises(AssumptionError, match="contradict"):
        export_certified(graph, None, ["1 <= B <= 0"])


def test_changed_weight_with_recomputed_hash_does_not_hold(tmp_path: Path) -> None:
    path = _export(tmp_path)

    def flip(proto: onnx.ModelProto) -> None:
        init = next(t for t in proto.graph.initializer if t.name.endswith("weight"))
        arr = onnx.numpy_helper.to_array(init).copy()
        arr.view(np.uint32).reshape(-1)[3] |= np.uint32(1 << 30)  # the top exponent bit
        init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))

    _forge(path, lambda d: None, flip)
    result = check_certificate(onnx.load(path))
    assert result.exit_code == 1 and not result.ok, result


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("missing field", lambda d: d.pop("outputs"), "'outputs' is a required property"),
    ("extra field", lambda d: d.update(extra=1), "extra"),
    ("float min_size", lambda d: d.update(min_size=1.0), "min_size: 1.0 is not of type"),
    ("string range", lambda d: d["input_ranges"].update(x=["-1", 1]),
     "input_ranges.x[0]"),
    ("range beyond float32", lambda d: d["input_ranges"].update(x=[-1e39, 1]),
     "input_ranges.x[0]"),
    ("reversed range", lambda d: d["input_ranges"].update(x=[1, -1]), "lo 1 > hi -1"),
    ("range of no input", lambda d: d["input_ranges"].update(z=[0, 1]),
     "input_ranges.z: not a recorded input"),
    ("huge exponent", lambda d: d.update(inputs={"x": "f32[B**1000000000, 8]"}),
     "inputs.x: dim 'B**1000000000': an exponent must be a literal int"),
    ("huge exponent in an assumption", lambda d: d.update(assumptions=["B**99999999 < 5"]),
     "assumptions[0]: condition 'B**99999999 < 5': an exponent"),
    ("huge int", lambda d: d.update(assumptions=["B <= " + "9" * 5000]), "assumptions[0]"),
    ("call", lambda d: d.update(assumptions=["__import__('os') == 1"]), "only min(...)"),
    ("bool bound", lambda d: next(iter(d["numeric"]["outputs"].values())).update(lo=True),
     ".lo: True is not of type 'array', 'number'"),
    ("bool in a bound", lambda d: next(iter(d["numeric"]["outputs"].values())).update(
        lo=[[True, 0.0, 0.0, 0.0]]), ".lo: expected numbers"),
    ("ragged bound", lambda d: next(iter(d["numeric"]["outputs"].values())).update(
        lo=[[0.0], [0.0, 1.0]]), "not rectangular"),
    ("numeric without ranges", lambda d: d.update(input_ranges={}), "certificate field numeric"),
    ("old schema", lambda d: d.update(schema=1), "certificate field schema: version 1"),
    ("short hash", lambda d: d.update(hash="abc"), "certificate field hash"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_a_malformed_field_is_exit_2_naming_its_path(
        tmp_path: Path, case: tuple[str, Callable[[dict[str, Any]], Any], str],
        capsys: pytest.CaptureFixture[str]) -> None:
    path = _export(tmp_path)
    capsys.readouterr()
    _forge(path, case[1])
    assert main(["verify", path]) == 2
    err = capsys.readouterr().err
    assert case[2] in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("text,match", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply|not valid JSON"),
    ('{"schema": 2, "min_size": NaN}', "NaN is not a JSON number"),
    ("1" * 5000, "not valid JSON"),
    ("x" * (33 * 2**20), "more than"),
], ids=["deep", "nan", "digits", "huge"])
def test_hostile_json_is_a_certificate_error(text: str, match: str) -> None:
    with pytest.raises(CertificateError, match=match):
        parse_certificate(text)


def test_signed_certificates_and_trusted_keys(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    key, other = str(tmp_path / "key.pem"), str(tmp_path / "other.pem")
    assert main(["keygen", key]) == 0 and main(["keygen", other]) == 0
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert main(["keygen", key]) == 2  # never overwrites a key
    pub, other_pub = str(tmp_path / "key.pub.pem"), str(tmp_path / "other.pub.pem")
    capsys.readouterr()
    path = _export(tmp_path, "--sign", key)
    assert main(["verify", path, "--trust", pub]) == 0
    out = capsys.readouterr().out
    assert "HOLDS" in out and "signature: valid, by key SHA256:" in out and "(trusted)" in out
    assert main(["verify", path, "--trust", other_pub, "--trust", pub]) == 0  # any one of them
    assert main(["verify", path]) == 0  # reported, not required
    assert "not checked against a trusted key" in capsys.readouterr().out
    assert main(["verify", path, "--trust", other_pub]) == 2
    assert "not a trusted key" in capsys.readouterr().err
    assert main(["verify", path, "--trust", key]) == 2  # a private key is not a trusted key
    assert "not a PEM public key" in capsys.readouterr().err

    proto = onnx.load(path)  # a claim edited after signing: the signature breaks
    entry = next(p for p in proto.metadata_props if p.key == CERT_KEY)
    entry.value = entry.value.replace('"graph":"Net"', '"graph":"Other"')
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())
    assert main(["verify", path, "--trust", pub]) == 2
    assert "does not verify" in capsys.readouterr().err
    assert main(["verify", path]) == 2  # an invalid signature is never ignored

    signed = onnx.load(_export(tmp_path, "--sign", key))
    unsigned = _export(tmp_path, seed=1)  # the same command without --sign, other weights
    assert main(["verify", unsigned, "--trust", pub]) == 2
    assert "not signed, and --trust requires a signature" in capsys.readouterr().err
    proto = onnx.load(unsigned)  # a valid signature moved from another model
    moved = proto.metadata_props.add()
    moved.CopyFrom(next(p for p in signed.metadata_props if p.key == SIGNATURE_KEY))
    with open(unsigned, "wb") as f:
        f.write(proto.SerializeToString())
    assert main(["verify", unsigned, "--trust", pub]) == 2
    assert "does not verify" in capsys.readouterr().err


class Positions(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Embedding(64, 8)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return x + self.pos(nr.arange(x.shape[1]))


def test_a_model_that_traces_only_at_concrete_sizes_is_checked_at_every_size(
        tmp_path: Path) -> None:
    """``arange(T)`` exports as ONNX Range over Shape(x), which imports only with a concrete
    T: the claims are re-proven at every size combination the assumptions allow (at most
    64); beyond that they are not re-proven, and export refuses to write such a file."""
    path = str(tmp_path / "pos.onnx")
    graph = nr.trace(Positions(), {"x": "f32[B, T, 8]"})
    export_certified(graph, path, ["B <= 2", "T <= 16"], {"x": (-1.0, 1.0)})
    result = check_certificate(onnx.load(path))
    assert result.ok, result
    assert any("each of the 32 size combinations" in n for n in result.notes), result
    _forge(path, lambda d: d.update(assumptions=["B <= 2", "T <= 64"]))  # 128 combinations
    result = check_certificate(onnx.load(path))
    assert result.exit_code == 3 and "more than 64 size combinations" in str(result), result
    with pytest.raises(CertificateError, match="more than 64 size combinations"):
        export_certified(graph, path, ["B <= 4", "T <= 64"], {"x": (-1.0, 1.0)})
    with pytest.raises(CertificateError, match="index-range"):  # T = 65 would read row 64
        export_certified(graph, path, ["B <= 1", "T <= 100"], {"x": (-1.0, 1.0)})
