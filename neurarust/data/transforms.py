"""Image transforms for arrays and tensors, as ``torchvision.transforms``.

Images are ``(..., H, W)`` (channels first, e.g. ``C, H, W``) except the input of
:class:`ToTensor`, which takes the ``H, W, C`` (or ``H, W``) layout images are stored in. Each
transform takes a numpy array or a :class:`~neurarust.Tensor` and returns the same kind. They
run in numpy on one sample at a time: they are data preparation, outside any autograd graph.

Random transforms draw from the project generator (:func:`current_generator`: the global one
seeded by ``nr.manual_seed``, reseeded in each DataLoader worker), so a seed fixes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..functions.creation import from_numpy
from ..tensor import Tensor
from ._worker import current_generator

__all__ = ["Compose", "Lambda", "Normalize", "RandomCrop", "RandomHorizontalFlip", "ToTensor"]

Image = Any  # np.ndarray | Tensor; kept loose so users' own types pass through Compose


def _unwrap(img: Image, who: str) -> tuple[np.ndarray, bool]:  # type: ignore[type-arg]
    if isinstance(img, Tensor):
        return np.asarray(img), True
    if isinstance(img, np.ndarray):
        return img, False
    raise TypeError(f"{who}: expects a numpy array or a Tensor, got {type(img).__name__}")


def _wrap(array: np.ndarray, as_tensor: bool) -> Image:  # type: ignore[type-arg]
    return from_numpy(array) if as_tensor else array


def _check_image(array: np.ndarray, who: str) -> None:  # type: ignore[type-arg]
    if array.ndim < 2:
        raise ValueError(
            f"{who}: expects an image of shape (..., H, W), got shape {list(array.shape)}"
        )


class Compose:
    """Apply transforms one after the other.

    Example:
        >>> t = Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        lines = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({lines}\n)"


