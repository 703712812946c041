"""Transforms vs straightforward numpy (and their randomness vs the project generator)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.data import transforms as T

RNG = np.random.default_rng(0)


def test_to_tensor_uint8_hwc() -> None:
    img = RNG.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    out = T.ToTensor()(img)
    assert isinstance(out, nr.Tensor) and out.dtype == nr.float32 and out.shape == (3, 5, 4)
    np.testing.assert_allclose(out.numpy(), img.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert out.numpy().min() >= 0 and out.numpy().max() <= 1


def test_to_tensor_hw_and_non_uint8() -> None:
    img = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
    assert T.ToTensor()(img).shape == (1, 6, 7)
    f = RNG.random((2, 3, 2))  # float64 keeps dtype and values, as torchvision
    out = T.ToTensor()(f)
    assert out.dtype == nr.float64
    np.testing.assert_array_equal(out.numpy(), f.transpose(2, 0, 1))


def test_to_tensor_errors() -> None:
    with pytest.raises(ValueError, match=r"expects an image of shape \(H, W\) or \(H, W, C\), "
                                         r"got shape \[2, 2, 2, 2\]"):
        T.ToTensor()(np.zeros((2, 2, 2, 2), np.uint8))
    with pytest.raises(TypeError, match="ToTensor: expects a numpy array or a Tensor, got list"):
        T.ToTensor()([[1]])


@pytest.mark.parametrize("as_tensor", [False, True])
def test_normalize(as_tensor: bool) -> None:
    x = RNG.random((3, 4, 5)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 1.0, 2.0)
    inp: Any = nr.from_numpy(x.copy()) if as_tensor else x.copy()
    out = T.Normalize(mean, std)(inp)
    assert isinstance(out, nr.Tensor) == as_tensor
    expected = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)
    assert np.asarray(out).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(inp), x)  # not in place by default


def test_normalize_inplace_and_batches() -> None:
    x = RNG.random((2, 1, 3, 3)).astype(np.float32)
    y = x.copy()
    out = T.Normalize([0.5], [0.25], inplace=True)(y)
    assert out is y
    np.testing.assert_allclose(y, (x - 0.5) / 0.25, rtol=1e-6)


@pytest.mark.parametrize("img,args,error,message", [
    (np.zeros((1, 2, 2), np.uint8), ((0.5,), (0.5,)), TypeError, "input should be a float image"),
    (np.zeros((1, 2, 2), np.float32), ((0.5,), (0.0,)), ValueError, "std evaluated to zero"),
    (np.zeros((3, 2, 2), np.float32), ((0.5, 0.5), (1, 1)), ValueError,
     "got 2 means and 2 stds for an image with 3 channels"),
    (np.zeros((2, 2), np.float32), ((0.5,), (1,)), ValueError, r"shape \(\.\.\., C, H, W\)"),
])
def test_normalize_errors(img: Any, args: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        T.Normalize(*args)(img)


def expected_crop(img: np.ndarray, size: tuple[int, int], pads: tuple[int, int, int, int],  # type: ignore[type-arg]
                  seed: int, mode: str = "constant", fill: float = 0) -> np.ndarray:  # type: ignore[type-arg]
    left, top, right, bottom = pads
    width = [(0, 0)] * (img.ndim - 2) + [(top, bottom), (left, right)]
    kw: dict[str, Any] = {"constant_values": fill} if mode == "constant" else {}
    padded = np.pad(img, width, mode=mode, **kw)
    h, w = padded.shape[-2:]
    g = nr.Generator(seed).numpy
    i, j = g.integers(0, h - size[0] + 1), g.integers(0, w - size[1] + 1)
    return padded[..., i:i + size[0], j:j + size[1]]


@pytest.mark.parametrize("size,padding,pads,mode", [
    (4, None, (0, 0, 0, 0), "constant"),
    ((5, 3), 2, (2, 2, 2, 2), "constant"),
    (6, (1, 3), (1, 3, 1, 3), "edge"),
    (6, (1, 2, 3, 4), (1, 2, 3, 4), "reflect"),
    (7, 2, (2, 2, 2, 2), "symmetric"),
])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_random_crop_vs_numpy(size: Any, padding: Any, pads: Any, mode: str,
                              as_tensor: bool) -> None:
    img = RNG.random((2, 6, 7)).astype(np.float32)
    nr.manual_seed(21)
    out = T.RandomCrop(size, padding=padding, padding_mode=mode, fill=0.5)(
        nr.from_numpy(img) if as_tensor else img)
    sz = (size, size) if isinstance(size, int) else size
    np.testing.assert_array_equal(np.asarray(out), expected_crop(img, sz, pads, 21, mode, 0.5))
    assert isinstance(out, nr.Tensor) == as_tensor


def test_random_crop_pad_if_needed_and_full_size() -> None:
    img = RNG.random((1, 3, 3)).astype(np.float32)
    out = T.RandomCrop(5, pad_if_needed=True)(img)
    assert out.shape == (1, 5, 5)
    state = nr.functions.default_generator.get_state()
    np.testing.assert_array_equal(T.RandomCrop(3)(img), img)  # nothing to choose: no draw
    assert nr.functions.default_generator.get_state() == state
    with pytest.raises(ValueError, match=r"required crop size \(4, 4\) is larger than the "
                                         r"\(padded\) image size \(3, 3\)"):
        T.RandomCrop(4)(img)
    with pytest.raises(ValueError, match="padding_mode should be one of"):
        T.RandomCrop(2, padding_mode="wrap")


def test_random_crop_covers_every_offset() -> None:
    img = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    nr.manual_seed(0)
    corners = {float(T.RandomCrop(2)(img)[0, 0, 0]) for _ in range(300)}
    assert corners == {float(v) for v in img[0, :3, :3].ravel()}


def test_random_horizontal_flip() -> None:
    img = RNG.random((3, 2, 5)).astype(np.float32)
    flip = T.RandomHorizontalFlip(p=0.3)
    nr.manual_seed(5)
    flips = 0
    for _ in range(2000):
        out = np.asarray(flip(img))
        if np.array_equal(out, img[..., ::-1]):
            flips += 1
        else:
            np.testing.assert_array_equal(out, img)
    assert 520 < flips < 680  # 600 expected; 4.5 standard deviations either side
    np.testing.assert_array_equal(np.asarray(T.RandomHorizontalFlip(1.0)(nr.from_numpy(img))),
                                  img[..., ::-1])
    with pytest.raises(ValueError, match=r"p should be in \[0, 1\], got 1.5"):
        T.RandomHorizontalFlip(1.5)


def test_compose_is_reproducible_with_manual_seed() -> None:
    img = RNG.integers(0, 256, (8, 8), dtype=np.uint8)
    aug = T.Compose([T.ToTensor(), T.RandomCrop(8, padding=2), T.RandomHorizontalFlip(),
                     T.Normalize((0.1307,), (0.3081,))])
    nr.manual_seed(1)
    a = [aug(img).numpy() for _ in range(5)]
    nr.manual_seed(1)
    b = [aug(img).numpy() for _ in range(5)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].shape == (1, 8, 8) and a[0].dtype == np.float32
    assert "RandomCrop(size=(8, 8), padding=2)" in repr(aug)
    assert T.Lambda(lambda x: x + 1)(1) == 2
