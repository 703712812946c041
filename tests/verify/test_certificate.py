"""Certificates: issued by `export --verify`, re-checked by `verify net.onnx`."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import onnx
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.cli import main
from neurarust.verify.certificate import (
    CERT_KEY,
    Certificate,
    CertificateError,
    check_certificate,
    export_certified,
    model_hash,
)

MODEL_SRC = '''
import neurarust.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x, y):
        return self.fc(x + y).relu()
'''


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: nr.Tensor, y: nr.Tensor) -> nr.Tensor:
        return self.fc(x + y).relu()


SPECS = {"x": "f32[B, 8]", "y": "f32[B, T]"}


def _certified(tmp: str) -> str:
    path = os.path.join(tmp, "net.onnx")
    graph = nr.trace(Net(), SPECS)
    export_certified(graph, path, ["T == 8"], {"x": (0.0, 1.0), "y": (0.0, 1.0)})
    return path


def _rewrite(path: str, edit: object) -> None:
    proto = onnx.load(path)
    edit(proto)  # type: ignore[operator]
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def test_certificate_json_round_trip_and_valid_file_rechecks() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _certified(tmp)
        proto = onnx.load(path)
        (entry,) = [p for p in proto.metadata_props if p.key == CERT_KEY]
        cert = Certificate.from_json(entry.value)
        assert Certificate.from_json(cert.to_json()) == cert and cert.to_json() == entry.value
        assert cert.hash == model_hash(proto) and cert.assumptions == ("T == 8",)
        assert cert.outputs == {proto.graph.output[0].name: "f32[B, 4]"}
        assert [f.op for f in cert.shape_facts] == ["add"]
        assert cert.numeric is not None and cert.numeric["status"] == "proven"
        result = check_certificate(proto)
        assert result.ok, result
        assert main(["verify", path]) == 0


def test_modified_weight_byte_is_a_hash_mismatch(capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _certified(tmp)

        def edit(proto: onnx.ModelProto) -> None:
            init = proto.graph.initializer[0]
            arr = onnx.numpy_helper.to_array(init).copy()
            arr.reshape(-1)[0] = np.nextafter(arr.reshape(-1)[0], np.float32(np.inf))
            init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))

        _rewrite(path, edit)
        assert main(["verify", path]) == 1
        assert "hash mismatch" in capsys.readouterr().out


def test_edited_assumption_fails_the_reproof(capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _certified(tmp)

        def edit(proto: onnx.ModelProto) -> None:
            for p in proto.metadata_props:
                if p.key == CERT_KEY:
                    d = json.loads(p.value)
                    d["assumptions"] = ["T >= 2"]
                    p.value = json.dumps(d)

        _rewrite(path, edit)
        assert main(["verify", path]) == 1
        out = capsys.readouterr().out
        assert "REFUTED" in out and "add" in out and "T=" in out and "HOLDS" not in out


def test_file_without_certificate_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "plain.onnx")
        nr.onnx.export(Net(), SPECS, path)
        assert main(["verify", path]) == 2
        assert "carries no neurarust certificate" in capsys.readouterr().err
        with pytest.raises(CertificateError, match="no neurarust certificate"):
            check_certificate(onnx.load(path))


def test_cli_export_verify_writes_only_when_proven(capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "model.py")
        with open(src, "w") as f:
            f.write(MODEL_SRC)
        out = os.path.join(tmp, "net.onnx")
        args = ["export", f"{src}:Net", "--input", "x: f32[B, 8]", "--input", "y: f32[B, T]",
                "-o", out, "--verify", "--range", "x in [0, 1]", "--range", "y in [0, 1]"]
        assert main([*args, "--assume", "T >= 1"]) == 1  # T=2 refutes the broadcast
        assert "not certified" in capsys.readouterr().err and not os.path.exists(out)
        assert main([*args, "--assume", "1 <= T <= 0"]) == 2  # vacuous: a usage error
        assert "contradict" in capsys.readouterr().err and not os.path.exists(out)
        assert main([*args, "--assume", "T == 8"]) == 0
        assert "certified" in capsys.readouterr().out
        assert main(["verify", out]) == 0
        assert "HOLDS" in capsys.readouterr().out


def test_a_forged_hash_does_not_hide_a_changed_weight(capsys: pytest.CaptureFixture[str]) -> None:
    """The numeric claims are re-proven on the file itself, not only hash-checked: a weight
    changed and the hash recomputed to match (the certificate is not signed) still fails,
    because the re-proven output bounds leave the recorded ones."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _certified(tmp)

        def edit(proto: onnx.ModelProto) -> None:
            for init in proto.graph.initializer:
                if init.name.endswith("weight"):
                    arr = onnx.numpy_helper.to_array(init).copy()
                    arr.reshape(-1)[0] += 10.0
                    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
            for p in proto.metadata_props:
                if p.key == CERT_KEY:
                    d = json.loads(p.value)
                    d["hash"] = model_hash(proto)
                    p.value = json.dumps(d)

        _rewrite(path, edit)
        assert main(["verify", path]) == 1  # onnxruntime finds an input that breaks the bounds
        out = capsys.readouterr().out
        assert "hash: sha256" in out and "numeric: REFUTED" in out and "outside the recorded" \
            in out, out
        result = check_certificate(onnx.load(path))
        assert not result.ok and any("numeric" in p for p in result.problems)


def test_certificate_records_the_numeric_facts_and_reproves_them() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cert = Certificate.from_json(next(
            p.value for p in onnx.load(_certified(tmp)).metadata_props if p.key == CERT_KEY))
        assert cert.numeric is not None
        facts = cert.numeric["facts"]
        assert len(facts) == len(nr.trace(Net(), SPECS).nodes) and facts[0].startswith("add at ")
        assert "no numeric hazard" in facts[0]
        result = check_certificate(onnx.load(os.path.join(tmp, "net.onnx")))
        assert [c.name for c in result.claims] == [
            "input/output specs", "assumptions", "recorded shape conditions",
            "file shape obligations", "output specs", "numeric"], result
        assert all(c.status == "reproven" for c in result.claims)


