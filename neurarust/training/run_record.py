"""A run record: the JSON written next to a checkpoint so a deployed model can be traced to
the run that made it (configuration, seed, package versions, data hash, per-epoch metrics,
and the checkpoint's own hash)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, BinaryIO, Iterable

import numpy as np

from .._atomic import atomic_write

__all__ = ["RunRecord", "file_sha256", "hash_arrays"]

_PACKAGES = ("neurarust", "numpy", "z3-solver", "mlxtend", "scikit-learn", "tqdm", "matplotlib")


def hash_arrays(arrays: Iterable[np.ndarray]) -> str:  # type: ignore[type-arg]
    """SHA-256 over each array's dtype, shape and bytes (C order): a data set's fingerprint."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class RunRecord:
    """What a training run did, written as JSON next to its checkpoint."""

    config: dict[str, Any]
    seed: int
    data_sha256: str
    versions: dict[str, str] = field(default_factory=_versions)
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime()))
    epochs: list[dict[str, float | int]] = field(default_factory=list)
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    results: dict[str, float] = field(default_factory=dict)

    def log_epoch(self, **metrics: float | int) -> None:
        """Append one epoch's metrics (loss, accuracy, seconds, ...); ints stay ints."""
        self.epochs.append({k: v if isinstance(v, int) else float(v)
                            for k, v in metrics.items()})

    def attach_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Record the checkpoint's file name and hash (call after it is written)."""
        self.checkpoint = os.path.basename(os.fspath(path))
        self.checkpoint_sha256 = file_sha256(path)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the record as JSON, atomically."""
        data = json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"

        def write(f: BinaryIO) -> None:
            f.write(data)

        atomic_write(path, write)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunRecord:
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))

    def verify_checkpoint(self, directory: str | os.PathLike[str]) -> bool:
        """True when the checkpoint next to this record still has the recorded hash."""
        if self.checkpoint is None:
            return False
        return file_sha256(os.path.join(directory, self.checkpoint)) == self.checkpoint_sha256
