"""Compare the MNIST CNN's outputs on an (emulated) aarch64 machine with this machine's.

Three steps, driven by ``check_arm64.sh``:

- ``prepare DIR`` (here, with neurarust installed): export the CNN (trained weights from
  ``runs/mnist/model.safetensors`` when present, else the seeded initialisation) to
  ``DIR/model.onnx`` and its int8-weight version to ``DIR/model.int8.onnx``, save 100 test
  digits, their labels, the state dict and neurarust's logits.
- ``guest DIR`` (on aarch64, with the aarch64 wheels and this checkout on the path): run both
  ONNX files in onnxruntime and the same state dict in eager neurarust, saving the logits,
  then prove the CNN's shapes with ``neurarust.verify`` (which loads z3).
- ``compare DIR`` (either side): print the largest differences and the accuracies; exit 1
  when the float32 results differ by more than float32 tolerance.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / "runs" / "mnist" / "model.safetensors"


def prepare(out: Path) -> None:
    sys.path.insert(0, str(ROOT / "deploy" / "web"))
    sys.path.insert(0, str(ROOT / "deploy" / "edge"))
    import export_demo  # type: ignore[import-not-found]
    import quantize

    import neurarust as nr

    checkpoint = CHECKPOINT if CHECKPOINT.exists() else None
    images, labels = export_demo.demo_digits(1000)
    images, labels = images[::10].copy(), labels[::10].copy()  # 10 of each class
    model = export_demo.load_model(checkpoint)
    logits = export_demo.write_demo(model, out, images, labels)
    quantize.quantize(str(out / "model.onnx"), str(out / "model.int8.onnx"))
    nr.save(model.state_dict(), out / "model.safetensors")
    np.save(out / "x.npy", images)
    np.save(out / "labels.npy", labels)
    np.save(out / "host_neurarust.npy", logits)
    print(f"prepared {out} on {platform.machine()} (weights: {checkpoint or 'random init'})")


def guest(out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "deploy" / "edge"))
    import onnxruntime as ort  # type: ignore[import-untyped]
    import run

    import neurarust as nr
    from neurarust.examples.mnist import SmallCNN

    x = np.load(out / "x.npy")
    for name in ("model", "model.int8"):
        sess = run.session(str(out / f"{name}.onnx"), threads=1)
        np.save(out / f"guest_{name}.npy", run.run(sess, x))
    model = SmallCNN()
    model.load_state_dict(nr.load(out / "model.safetensors"))
    model.eval()
    with nr.no_grad():
        np.save(out / "guest_neurarust.npy", model(nr.tensor(x)).numpy())
    z3_after_eager = "z3" in sys.modules
    from neurarust.verify import verify

    report = verify(SmallCNN(), {"x": "f32[B, 1, 28, 28]"}, ["1 <= B <= 4096"])
    import z3

    print(f"ran on {platform.machine()}: onnxruntime {ort.__version__}, numpy "
          f"{np.__version__}, neurarust eager (z3 loaded: {z3_after_eager}); shapes "
          f"{report.status} with z3 {z3.get_version_string()}")
    if report.status != "proven":
        raise SystemExit(f"arm64_check: verify gave {report.status!r}, expected 'proven'")


def compare(out: Path) -> int:
    want = np.load(out / "host_neurarust.npy").astype(np.float64)
    labels = np.load(out / "labels.npy")
    scale = float(np.abs(want).max())
    ok = True
    for name in ("guest_model", "guest_neurarust", "guest_model.int8"):
        got = np.load(out / f"{name}.npy").astype(np.float64)
        diff = float(np.abs(got - want).max())
        accuracy = float((got.argmax(axis=1) == labels).mean())
        agree = float((got.argmax(axis=1) == want.argmax(axis=1)).mean())
        print(f"{name:18s} max |diff| {diff:.3g} (logits up to {scale:.3g}), accuracy "
              f"{accuracy:.1%}, argmax agrees with neurarust here on {agree:.1%}")
        if name != "guest_model.int8":
            ok = ok and bool(np.allclose(got, want, rtol=1e-4, atol=1e-5))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("prepare", "guest", "compare"))
    parser.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.step == "prepare":
        prepare(args.dir)
    elif args.step == "guest":
        guest(args.dir)
    else:
        return compare(args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
