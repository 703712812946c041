"""A seeded miniature of ``bench/fuzz_certificates.py``: mutated certificates (forged claims,
malformed fields, swapped signatures, re-hashed weight flips) through the checker; none may
crash, hang or be accepted while onnxruntime breaks it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import fuzz_certificates


def test_mutated_certificates_are_never_accepted_when_false() -> None:
    tally = fuzz_certificates.run(80, seed=13)
    assert not tally.crashes, tally.crashes
    assert not tally.forged, tally.forged
    assert tally.hangs == 0
    # the miniature reaches every verdict (so the counts above could have failed)
    verdicts = {v.split(" ")[0] for v in tally.verdicts}
    assert verdicts >= {"accepted", "refuted", "rejected:", "not"}, tally.verdicts
    assert sum(tally.verdicts.values()) == 80


def test_the_attack_catches_a_forged_certificate_that_is_accepted() -> None:
    """The independent attack is not vacuous: on a certificate whose bounds are narrowed (a
    forgery the checker refutes), it finds the output outside the recorded bounds."""
    import json

    import onnx

    import neurarust as nr
    from neurarust import nn
    from neurarust.verify.certificate import CERT_KEY, export_certified

    nr.manual_seed(0)
    proto, _ = export_certified(nr.trace(nn.Linear(8, 4), {"x": "f32[B, 8]"}), None,
                                ["B <= 4"], {"x": (-1.0, 1.0)})
    assert fuzz_certificates.attack(proto, False) is None
    forged = onnx.ModelProto()
    forged.CopyFrom(proto)
    entry = next(p for p in forged.metadata_props if p.key == CERT_KEY)
    d = json.loads(entry.value)
    for b in d["numeric"]["outputs"].values():
        b["lo"] = [[0.0] * 4]
        b["hi"] = [[0.0] * 4]
    entry.value = json.dumps(d)
    assert "outside the recorded bounds" in str(fuzz_certificates.attack(forged, False))