class Lambda:
    """Apply a user function as a transform."""

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ToTensor:
    """An ``H, W, C`` (or ``H, W``) image -> a ``C, H, W`` tensor.

    ``uint8`` images are scaled to float32 in ``[0, 1]`` (divided by 255); other dtypes keep
    their dtype and values, as in torchvision.

    Shape:
        ``(H, W, C)`` or ``(H, W)`` -> ``(C, H, W)`` (``C = 1`` for ``(H, W)``)
    """

    def __call__(self, pic: Image) -> Tensor:
        array, _ = _unwrap(pic, "ToTensor")
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(
                f"ToTensor: expects an image of shape (H, W) or (H, W, C), got shape "
                f"{list(array.shape)}"
            )
        chw = array.transpose(2, 0, 1)
        if chw.dtype == np.uint8:
            out = chw.astype(np.float32)
            out *= np.float32(1 / 255)
        else:
            out = np.ascontiguousarray(chw)
        return from_numpy(out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Normalize:
    """Per-channel ``(image - mean[c]) / std[c]`` on a float ``C, H, W`` image.

    Args:
        mean: one mean per channel (or one for all).
        std: one standard deviation per channel (or one for all); none may be zero.
        inplace: write into the input's memory instead of a new array. Default: False.
    """

    def __init__(self, mean: Sequence[float] | float, std: Sequence[float] | float,
                 inplace: bool = False) -> None:
        self.mean = [float(m) for m in mean] if isinstance(mean, Sequence) else [float(mean)]
        self.std = [float(s) for s in std] if isinstance(std, Sequence) else [float(std)]
        self.inplace = inplace

    def __call__(self, tensor: Image) -> Image:
        array, as_tensor = _unwrap(tensor, "Normalize")
        if array.dtype.kind != "f":
            raise TypeError(
                f"Normalize: input should be a float image, got dtype {array.dtype}; "
                "use ToTensor() first to scale uint8 images to float32 in [0, 1]"
            )
        if array.ndim < 3:
            raise ValueError(
                "Normalize: expected an image of shape (..., C, H, W), got shape "
                f"{list(array.shape)}"
            )
        mean = np.asarray(self.mean, dtype=array.dtype)
        std = np.asarray(self.std, dtype=array.dtype)
        if np.any(std == 0):
            raise ValueError(
                f"Normalize: std evaluated to zero after conversion to {array.dtype}, leading "
                f"to division by zero (std={self.std})"
            )
        channels = array.shape[-3]
        if mean.size not in (1, channels) or std.size not in (1, channels):
            raise ValueError(
                f"Normalize: got {mean.size} means and {std.size} stds for an image with "
                f"{channels} channels (shape {list(array.shape)})"
            )
        mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
        if self.inplace:
            np.subtract(array, mean, out=array)
            np.divide(array, std, out=array)
            return tensor
        return _wrap((array - mean) / std, as_tensor)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


def _pair(size: int | Sequence[int], who: str) -> tuple[int, int]:
    if not isinstance(size, Sequence):  # an int, numpy's included
        return int(size), int(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{who}: size should be an int or a sequence of 1 or 2 ints, got {size}")


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
              "symmetric": "symmetric"}


class RandomCrop:
    """Crop a random ``size`` window, after optional padding, as torchvision's ``RandomCrop``.

    Args:
        size: ``(h, w)`` of the crop, or one int for a square.
        padding: pixels added on each border first: an int (all borders), ``(left/right,
            top/bottom)`` or ``(left, top, right, bottom)``. Default: None.
        pad_if_needed: pad images smaller than ``size`` up to it. Default: False.
        fill: the value of constant padding. Default: 0.
        padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.

    The top and left offsets are ``randint(0, H - h + 1)`` then ``randint(0, W - w + 1)`` from
    the project generator.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: float = 0,
                 padding_mode: str = "constant") -> None:
        self.size = _pair(size, "RandomCrop")
        if padding_mode not in _PAD_MODES:
            raise ValueError(
                f"RandomCrop: padding_mode should be one of {sorted(_PAD_MODES)}, got "
                f"{padding_mode!r}"
            )
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        self._borders = self._parse_padding(padding)

    @staticmethod
    def _parse_padding(padding: int | Sequence[int] | None) -> tuple[int, int, int, int]:
        """(left, top, right, bottom)"""
        if padding is None:
            return 0, 0, 0, 0
        if not isinstance(padding, Sequence):  # an int, numpy's included
            p = int(padding)
            return p, p, p, p
        pads = [int(p) for p in padding]
        if len(pads) == 1:
            return pads[0], pads[0], pads[0], pads[0]
        if len(pads) == 2:
            return pads[0], pads[1], pads[0], pads[1]
        if len(pads) == 4:
            return pads[0], pads[1], pads[2], pads[3]
        raise ValueError(
            f"RandomCrop: padding should be an int or a sequence of 1, 2 or 4 ints, got {padding}"
        )

    def _pad(self, array: np.ndarray, borders: tuple[int, int, int, int]) -> np.ndarray:  # type: ignore[type-arg]
        left, top, right, bottom = borders
        if not any(borders):
            return array
        widths = [(0, 0)] * (array.ndim - 2) + [(top, bottom), (left, right)]
        padded: np.ndarray  # type: ignore[type-arg]
        if self.padding_mode == "constant":
            padded = np.pad(array, widths, mode="constant", constant_values=self.fill)
        else:
            padded = np.pad(array, widths, mode=_PAD_MODES[self.padding_mode])  # type: ignore[call-overload]
        return padded

    def __call__(self, img: Image) -> Image:
        array, as_tensor = _unwrap(img, "RandomCrop")
        _check_image(array, "RandomCrop")
        array = self._pad(array, self._borders)
        th, tw = self.size
        h, w = array.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):
            dw, dh = max(tw - w, 0), max(th - h, 0)
            array = self._pad(array, (dw, dh, dw, dh))
            h, w = array.shape[-2:]
        if h < th or w < tw:
            raise ValueError(
                f"RandomCrop: required crop size {(th, tw)} is larger than the (padded) image "
                f"size {(h, w)}; pass padding= or pad_if_needed=True"
            )
        if h == th and w == tw:
            i = j = 0  # nothing to choose: draws nothing, as torchvision
        else:
            rng = current_generator().numpy
            i = int(rng.integers(0, h - th + 1))
            j = int(rng.integers(0, w - tw + 1))
        return _wrap(np.ascontiguousarray(array[..., i:i + th, j:j + tw]), as_tensor)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the image left-right (last axis) with probability ``p``.

    Args:
        p: the probability of a flip. Default: 0.5.
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p should be in [0, 1], got {p}")
        self.p = p

    def __call__(self, img: Image) -> Image:
        array, as_tensor = _unwrap(img, "RandomHorizontalFlip")
        _check_image(array, "RandomHorizontalFlip")
        if current_generator().numpy.random() < self.p:
            return _wrap(np.ascontiguousarray(array[..., ::-1]), as_tensor)
        return img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"
