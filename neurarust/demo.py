"""The main job until the training stack lands: tensors, autograd, and a shape error caught
before any kernel runs. Run it with ``neurarust demo``."""

from __future__ import annotations

import time

import numpy as np

import neurarust as nr


def _section(title: str) -> None:
    print(f"\n== {title}")


def fit_linear_regression(steps: int = 300, lr: float = 0.5) -> tuple[float, float, float]:
    """Fit y = 3x - 2 (+ noise) by gradient descent with autograd; returns (w, b, loss)."""
    g = nr.Generator(0)
    x = nr.rand(256, 1, generator=g)
    y = x * 3.0 - 2.0 + nr.randn(256, 1, generator=g) * 0.05
    w = nr.zeros(1, 1, requires_grad=True)
    b = nr.zeros(1, requires_grad=True)
    loss = nr.tensor(0.0)
    for _ in range(steps):
        loss = ((x @ w + b - y) ** 2).mean()
        w.grad = b.grad = None
        loss.backward()
        with nr.no_grad():
            w -= w.grad * lr  # type: ignore[operator]
            b -= b.grad * lr  # type: ignore[operator]
    return float(w.item()), float(b.item()), float(loss.item())


def main() -> int:
    _section("tensors and views")
    x = nr.arange(12, dtype=nr.float32).reshape(3, 4)
    print(f"x = nr.arange(12).reshape(3, 4): shape {x.shape}, strides {x.stride()}")
    t = x.t()
    print(f"x.t(): shape {t.shape}, strides {t.stride()}, shares storage: "
          f"{np.shares_memory(t.numpy(), x.numpy())}")

    _section("autograd")
    a = nr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (a * a * a).sum()
    (g,) = nr.autograd.grad(y, a, create_graph=True)
    assert g is not None  # a was used, so its gradient exists
    (gg,) = nr.autograd.grad(g.sum(), a)
    assert gg is not None
    print(f"d/da sum(a^3) = {g.detach().tolist()}  (3a^2)")
    print(f"d2/da2        = {gg.tolist()}  (6a)")
    start = time.perf_counter()
    w, b, loss = fit_linear_regression()
    print(f"linear regression by gradient descent: w={w:.3f} (3), b={b:.3f} (-2), "
          f"mse={loss:.5f}, {time.perf_counter() - start:.2f}s")

    _section("a shape error, caught before any kernel runs")
    batch = nr.zeros(32, 784)
    weight = nr.zeros(128, 784)
    try:
        batch @ weight
    except nr.ShapeError as err:
        print(f"ShapeError: {err}")
    else:
        print("no error?!")
        return 1
    return 0 if abs(w - 3) < 0.1 and abs(b + 2) < 0.1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
