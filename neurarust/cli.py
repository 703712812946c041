"""The ``neurarust`` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neurarust", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="tensors, autograd, and a shape error caught before it runs")
    sub.add_parser("train", help="train a small CNN on real MNIST digits (the main job); "
                                 "options: neurarust train --help", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from .demo import main as demo

        return demo()
    if args.command == "train":
        from .examples.mnist import main as train

        return train(rest)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
