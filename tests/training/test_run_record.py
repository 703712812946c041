"""RunRecord: the JSON written next to a checkpoint so that a deployed model can be traced to
the run that made it (configuration, seed, versions, data hash, per-epoch metrics, and the
checkpoint's own hash). Written atomically; the checkpoint hash detects tampering."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.training import RunRecord, file_sha256, hash_arrays

CONFIG = {"model": "Linear(4, 3)", "epochs": 2, "lr": 0.1, "batch_size": 8}


def make_run(directory: Path, seed: int = 3) -> tuple[RunRecord, Path]:
    """A finished miniature run: a record with two epochs, a checkpoint, and run.json."""
    nr.manual_seed(seed)
    model = nn.Linear(4, 3)
    x, y = nr.randn(8, 4), nr.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    data_hash = hash_arrays([x.numpy(), y.numpy()])
    record = RunRecord(config=dict(CONFIG), seed=seed, data_sha256=data_hash)
    optimizer = nr.optim.SGD(model.parameters(), lr=0.1)
    for epoch in (1, 2):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        record.log_epoch(epoch=epoch, train_loss=float(loss.item()), test_accuracy=0.5,
                         seconds=np.float32(0.25))  # type: ignore[arg-type]
    checkpoint = directory / "model.safetensors"
    nr.save(model.state_dict(), checkpoint)
    record.attach_checkpoint(checkpoint)
    record.results = {"test_accuracy": 0.5}
    record.write(directory / "run.json")
    return record, checkpoint


def test_the_record_is_json_with_every_field_an_audit_needs(tmp_path: Path) -> None:
    record, checkpoint = make_run(tmp_path)
    data = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert data["config"] == CONFIG
    assert data["seed"] == 3
    assert data["data_sha256"] == record.data_sha256 and len(data["data_sha256"]) == 64
    versions = data["versions"]
    assert versions["neurarust"] == nr.__version__
    assert versions["numpy"] == np.__version__
    assert versions["python"].count(".") == 2 and versions["platform"]
    assert [e["epoch"] for e in data["epochs"]] == [1, 2]
    assert all(isinstance(e["epoch"], int) for e in data["epochs"])  # ints stay ints
    assert data["epochs"][1]["seconds"] == 0.25  # a numpy float is written as a number
    assert data["epochs"][0]["train_loss"] > data["epochs"][1]["train_loss"]
    assert data["checkpoint"] == "model.safetensors"  # relative: the record sits next to it
    assert data["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert data["results"] == {"test_accuracy": 0.5}
    assert data["started_at"].endswith("Z")
    # read() gives back the same record
    assert RunRecord.read(tmp_path / "run.json") == record


def test_written_atomically_no_temp_file_left(tmp_path: Path) -> None:
    make_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "run.json"]
    # Overwriting replaces the file whole, and leaves nothing behind either.
    record = RunRecord.read(tmp_path / "run.json")
    record.log_epoch(epoch=3, train_loss=0.1)
    record.write(tmp_path / "run.json")
    assert len(RunRecord.read(tmp_path / "run.json").epochs) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "run.json"]


def test_a_failed_write_keeps_the_old_record_and_leaves_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(tmp_path)
    before = (tmp_path / "run.json").read_bytes()
    record = RunRecord.read(tmp_path / "run.json")
    record.log_epoch(epoch=3, train_loss=0.1)

    def crash(src: Any, dst: Any) -> None:  # the machine dies between write and rename
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        record.write(tmp_path / "run.json")
    monkeypatch.undo()
    assert (tmp_path / "run.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "run.json"]


def test_an_unwritable_value_is_an_error_before_the_file_is_touched(tmp_path: Path) -> None:
    make_run(tmp_path)
    before = (tmp_path / "run.json").read_bytes()
    record = RunRecord.read(tmp_path / "run.json")
    record.config["transform"] = object()
    with pytest.raises(TypeError, match="RunRecord: cannot write a object"):
        record.write(tmp_path / "run.json")
    assert (tmp_path / "run.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "run.json"]


def test_numpy_values_and_paths_in_the_config_are_written_as_json(tmp_path: Path) -> None:
    record = RunRecord(config={"lr": np.float64(0.5), "steps": np.int64(7),
                               "mean": np.array([0.1, 0.2]), "out": tmp_path / "x"},
                       seed=0, data_sha256="0" * 64)
    record.write(tmp_path / "run.json")
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["config"] == {"lr": 0.5, "steps": 7, "mean": [0.1, 0.2],
                              "out": os.fspath(tmp_path / "x")}


def test_the_checkpoint_hash_matches_and_detects_tampering(tmp_path: Path) -> None:
    make_run(tmp_path)
    record = RunRecord.read(tmp_path / "run.json")
    checkpoint = tmp_path / "model.safetensors"
    assert record.checkpoint_sha256 == file_sha256(checkpoint)
    assert record.verify_checkpoint(tmp_path)
    # Flip one bit of one weight: the record no longer matches (and the checkpoint's own
    # checksum refuses to load it).
    raw = bytearray(checkpoint.read_bytes())
    raw[-1] ^= 0x01
    checkpoint.write_bytes(bytes(raw))
    assert not record.verify_checkpoint(tmp_path)
    with pytest.raises(nr.CheckpointError, match="checksum mismatch"):
        nr.load(checkpoint)
    # Another run's checkpoint in its place is a valid file that loads: only the record's
    # hash tells it is not the one this run made.
    other = tmp_path / "other"
    other.mkdir()
    make_run(other, seed=4)
    checkpoint.write_bytes((other / "model.safetensors").read_bytes())
    nr.load(checkpoint)
    assert not record.verify_checkpoint(tmp_path)
    checkpoint.unlink()
    assert not record.verify_checkpoint(tmp_path)  # gone: False, not a crash


def test_a_record_without_a_checkpoint_does_not_verify(tmp_path: Path) -> None:
    record = RunRecord(config={}, seed=0, data_sha256="0" * 64)
    assert not record.verify_checkpoint(tmp_path)


def test_the_same_run_gives_the_same_hashes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    ra, _ = make_run(a)
    rb, _ = make_run(b)
    assert ra.data_sha256 == rb.data_sha256
    assert ra.checkpoint_sha256 == rb.checkpoint_sha256
    assert ra.epochs == rb.epochs


def test_hash_arrays_covers_values_dtype_shape_and_order() -> None:
    x = np.arange(6, dtype=np.int64)
    base = hash_arrays([x, x + 1])
    assert base == hash_arrays([x.copy(), x + 1])
    assert base == hash_arrays([x[::-1][::-1], x + 1])  # layout does not matter, values do
    assert base != hash_arrays([x + 1, x])  # order
    assert base != hash_arrays([x.astype(np.int32), x + 1])  # dtype
    assert base != hash_arrays([x.reshape(2, 3), x + 1])  # shape
    y = x.copy()
    y[3] += 1
    assert base != hash_arrays([y, x + 1])  # one value


def _dataset_arrays(name: str, **kwargs: Any) -> list[np.ndarray]:  # type: ignore[type-arg]
    from neurarust.data import Digits, MNIST5k
    from neurarust.data.datasets import _common

    _common._load_csv_cached.cache_clear()  # parse the file again: a real second construction
    cls = {"MNIST5k": MNIST5k, "Digits": Digits}[name]
    try:
        train, test = cls(train=True, **kwargs), cls(train=False, **kwargs)
    except ImportError as e:
        pytest.skip(f"{name}'s data package is not installed: {e}")
    return [train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy()]


@pytest.mark.parametrize("name", ["MNIST5k", "Digits"])
def test_the_data_hash_is_stable_across_constructions_and_sees_the_split(name: str) -> None:
    first = hash_arrays(_dataset_arrays(name))
    assert hash_arrays(_dataset_arrays(name)) == first
    assert hash_arrays(_dataset_arrays(name, split_seed=1)) != first
