"""The ``neurarust`` command line.

Exit codes (docs/verify.md, "Exit codes"): 0 proven / holds / written, 1 refuted / violated
with a checked counterexample (``export``: not exportable or not certified, nothing written),
2 usage or input error (one line on stderr; ``--debug`` adds the traceback), 3 unknown or
timed out. The model file is executed as trusted code, like ``python model.py``; it runs in a
child process (:mod:`neurarust._cli_worker`) so that whatever it does (``sys.exit(0)``, an
exception at import, a crash, a hang) cannot become the exit code: the command chooses it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from typing import Any, NoReturn, TypeVar

_T = TypeVar("_T", float, float | None)

# The opsets `export --opset` accepts (neurarust.onnx.export states no range, only
# DEFAULT_OPSET): the exporter's code branches on opsets 13, 15 and 18 (axes as inputs,
# Shape's start/end) and, like the importer ("opsets 7-17"), is written for ONNX from opset 7
# on; 21 (ONNX 1.16) bounds what a user may ask without reaching opsets newer than the
# onnxruntime releases the project tests against. onnx.checker's full check still validates
# every written node at the chosen opset. The Python API (`nr.onnx.export(opset=...)`) is
# not restricted here.
OPSET_RANGE = (7, 21)

TRUSTED = ("The model file is executed as trusted code, like `python model.py`: only "
           "verify files you would run. It runs in a separate process, so whatever it does "
           "(exit, crash, hang) gives exit 2 or 3, never a verdict.")
EXIT_CODES = ("exit codes: 0 proven / holds / written, 1 refuted / violated (with a checked "
              "counterexample) or, for export, not exportable / not certified, 2 usage or "
              "input error, 3 unknown or timed out")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit 2), naming the help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="neurarust", description=__doc__.split("\n")[0],
                     epilog=f"{TRUSTED} {EXIT_CODES}.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("demo", help="tensors, autograd, and a shape error caught before it runs")
    sub.add_parser("train", help="train a small CNN on real MNIST digits (the main job); "
                                 "options: neurarust train --help", add_help=False)
    verify = sub.add_parser("verify", help="prove a model shape-safe for every size allowed "
                                           "by the assumptions (z3)",
                            epilog=f"{TRUSTED} {EXIT_CODES}.")
    verify.add_argument("target", nargs="?", help="path/model.py:Name (a Module class, "
                                                   "instance, factory or function; the file is "
                                                   "executed as trusted code), or net.onnx")
    verify.add_argument("--trust", action="append", default=[], metavar="PUB.pem",
                        help="with a certified net.onnx: require a valid Ed25519 signature by "
                             "this public key (repeatable: any one of them); exit 2 otherwise")
    verify.add_argument("--kernels", action="store_true",
                        help="prove every CUDA kernel's memory accesses in bounds (no target)")
    verify.add_argument("--input", action="append", default=[], metavar="SPEC",
                        help='an input, e.g. "x: f32[B,1,28,28]" (repeat, in forward order)')
    verify.add_argument("--assume", action="append", default=[], metavar="COND",
                        help='an assumption on dims, e.g. "1 <= B <= 4096" (repeatable)')
    verify.add_argument("--range", action="append", default=[], metavar="RANGE",
                        help='an input range, e.g. "x in [0, 1]": adds numeric safety (interval '
                             'bounds, sound for float32) to the report (repeatable)')
    verify.add_argument("--exact", action="store_true",
                        help="with --range: tighten bounds that interval arithmetic cannot "
                             "(x - x) with z3 on small exact subproblems")
    verify.add_argument("--vnnlib", metavar="PROP", default=None,
                        help="a VNN-LIB property on an ONNX network (TARGET net.onnx): holds / "
                             "violated (with a checked counterexample) / unknown")
    verify.add_argument("--split", choices=("auto", "input", "relu"), default="auto",
                        help="with --vnnlib: branch on input splits, on ReLU phases (LP "
                             "leaves), or auto (input splits for at most 8 inputs; default)")
    verify.add_argument("--timeout", type=_seconds, default=60.0, metavar="S",
                        help="wall-clock seconds for everything (loading the model, tracing, "
                             "z3, branch and bound, re-checking a certificate; default 60): "
                             "unknown (exit 3) after")
    verify.add_argument("--json", action="store_true",
                        help="print the report as JSON (schema in docs/verify.md)")
    verify.add_argument("--max-paths", type=_count, default=64, metavar="N",
                        help="explore at most N paths through shape-dependent Python control "
                             "flow (default 64; unknown beyond)")
    verify.add_argument("--max-values", type=_count, default=8, metavar="N",
                        help="follow a symbolic size used as an int (range(T)) value by value "
                             "when it has at most N values (default 8; larger ones unknown)")
    verify.add_argument("--debug", action="store_true",
                        help="on an error, also print the traceback and the worker's output")
    export = sub.add_parser("export", help="trace a model once and write it as ONNX "
                                           "(symbolic dims become dim_params)",
                            epilog=f"{TRUSTED} {EXIT_CODES}.")
    export.add_argument("target", help="path/model.py:Name (a Module class, instance, factory "
                                       "or function; the file is executed as trusted code)")
    export.add_argument("--input", action="append", default=[], metavar="SPEC",
                        help='an input, e.g. "x: f32[B,1,28,28]" (repeat, in forward order)')
    export.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="the .onnx file to write (atomically; its folder must exist)")
    export.add_argument("--opset", type=int, default=17,
                        help=f"ONNX opset, {OPSET_RANGE[0]}..{OPSET_RANGE[1]} (default 17)")
    export.add_argument("--verify", "--certify", action="store_true", dest="certify",
                        help="verify the traced graph and embed a certificate (written only "
                             "when everything is proven)")
    export.add_argument("--assume", action="append", default=[], metavar="COND",
                        help='with --verify: an assumption on dims, e.g. "1 <= B <= 4096"')
    export.add_argument("--range", action="append", default=[], metavar="RANGE",
                        help='with --verify: an input range, e.g. "x in [0, 1]"')
    export.add_argument("--timeout", type=_seconds, default=None, metavar="S",
                        help="wall-clock seconds for everything (default: no limit): exit 3, "
                             "nothing written, after")
    export.add_argument("--debug", action="store_true",
                        help="on an error, also print the traceback and the worker's output")
    export.add_argument("--sign", metavar="KEY.pem", default=None,
                        help="with --verify: sign the certificate with this Ed25519 private "
                             "key (make one with `neurarust keygen KEY.pem`)")
    keygen = sub.add_parser("keygen", help="write a new Ed25519 signing key KEY.pem (0600) "
                                           "and its public key KEY.pub.pem")
    keygen.add_argument("key", metavar="KEY.pem")
    args, rest = parser.parse_known_args(argv)
    if args.command in ("verify", "export") and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "verify":
        if args.kernels:
            return _guarded("neurarust verify", args.debug, _verify_kernels)
        if args.target is None:
            verify.error("verify needs a TARGET (or --kernels)")
        if args.vnnlib is None and args.target.endswith(".onnx"):
            return _isolated("neurarust verify", args, "_verify_certificate",
                             {"path": args.target, "trust": args.trust})
        if args.trust:
            verify.error("--trust applies to a certified net.onnx (without --vnnlib)")
        if args.vnnlib is not None or args.target.endswith(".onnx"):
            return _isolated("neurarust verify", args, "_verify_vnnlib",
                             {"target": args.target, "prop_path": args.vnnlib,
                              "timeout": args.timeout, "split": args.split})
        return _isolated("neurarust verify", args, "_verify",
                         {"target": args.target, "inputs": args.input,
                          "assumptions": args.assume, "ranges": args.range,
                          "exact": args.exact, "json_out": args.json, "timeout": args.timeout,
                          "max_paths": args.max_paths, "max_values": args.max_values})
    if args.command == "export":
        if not OPSET_RANGE[0] <= args.opset <= OPSET_RANGE[1]:
            export.error(f"--opset {args.opset} is not supported: give an opset in "
                         f"{OPSET_RANGE[0]}..{OPSET_RANGE[1]}")
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):
            export.error(f"-o {args.output}: the folder {folder} does not exist")
        if os.path.isdir(args.output):
            export.error(f"-o {args.output} is a folder; give the .onnx file to write")
        common = {"target": args.target, "inputs": args.input, "output": args.output,
                  "opset": args.opset}
        if args.certify or args.assume or args.range or args.sign:
            return _isolated("neurarust export", args, "_export_certified",
                             {**common, "assumptions": args.assume, "ranges": args.range,
                              "sign_key": args.sign})
        return _isolated("neurarust export", args, "_export", common)
    if args.command == "keygen":
        return _keygen(args.key)
    if args.command == "demo":
        from .demo import main as demo

        return demo()
    if args.command == "train":
        from .examples.mnist import main as train

        return train(rest)
    parser.error(f"unknown command {args.command}")


def _seconds(text: str) -> float:
    """``--timeout``: a finite number of seconds >= 0."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


