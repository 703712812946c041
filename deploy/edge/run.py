"""Run an exported model with onnxruntime alone: the device needs numpy and onnxruntime, not
neurarust (this script imports neither neurarust nor anything else of the project).

Usage (on the device, e.g. a 64-bit Raspberry Pi OS with ``pip install numpy onnxruntime``):

    python run.py model.onnx input.npy [--labels labels.npy] [--out logits.npy] [--threads N]

``input.npy`` holds the model's one input (for the MNIST CNN: float32 ``(B, 1, 28, 28)``,
normalised as in training; ``B`` is free since the export leaves it symbolic). Prints the
output's shape, the fastest of ``--repeat`` timed runs after a warm-up, and the accuracy of
the row-wise argmax when ``--labels`` gives the true classes (else the first argmaxes).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from numpy.typing import NDArray


def session(path: str, threads: int | None = None) -> ort.InferenceSession:
    """A CPU session; ``threads`` caps intra-op threads (small cores share with the rest)."""
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, x: NDArray[Any]) -> NDArray[Any]:
    """The model's first output for ``x`` fed to its only input."""
    (name,) = [i.name for i in sess.get_inputs()]
    return sess.run(None, {name: x})[0]  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("input", help=".npy file with the model's input")
    parser.add_argument("--labels", help=".npy file with the true class of each row")
    parser.add_argument("--out", help="write the output here (.npy)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (default 5)")
    args = parser.parse_args(argv)
    sess = session(args.model, args.threads)
    x = np.load(args.input, allow_pickle=False)  # loading never executes code
    if args.repeat < 1:
        raise SystemExit(f"run.py: --repeat should be >= 1, got {args.repeat}")
    y = run(sess, x)  # warm-up: the first run also plans memory
    seconds = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        run(sess, x)
        seconds = min(seconds, time.perf_counter() - start)
    if args.out:
        np.save(args.out, y, allow_pickle=False)
    predicted = y.argmax(axis=-1)
    if args.labels:
        labels = np.load(args.labels, allow_pickle=False)
        if labels.shape != predicted.shape:
            raise SystemExit(f"run.py: labels have shape {list(labels.shape)}, the output's "
                             f"argmax has {list(predicted.shape)}")
        summary = f"accuracy {float((predicted == labels).mean()):.1%} on {labels.size} rows"
    else:
        summary = f"argmax of the first rows: {predicted.ravel()[:10].tolist()}"
    print(f"output {y.dtype}{list(y.shape)} in {seconds * 1e3:.2f} ms (best of {args.repeat}) "
          f"(onnxruntime {ort.__version__}); {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
