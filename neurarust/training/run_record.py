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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, BinaryIO

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
    """Python, the platform, and the version of each package the run may use. neurarust and
    numpy are read from the modules this process imported (an uninstalled checkout, or an
    installed distribution shadowed on ``sys.path``, would otherwise be misreported or left
    out); the others from installed distributions' metadata, skipping absent ones."""
    from .. import __version__ as neurarust_version

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    running = {"neurarust": neurarust_version, "numpy": np.__version__}
    for name in _PACKAGES:
        if name in running:
            out[name] = running[name]
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _to_json(value: Any) -> Any:
    """``json.dumps``'s ``default``: numpy scalars and arrays, paths; anything else is a
    TypeError naming the type (raised before the file is touched)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"RunRecord: cannot write a {type(value).__name__} as JSON ({value!r}); "
                    "record plain numbers, strings, lists and dicts")


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

    def log_epoch(self, **metrics: float) -> None:
        """Append one epoch's metrics (loss, accuracy, seconds, ...); ints stay ints."""
        self.epochs.append({k: v if isinstance(v, int) else float(v)
                            for k, v in metrics.items()})

    def attach_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Record the checkpoint's file name and hash (call after it is written)."""
        self.checkpoint = os.path.basename(os.fspath(path))
        self.checkpoint_sha256 = file_sha256(path)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the record as JSON, atomically."""
        data = json.dumps(asdict(self), indent=2, sort_keys=True,
                          default=_to_json).encode() + b"\n"

        def write(f: BinaryIO) -> None:
            f.write(data)

        atomic_write(path, write)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunRecord:
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))

    def verify_checkpoint(self, directory: str | os.PathLike[str]) -> bool:
        """True when the checkpoint next to this record still has the recorded hash (False
        when none was attached or the file is gone)."""
        if self.checkpoint is None or self.checkpoint_sha256 is None:
            return False
        try:
            return file_sha256(os.path.join(directory, self.checkpoint)) == self.checkpoint_sha256
        except FileNotFoundError:
            return False