_seconds.__name__ = "number of seconds (finite, >= 0)"


def _count(text: str) -> int:
    """``--max-paths`` / ``--max-values``: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_count.__name__ = "count (an integer >= 1)"


def _one_line(text: str) -> str:
    from ._cli_worker import one_line

    return one_line(text)


def _isolated(prog: str, args: argparse.Namespace, func: str, kwargs: dict[str, Any]) -> int:
    """Run the command function ``func`` in a worker process (:mod:`neurarust._cli_worker`)
    under ``args.timeout``, print what it printed, and return its exit code, which the worker's
    own exit status or output can never be."""
    from ._cli_worker import run_isolated

    target: str = kwargs.get("target", kwargs.get("path", ""))
    user_file = target.rpartition(":")[0] if target.rpartition(":")[0].endswith(".py") else None
    subject = os.path.basename(user_file or target)
    try:
        outcome = run_isolated(func, kwargs, prog=prog, timeout=args.timeout, subject=subject,
                               user_file=user_file, debug=args.debug)
    except Exception as err:  # noqa: BLE001  (the worker could not even be started)
        return _internal(prog, err, args.debug)
    try:
        sys.stdout.write(outcome.out)
        sys.stdout.flush()
    except BrokenPipeError:  # `neurarust verify ... | head -1`: the verdict's code stands
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.stderr.write(outcome.err)
    if args.debug and outcome.debug:
        sys.stderr.write(outcome.debug if outcome.debug.endswith("\n") else outcome.debug + "\n")
    return outcome.code


def _guarded(prog: str, debug: bool, func: Any) -> int:
    """Run ``func()`` in this process (no user code: ``verify --kernels``); an unexpected
    exception is exit 2 with one line (``--debug``: the traceback)."""
    try:
        return int(func())
    except Exception as err:  # noqa: BLE001
        return _internal(prog, err, debug)


def _internal(prog: str, err: BaseException, debug: bool) -> int:
    from ._cli_worker import describe_exception

    print(f"{prog}: error: {describe_exception(err, None)}", file=sys.stderr)
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    return 2


def _load_target(target: str) -> object:
    """The model named by ``path/model.py:Name``: a Module class is instantiated, a function
    without parameters is called (a factory), anything else is traced as it is."""
    import inspect

    obj = _target_object(target)
    from .nn.module import Module

    if inspect.isclass(obj) and issubclass(obj, Module):
        return obj()
    if inspect.isfunction(obj) and not inspect.signature(obj).parameters:
        return obj()
    return obj


def _verify_target(target: str, specs: dict[str, str]) -> tuple[Any, dict[str, str] | None]:
    """The model named by ``path/model.py:Name`` for ``verify``, and its symbolic config: a
    Module class or a factory function is built while tracing (so constructor errors are
    verdicts), its required parameters (``make(D, H)``) becoming dims of the same names; a
    function whose parameters are the inputs, or an instance, is traced as it is."""
    import inspect

    from .nn.module import Module

    obj = _target_object(target)
    if inspect.isclass(obj) and issubclass(obj, Module):
        params = list(inspect.signature(obj.__init__).parameters.values())[1:]
    elif inspect.isfunction(obj):
        params = list(inspect.signature(obj).parameters.values())
        if params and all(p.name in specs for p in params
                          if p.default is inspect.Parameter.empty):
            return obj, None  # a function of the input tensors
    else:
        return obj, None
    required = [p.name for p in params if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return obj, {name: name for name in required}


def _target_object(target: str) -> Any:
    """The attribute ``Name`` of the file ``path/model.py`` (the file is executed)."""
    import importlib.util
    import os

    path, sep, name = target.rpartition(":")
    if not sep or not path.endswith(".py") or not name:
        raise ValueError(f"expected path/model.py:Name, got {target!r}")
    if not os.path.isfile(path):
        raise ValueError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"_neurarust_target_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ValueError(f"{path} has no attribute {name!r}") from None


def _parse_inputs(inputs: list[str]) -> dict[str, str]:
    """``["x: f32[B,1,28,28]"]`` -> ``{"x": "f32[B,1,28,28]"}`` (in forward order)."""
    specs: dict[str, str] = {}
    for item in inputs:
        key, sep, spec = item.partition(":")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f'--input expects "name: f32[B, ...]", got {item!r}')
        specs[key.strip()] = spec.strip()
    if not specs:
        raise ValueError('give at least one --input, e.g. --input "x: f32[B,1,28,28]"')
    return specs


def _export_certified(target: str, inputs: list[str], output: str, opset: int,
                      assumptions: list[str], ranges: list[str],
                      sign_key: str | None = None, *, deadline: float | None = None) -> int:
    """``neurarust export --verify``: trace once, prove, export and embed the certificate;
    exit 0 written, 1 not proven or not exportable (nothing written), 2 usage error. Runs in
    the worker; ``deadline`` is enforced there by the parent."""
    from .onnx import OnnxExportError
    from .trace import TraceError, trace
    from .types.errors import DTypeError, ShapeError
    from .verify.certificate import CertificateError, export_certified
    from .verify.numeric import parse_range
    from .verify.signing import SignatureError

    try:
        specs = _parse_inputs(inputs)
        bounds = {name: (lo, hi) for name, lo, hi in map(parse_range, ranges)}
        model = _load_target(target)
        if not callable(model):
            raise ValueError(f"{target} is not a model or function")  # noqa: TRY004 (usage)
        graph = trace(model, specs)
        proto, cert = export_certified(graph, output, assumptions, bounds, opset=opset,
                                       sign_key=sign_key)
    except SignatureError as err:
        print(f"neurarust export: error: {err}", file=sys.stderr)
        return 2
    except (OnnxExportError, ShapeError, DTypeError, CertificateError) as err:
        print(f"neurarust export: {err}", file=sys.stderr)
        return 1
    except (ValueError, TraceError, ImportError) as err:
        print(f"neurarust export: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    print(f"wrote {output}: {len(proto.graph.node)} ONNX nodes, "
          f"{len(proto.graph.initializer)} initializers, opset {opset}, certified "
          f"({len(cert.shape_facts)} shape obligations proven"
          + (", numeric safety proven" if cert.numeric else "") + f"; sha256 {cert.hash[:16]}..."
          + (", signed" if sign_key else "") + ")")
    return 0


def _verify_certificate(path: str, trust: list[str] | None = None, *,
                        deadline: float | None = None) -> int:
    """``neurarust verify net.onnx``: re-prove every claim of the embedded certificate on the
    file; exit 0 every claim re-proven (and signed by a --trust key, if given), 1 a claim
    refuted with a concrete witness, 2 no certificate / malformed / unreadable / signature
    missing or invalid under --trust, 3 a claim not re-proven (and none refuted). Runs in the
    worker; ``deadline`` is enforced there by the parent."""
    import os

    from .verify.certificate import CertificateError, verify_file

    try:
        if not os.path.isfile(path):
            raise CertificateError(f"no such file: {path}")
        result = verify_file(path, trust or [])
    except (CertificateError, ImportError) as err:
        print(f"neurarust verify: error: {path}: {_one_line(str(err))}", file=sys.stderr)
        return 2
    print(result)
    return result.exit_code


def _keygen(path: str) -> int:
    """``neurarust keygen KEY.pem``: exit 0 written, 2 refused (exists, unwritable)."""
    from .verify.signing import SignatureError, fingerprint, keygen, load_public_key

    try:
        key, pub = keygen(path)
    except SignatureError as err:
        print(f"neurarust keygen: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {key} (private, 0600) and {pub}; fingerprint "
          f"{fingerprint(load_public_key(pub))}")
    return 0


def _export(target: str, inputs: list[str], output: str, opset: int, *,
            deadline: float | None = None) -> int:
    """``neurarust export``: trace once and write ONNX; exit 0 written, 1 not exportable
    (unmapped ops, shape or dtype errors), 2 usage error. Runs in the worker; ``deadline``
    is enforced there by the parent."""
    from .onnx import OnnxExportError, export
    from .trace import TraceError
    from .types.errors import DTypeError, ShapeError

    try:
        specs = _parse_inputs(inputs)
        model = _load_target(target)
        if not callable(model):
            raise ValueError(f"{target} is not a model or function")  # noqa: TRY004 (usage)
        proto = export(model, specs, output, opset=opset)
    except (OnnxExportError, ShapeError, DTypeError) as err:
        print(f"neurarust export: {err}", file=sys.stderr)
        return 1
    except (ValueError, TraceError, ImportError) as err:
        print(f"neurarust export: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    print(f"wrote {output}: {len(proto.graph.node)} ONNX nodes, "
          f"{len(proto.graph.initializer)} initializers, opset {opset}")
    return 0


def _verify_kernels() -> int:
    """``neurarust verify --kernels``: exit 0 when every kernel is proven in bounds, else 1."""
    from .verify.kernels import verify_kernels

    reports = verify_kernels()
    for report in reports:
        print(report)
    ok = all(r.proven for r in reports)
    print(f"{sum(r.proven for r in reports)}/{len(reports)} kernels proven")
    return 0 if ok else 1


def _verify(target: str, inputs: list[str], assumptions: list[str],
            ranges: list[str] | None = None, *, exact: bool = False, json_out: bool = False,
            timeout: float | None = None, max_paths: int = 64, max_values: int = 8,
            deadline: float | None = None) -> int:
    """``neurarust verify path/model.py:Name``: explore every path, prove every obligation;
    exit 0 all proven, 1 refuted, 2 usage or input error, 3 unknown or timed out. In the
    worker, ``deadline`` (a ``time.monotonic()`` value) replaces ``timeout`` by the time left
    once the model is loaded, so the verifier stops with its own "unknown" report first."""
    import json

    from .verify import verify

    try:
        specs = _parse_inputs(inputs)
        model, config = _verify_target(target, specs)
        if not callable(model):
            raise ValueError(f"{target} is not a model or function")  # noqa: TRY004 (usage)
        timeout = _time_left(deadline, timeout)
        report = verify(model, specs, assumptions, ranges or None, config=config,
                        max_paths=max_paths, max_values=max_values, timeout=timeout,
                        exact=exact)
    except ValueError as err:
        print(f"neurarust verify: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), indent=2) if json_out else report)
    return report.exit_code


def _verify_vnnlib(target: str, prop_path: str | None, timeout: float,
                   split: str = "auto", *, deadline: float | None = None) -> int:
    """``neurarust verify net.onnx --vnnlib prop.vnnlib``: exit 0 holds, 1 violated (the
    counterexample is printed, checked by running the network), 2 usage error, 3 unknown.
    In the worker, ``deadline`` bounds branch and bound by the time left after loading."""
    import os

    from .verify.bab import onnxruntime_runner, verify_property
    from .verify.linear_bounds import UnsupportedGraph
    from .verify.vnnlib import VnnlibError, read_vnnlib

    if not target.endswith(".onnx") or prop_path is None:
        print("neurarust verify: error: --vnnlib needs an ONNX network (net.onnx --vnnlib "
              "prop.vnnlib)", file=sys.stderr)
        return 2
    # An embedded certificate is re-checked by `neurarust verify net.onnx` without --vnnlib;
    # this path answers the property alone.
    try:
        for path in (target, prop_path):
            if not os.path.isfile(path):
                raise ValueError(f"no such file: {path}")
        from .onnx import OnnxImportError, load

        try:
            model = load(target)
            import onnx

            proto = onnx.load(target, load_external_data=False)
        except OnnxImportError as err:
            raise ValueError(f"{target}: {err}") from None
        inits = {t.name for t in proto.graph.initializer}
        (inp,) = [i for i in proto.graph.input if i.name not in inits]
        shape = tuple(max(1, int(d.dim_value)) for d in inp.type.tensor_type.shape.dim)
        prop = read_vnnlib(prop_path)
        try:
            ort_run = onnxruntime_runner(target, shape)  # violations are re-checked there too
        except Exception as err:  # noqa: BLE001  (onnxruntime's own exception classes)
            raise ValueError(f"{target}: onnxruntime cannot load it: {err}") from None
        result = verify_property(model, shape, prop, timeout=_time_left(deadline, timeout),
                                 also=() if ort_run is None else (ort_run,), split=split)
    except (ValueError, VnnlibError, UnsupportedGraph, ImportError) as err:
        print(f"neurarust verify: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    print(f"{os.path.basename(target)} {os.path.basename(prop_path)}: {result}")
    return result.exit_code


def _time_left(deadline: float | None, timeout: _T) -> float | _T:
    """The seconds left until ``deadline`` (a ``time.monotonic()`` value), else ``timeout``."""
    if deadline is None:
        return timeout
    import time

    return max(0.0, deadline - time.monotonic())


if __name__ == "__main__":
    sys.exit(main())
