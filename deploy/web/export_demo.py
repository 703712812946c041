"""Export the MNIST CNN and a few test digits for the browser demo (``deploy/web/index.html``).

Writes two files into ``--out`` (default ``deploy/web/model/``):

- ``model.onnx``: :class:`neurarust.examples.mnist.SmallCNN` exported with ``nr.onnx.export``
  from one trace with a symbolic batch ``B`` (an ONNX ``dim_param``), with the weights of
  ``--checkpoint`` (default ``runs/mnist/model.safetensors``, which ``neurarust train``
  writes; without one the weights are the seeded random initialisation, and the page's
  predictions are then chance).
- ``digits.json``: ``--count`` real MNIST test digits, evenly spaced over the test split so
  that every class appears (the split is sorted by label), normalised as in training, with
  their labels and the logits eager neurarust computes for them. The page shows its own
  logits next to these.

Run from the repository root: ``python deploy/web/export_demo.py``; then serve
``deploy/web/`` (see the README's "Run the browser demo").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

import neurarust as nr
from neurarust import nn
from neurarust._atomic import atomic_write
from neurarust.data import MNIST5k
from neurarust.examples.mnist import MEAN, STD, SmallCNN

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "model"
DEFAULT_CHECKPOINT = HERE.parents[1] / "runs" / "mnist" / "model.safetensors"  # `neurarust train`
INPUT_SPEC = {"x": "f32[B, 1, 28, 28]"}


def demo_digits(count: int = 10) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """``count`` MNIST test digits, normalised, as ``(float32 (count, 1, 28, 28), int labels)``."""
    test = MNIST5k(train=False)
    n = len(test)
    if not 1 <= count <= n:
        raise ValueError(f"export_demo: count should be in 1..{n}, got {count}")
    rows = np.linspace(0, n - 1, count).round().astype(np.int64)
    pixels = test.data.numpy()[rows].astype(np.float32) / 255.0
    images = ((pixels - MEAN) / STD).astype(np.float32)[:, None, :, :]
    return images, test.targets.numpy()[rows].astype(np.int64)


def load_model(checkpoint: str | os.PathLike[str] | None, seed: int = 0) -> nn.Module:
    """The CNN in eval mode, with ``checkpoint``'s weights when given, else seeded init."""
    nr.manual_seed(seed)
    model = SmallCNN()
    if checkpoint is not None:
        model.load_state_dict(nr.load(checkpoint))
    model.eval()
    return model


def write_demo(model: nn.Module, out: str | os.PathLike[str], images: NDArray[np.float32],
               labels: NDArray[np.int64], weights: str = "random init") -> NDArray[np.float32]:
    """Export ``model`` to ``out/model.onnx`` and the digits to ``out/digits.json``; return
    neurarust's logits for ``images`` (float32, ``(N, 10)``). ``weights`` says on the page
    where the weights came from."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    nr.onnx.export(model, INPUT_SPEC, out_dir / "model.onnx")
    with nr.no_grad():
        logits = model(nr.tensor(images)).numpy()
    record: dict[str, Any] = {
        "shape": list(images.shape),
        # Exact: a float32 widened to a double prints and reads back (Float32Array) unchanged.
        "images": images.astype(np.float32).ravel().tolist(),
        "labels": [int(v) for v in labels],
        "neurarust_logits": logits.astype(np.float32).tolist(),
        "mean": MEAN,
        "std": STD,
        "weights": weights,
    }
    text = json.dumps(record, separators=(",", ":")).encode()

    def write(f: BinaryIO) -> None:
        f.write(text)

    atomic_write(out_dir / "digits.json", write)
    return logits  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None,
                        help=f"weights to export (default: {DEFAULT_CHECKPOINT} if it exists)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder")
    parser.add_argument("--count", type=int, default=10, help="how many test digits")
    args = parser.parse_args(argv)
    checkpoint = args.checkpoint
    if checkpoint is None and DEFAULT_CHECKPOINT.exists():
        checkpoint = str(DEFAULT_CHECKPOINT)
    if checkpoint is None:
        print(f"export_demo: no {DEFAULT_CHECKPOINT} (run `neurarust train` first for a trained "
              "model); exporting the random initialisation", file=sys.stderr)
    images, labels = demo_digits(args.count)
    weights = "random init"
    if checkpoint is not None:  # shown on the page: relative to the repository when inside it
        path = Path(checkpoint).resolve()
        root = HERE.parents[1]
        weights = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    logits = write_demo(load_model(checkpoint), args.out, images, labels, weights=weights)
    correct = int((logits.argmax(axis=1) == labels).sum())
    print(f"wrote {args.out}/model.onnx and {args.out}/digits.json "
          f"({len(labels)} digits, neurarust classifies {correct} correctly; "
          f"weights: {weights})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
