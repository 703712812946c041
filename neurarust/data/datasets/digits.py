"""Digits: scikit-learn's 1,797 real 8x8 handwritten digits, with a seeded split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np

from ._common import ImageCsvDataset, load_label_last_csv, locate_package_file, stratified_split

__all__ = ["Digits"]

FILE_PARTS: Final = ("datasets", "data", "digits.csv.gz")
TEST_PER_CLASS: Final = 36


class Digits(ImageCsvDataset):
    """The UCI optical-recognition digits (1,797 images of 8x8, 10 classes), split 1,437 train /
    360 test.

    Read from scikit-learn's wheel (``sklearn/datasets/data/digits.csv.gz``, the data of
    ``sklearn.datasets.load_digits``) without importing scikit-learn: one image per row, 64
    pixel counts 0..16 (row-major 8x8) then the label in the last column.

    Split: stratified, 36 test images per class (360; about 20% of each class's 174..183) and
    the rest (1,437) for training, chosen by ``split_seed`` (see :func:`stratified_split`).
    Within a split, images keep the file's order.

    Args:
        root: a folder holding ``digits.csv.gz`` (or the file itself); default: the copy in the
            installed scikit-learn package (``pip install 'neurarust[examples]'``).
        train: the training split (True) or the test split (False).
        transform: applied to each image, an ``(8, 8)`` float32 array in [0, 1] (the counts
            divided by 16; ``ToTensor()`` makes it a ``(1, 8, 8)`` tensor). ``.data`` keeps the
            raw counts as uint8.
        target_transform: applied to each label, an ``int`` in 0..9.
        split_seed: seed of the train/test split. Default: 0.
    """

    classes: ClassVar[list[str]] = [str(i) for i in range(10)]

    def __init__(self, root: str | Path | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 split_seed: int = 0) -> None:
        path = locate_package_file("Digits", "sklearn", FILE_PARTS, root)
        pixels, labels = load_label_last_csv(path, columns=8 * 8 + 1)
        if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
            raise ValueError(f"Digits: {path} holds pixel counts outside 0..16 or labels "
                             "outside 0..9; is it scikit-learn's file?")
        train_idx, test_idx = stratified_split(labels, TEST_PER_CLASS, split_seed)
        indices = train_idx if train else test_idx
        images = pixels[indices].astype(np.uint8).reshape(-1, 8, 8)
        super().__init__(images, labels[indices].copy(), indices, train, split_seed,
                         transform, target_transform)
        self._scaled = images.astype(np.float32) / np.float32(16)

    def _sample(self, index: int) -> Any:
        return self._scaled[index]
