"""Fuzz campaign against certificate re-checking (``neurarust verify net.onnx``).

Certified base models (a Linear, an MLP, a broadcast with a shape obligation, a model that
traces only at concrete sizes; some signed) are mutated the ways a forger or a broken tool
would: deleted fields, changed types, widened ranges, edited specs and assumptions
(contradictory ones too), huge numbers and strings, deep nesting, random JSON, bit flips in the
text, narrowed output bounds, removed obligations, weights changed and the hash recomputed,
graph inputs edited to match a forged spec, swapped and corrupted signatures. Each mutant goes
through :func:`neurarust.verify.recheck.check_certificate` and is counted:

- accepted (HOLDS, exit 0): then **attacked independently**: the recorded input specs are
  compared with the ONNX graph's declared inputs by this script's own reading, and
  onnxruntime runs the file on inputs inside the recorded ranges (the box corners, mixed
  corners, random points) at sizes the recorded assumptions allow; any output that is
  non-finite or outside the recorded bounds is a **forged certificate accepted**;
- refuted (exit 1), not re-proven (exit 3), rejected as malformed / badly signed (exit 2,
  ``CertificateError``);
- crashes: any other exception (a failure of the checker);
- hangs: a case past the 30 s cap (SIGALRM).

    python bench/fuzz_certificates.py --cases 2000 --seed 0

The test ``tests/verify/test_fuzz_certificates.py`` runs a seeded miniature.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

import neurarust as nr
from neurarust import nn
from neurarust.verify.certificate import CERT_KEY, export_certified, model_hash
from neurarust.verify.certificate_schema import CertificateError, canonical_json
from neurarust.verify.recheck import check_certificate
from neurarust.verify.signing import SIGNATURE_KEY, keygen, load_public_key

CAP_SECONDS = 30


# -- base models ------------------------------------------------------------------------------
class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 3)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.b(self.a(x).relu())


class Broadcast(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: nr.Tensor, y: nr.Tensor) -> nr.Tensor:
        return self.fc(x + y)


class Positions(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Embedding(8, 4)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return x + self.pos(nr.arange(x.shape[1]))


@dataclass
class Base:
    name: str
    proto: onnx.ModelProto
    signed: bool


def make_bases(tmp: str) -> tuple[list[Base], list[bytes], str, str]:
    """The certified base models, two signing keys (paths) and the trusted public key."""
    key, other = os.path.join(tmp, "key.pem"), os.path.join(tmp, "other.pem")
    keygen(key)
    keygen(other)
    trusted = [load_public_key(os.path.join(tmp, "key.pub.pem"))]
    nr.manual_seed(0)
    bases = []
    for name, model, specs, assume, ranges, sign in [
        ("linear", nn.Linear(8, 4), {"x": "f32[B, 8]"}, ["B <= 64"], {"x": (-1.0, 1.0)}, None),
        ("linear-signed", nn.Linear(8, 4), {"x": "f32[B, 8]"}, ["B <= 64"], {"x": (-1.0, 1.0)},
         key),
        ("mlp", Mlp(), {"x": "f32[B, 8]"}, ["1 <= B <= 4096"], {"x": (0.0, 1.0)}, None),
        ("broadcast", Broadcast(), {"x": "f32[B, 8]", "y": "f32[B, T]"}, ["T == 8"],
         {"x": (-1.0, 1.0), "y": (0.0, 2.0)}, key),
        ("positions", Positions(), {"x": "f32[B, T, 4]"}, ["B <= 2", "T <= 3"],
         {"x": (-1.0, 1.0)}, None),
    ]:
        graph = nr.trace(model, specs)
        proto, _ = export_certified(graph, None, assume, ranges, sign_key=sign)
        bases.append(Base(name, proto, sign is not None))
    return bases, trusted, key, other


# -- mutations --------------------------------------------------------------------------------
def _cert(proto: onnx.ModelProto) -> dict[str, Any]:
    return dict(json.loads(next(p.value for p in proto.metadata_props if p.key == CERT_KEY)))


def _set_meta(proto: onnx.ModelProto, key: str, value: str | None) -> None:
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key != key]
    del proto.metadata_props[:]
    for k, v in keep + ([] if value is None else [(key, value)]):
        e = proto.metadata_props.add()
        e.key, e.value = k, v


def _paths(d: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a node of the JSON tree (bounded: lists contribute 3 items at most)."""
    yield prefix
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d[:3]):
            yield from _paths(v, (*prefix, i))


def _get(d: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        d = d[p]
    return d


def _put(d: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(d, path[:-1])[path[-1]] = value


ODD_VALUES: list[Any] = [None, True, 0, -1, 1.5, 1e308, -1e39, 10**400, "", "x", "B**1000000000",
                         [], {}, [1, 2], {"a": 1}, "f32[B, 8]", "9" * 5000, 2**63]


def m_delete(d: dict[str, Any], r: random.Random) -> None:
    path = r.choice([p for p in _paths(d) if p])
    del _get(d, path[:-1])[path[-1]]


def m_type(d: dict[str, Any], r: random.Random) -> None:
    path = r.choice([p for p in _paths(d) if p])
    _put(d, path, copy.deepcopy(r.choice(ODD_VALUES)))


def m_widen(d: dict[str, Any], r: random.Random) -> None:
    for v in d.get("input_ranges", {}).values():
        f = r.choice([1.01, 2.0, 10.0, 1e3, 1e6, 1e30])
        v[0], v[1] = v[0] * f - r.random(), v[1] * f + r.random()


def m_spec(d: dict[str, Any], r: random.Random) -> None:
    group = r.choice(["inputs", "outputs"])
    name = r.choice(list(d[group]))
    spec = d[group][name]
    head, body = spec.split("[", 1)
    dims = [x.strip() for x in body[:-1].split(",")]
    edit = r.randrange(6)
    if edit == 0:
        head = r.choice(["i64", "f16", "f64", "bool", "i32", "u8"])
    elif edit == 1 and dims:
        i = r.randrange(len(dims))
        dims[i] = r.choice(["9", "7", "C", "2*B", "B**2", "B+1", "1", "0", "T", "B//2"])
    elif edit == 2:
        dims.append(r.choice(["1", "8", "B"]))
    elif edit == 3 and dims:
        dims.pop(r.randrange(len(dims)))
    elif edit == 4:
        d[group][name + "_"] = d[group].pop(name)
        return
    else:
        dims = list(reversed(dims))
    d[group][name] = f"{head}[{', '.join(dims)}]"


ASSUMPTIONS = ["B >= 100", "B <= 4", "B >= 600", "1 <= B <= 0", "T >= 600 and T <= 4",
               "B*B == 7", "B % 2 == 1", "T == 9", "T >= 1", "B <= 10**12", "B == 3",
               "B >= 5000", "not B >= 1", "T == 8 or T == 9", "min(B, T) >= 2", "B <= T"]


def m_assume(d: dict[str, Any], r: random.Random) -> None:
    a = d.setdefault("assumptions", [])
    edit = r.randrange(4)
    if edit == 0 and a:
        a.pop(r.randrange(len(a)))
    elif edit == 1:
        a[:] = [r.choice(ASSUMPTIONS)]
    else:
        a.extend(r.sample(ASSUMPTIONS, r.randint(1, 2)))
    if r.random() < 0.3:
        d["min_size"] = r.choice([0, 2, 1000, 2**20])


def m_bounds(d: dict[str, Any], r: random.Random) -> None:
    """A tighter (forged) or reshaped claim on the outputs."""
    num = d.get("numeric")
    if not isinstance(num, dict):
        return m_type(d, r)
    for b in num["outputs"].values():
        lo, hi = np.asarray(b["lo"]), np.asarray(b["hi"])
        edit = r.randrange(5)
        if edit == 0:
            mid = (lo + hi) / 2
            f = r.choice([0.0, 0.5, 0.9, 0.999])
            lo, hi = mid - (mid - lo) * f, mid + (hi - mid) * f
        elif edit == 1:
            lo, hi = lo + r.uniform(0.01, 1), hi + r.uniform(0.01, 1)
        elif edit == 2:
            lo, hi = hi, lo
        elif edit == 3:
            lo, hi = lo.reshape(-1)[:1], hi.reshape(-1)[:1]
        else:
            lo, hi = lo[..., None], hi[..., None]
        b["lo"], b["hi"] = lo.tolist(), hi.tolist()
    return None


def m_huge(d: dict[str, Any], r: random.Random) -> None:
    path = r.choice([p for p in _paths(d) if p])
    _put(d, path, r.choice([10**r.randint(20, 4000), 1.7e308, -1.7e308, 2**64,
                            "x" * r.choice([10**3, 10**5, 10**6]),
                            "B" + "*B" * r.choice([100, 10**4]), "(" * 500 + "B" + ")" * 500]))


@dataclass
class _Nest:
    """A value wrapped in ``depth`` lists, written by :func:`_dumps` (json.dumps cannot)."""

    depth: int
    value: Any


def m_nest(d: dict[str, Any], r: random.Random) -> None:
    """Wrap a field in 2 to 100,000 lists."""
    path = r.choice([p for p in _paths(d) if p])
    _put(d, path, _Nest(r.choice([2, 20, 200, 5000, 100_000]), _get(d, path)))


def _dumps(d: Any) -> str:
    """json.dumps, with the deep nestings of :func:`m_nest` expanded."""
    if isinstance(d, _Nest):
        return "[" * d.depth + _dumps(d.value) + "]" * d.depth
    if isinstance(d, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dumps(v)}" for k, v in d.items()) + "}"
    if isinstance(d, list):
        return "[" + ", ".join(_dumps(v) for v in d) + "]"
    return json.dumps(d)


def m_obligations(d: dict[str, Any], r: random.Random) -> None:
    d["shape_facts"] = []
    d["assumptions"] = r.choice([[], ["T >= 1"], ["B <= 64"], ["T == 4"]])


MUTATORS: dict[str, Callable[[dict[str, Any], random.Random], Any]] = {
    "delete": m_delete, "type": m_type, "widen": m_widen, "spec": m_spec, "assume": m_assume,
    "bounds": m_bounds, "huge": m_huge, "nest": m_nest, "obligations": m_obligations,
}


def _flip_weight(proto: onnx.ModelProto, r: random.Random) -> None:
    init = r.choice(list(proto.graph.initializer))
    arr = onnx.numpy_helper.to_array(init).copy()
    if arr.dtype != np.float32 or not arr.size:
        return
    i = r.randrange(arr.size)
    arr.view(np.uint32).reshape(-1)[i] ^= np.uint32(1 << r.randrange(32))
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))


def _graph_input_edit(proto: onnx.ModelProto, d: dict[str, Any], r: random.Random) -> None:
    """Edit the graph's declared input to match a forged spec (the file then lies too)."""
    vi = proto.graph.input[0]
    dims = vi.type.tensor_type.shape.dim
    dims[len(dims) - 1].dim_value = 9
    d["inputs"][vi.name] = d["inputs"][vi.name].rsplit(",", 1)[0] + ", 9]"


def _apply(mutator: Callable[[dict[str, Any], random.Random], Any], d: dict[str, Any],
           r: random.Random) -> None:
    """Apply a mutation; one that finds nothing to edit (an earlier mutation removed it, a
    number too large to scale) leaves the certificate as it is."""
    try:
        mutator(d, r)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError):
        pass


def mutate(base: Base, bases: list[Base], r: random.Random, key: str,
           other: str) -> tuple[str, onnx.ModelProto]:
    """One mutant of ``base``: (the kind of mutation, the mutated model)."""
    from neurarust.verify.signing import sign

    proto = onnx.ModelProto()
    proto.CopyFrom(base.proto)
    d = _cert(proto)
    kind = r.choice([*MUTATORS, "rehash-weights", "graph-input", "random-json", "text-flip",
                     "signature", "multi"])
    text: str | None = None
    if kind in MUTATORS:
        _apply(MUTATORS[kind], d, r)
    elif kind == "multi":
        for _ in range(r.randint(2, 4)):
            _apply(MUTATORS[r.choice(list(MUTATORS))], d, r)
    elif kind == "rehash-weights":
        for _ in range(r.randint(1, 3)):
            _flip_weight(proto, r)
    elif kind == "graph-input":
        _graph_input_edit(proto, d, r)
    elif kind == "random-json":
        text = r.choice([json.dumps(_random_json(r, 4)), "".join(
            chr(r.randrange(32, 127)) for _ in range(r.randint(0, 200))), "null", "[]", "{}",
            '{"schema": 2}', "NaN", "[" * 3000])
    elif kind == "text-flip":
        raw = bytearray(_dumps(d).encode())
        for _ in range(r.randint(1, 4)):
            raw[r.randrange(len(raw))] = r.randrange(32, 127)
        text = raw.decode("ascii", "replace")
    if kind != "random-json" and text is None:
        text = _dumps(d)
    if "hash" in d and isinstance(d.get("hash"), str) and kind in ("rehash-weights",
                                                                   "graph-input", "multi"):
        d["hash"] = model_hash(proto)
        text = _dumps(d)
    assert text is not None
    _set_meta(proto, CERT_KEY, text)
    resign = base.signed and kind != "signature" and r.random() < 0.5
    if kind == "signature" or resign or (base.signed and r.random() < 0.3):
        edit = 3 if resign else r.randrange(4)
        donor = r.choice([b for b in bases if b.signed])
        if edit == 0:  # a valid signature from another model
            sig = next(p.value for p in donor.proto.metadata_props if p.key == SIGNATURE_KEY)
        elif edit == 1:  # signed by another (untrusted) key
            sig = sign(_canonical(text), model_hash(proto), other).to_json()
        elif edit == 2:  # corrupted
            s = json.loads(next((p.value for p in base.proto.metadata_props
                                 if p.key == SIGNATURE_KEY), "{}") or "{}") or {
                "algorithm": "ed25519", "public_key": "", "signature": ""}
            s[r.choice(list(s))] = r.choice(["", "AAAA", 5, None, "x" * 100])
            sig = json.dumps(s)
        else:  # re-signed by the trusted key (a forger holding the key: must be re-proven)
            sig = sign(_canonical(text), model_hash(proto), key).to_json()
        _set_meta(proto, SIGNATURE_KEY, sig)
        kind = f"{kind}+sig{edit}"
    return kind, proto


def _canonical(text: str) -> str:
    """What a signer signs: the canonical form of the JSON (the text itself if it has none)."""
    try:
        return canonical_json(json.loads(text))
    except (ValueError, RecursionError):
        return text


def _random_json(r: random.Random, depth: int) -> Any:
    c = r.randrange(7 if depth > 0 else 4)
    if c == 0:
        return r.choice([None, True, False])
    if c == 1:
        return r.randint(-10**6, 10**6)
    if c == 2:
        return r.uniform(-1e9, 1e9)
    if c == 3:
        return "".join(r.choice("abcB[]*, 0f32") for _ in range(r.randint(0, 12)))
    if c in (4, 5):
        return {r.choice(["schema", "inputs", "hash", "numeric", "x"]): _random_json(r, depth - 1)
                for _ in range(r.randint(0, 4))}
    return [_random_json(r, depth - 1) for _ in range(r.randint(0, 4))]


# -- the independent attack on an accepted certificate ----------------------------------------
_ELEM = {"f32": onnx.TensorProto.FLOAT, "f64": onnx.TensorProto.DOUBLE,
         "i64": onnx.TensorProto.INT64, "i32": onnx.TensorProto.INT32,
         "f16": onnx.TensorProto.FLOAT16}


def _eval(expr: str, sizes: dict[str, int]) -> Any:
    tree = ast.parse(expr.strip(), mode="eval")
    return eval(compile(tree, "<dim>", "eval"),
                {"__builtins__": {}, "min": min, "max": max}, dict(sizes))


def attack(proto: onnx.ModelProto, trusted: bool) -> str | None:
    """Why an accepted certificate is false (None: nothing found)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    d = _cert(proto)
    declared = {vi.name: vi for vi in proto.graph.input}
    symbols: set[str] = set()
    for name, spec in d["inputs"].items():
        head, body = spec.split("[", 1)
        dims = [x.strip() for x in body[:-1].split(",")] if body[:-1].strip() else []
        vi = declared.get(name)
        if vi is None or vi.type.tensor_type.elem_type != _ELEM.get(head):
            return f"input {name}: recorded {spec}, the graph declares something else"
        gd = vi.type.tensor_type.shape.dim
        if len(gd) != len(dims):
            return f"input {name}: recorded rank {len(dims)}, the graph declares {len(gd)}"
        for x in [*dims, *(g.dim_param for g in gd if g.dim_param)]:
            symbols |= {n.id for n in ast.walk(ast.parse(x.strip(), mode="eval"))
                        if isinstance(n, ast.Name)}
    for a in d["assumptions"]:
        symbols |= {n.id for n in ast.walk(ast.parse(a.strip(), mode="eval"))
                    if isinstance(n, ast.Name)}
    symbols -= {"min", "max"}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    tried = 0
    for values in ([1, 2, 3, 8], [4, 5, 7, 64]):
        for combo in _combos(sorted(symbols), values):
            if combo["__min"] < d["min_size"] or not all(
                    _eval(a, combo) for a in d["assumptions"]):
                continue
            tried += 1
            for name, spec in d["inputs"].items():
                body = spec.split("[", 1)[1][:-1]
                rec = [_eval(x, combo) for x in body.split(",")] if body.strip() else []
                got = [_eval(g.dim_param, combo) if g.dim_param else g.dim_value
                       for g in declared[name].type.tensor_type.shape.dim]
                if rec != got:
                    return f"input {name}: recorded dims {rec}, the graph declares {got} at {combo}"
            for k in range(12):
                feed = {}
                for name, spec in d["inputs"].items():
                    body = spec.split("[", 1)[1][:-1]
                    shape = tuple(_eval(x, combo) for x in body.split(",")) if body.strip() \
                        else ()
                    lo, hi = d["input_ranges"].get(name, (-1.0, 1.0))
                    x = (np.full(shape, lo) if k == 0 else np.full(shape, hi) if k == 1 else
                         np.where(rng.random(shape) < 0.5, lo, hi) if k < 6 else
                         rng.uniform(lo, hi, shape))
                    x32 = x.astype(np.float32)
                    x32 = np.clip(x32, np.float32(lo) if np.float32(lo) >= lo else
                                  np.nextafter(np.float32(lo), np.float32(np.inf)),
                                  np.float32(hi) if np.float32(hi) <= hi else
                                  np.nextafter(np.float32(hi), np.float32(-np.inf)))
                    feed[name] = x32
                outs = sess.run(None, feed)
                if d["numeric"] is None:
                    continue
                for (oname, b), y in zip(d["numeric"]["outputs"].items(), outs):
                    y = np.asarray(y, dtype=np.float64)
                    if not np.all(np.isfinite(y)):
                        return f"non-finite output {oname} at sizes {combo}"
                    lo_b = np.broadcast_to(np.asarray(b["lo"]), y.shape)
                    hi_b = np.broadcast_to(np.asarray(b["hi"]), y.shape)
                    if np.any(y < lo_b) or np.any(y > hi_b):
                        return f"output {oname} outside the recorded bounds at sizes {combo}"
    if tried == 0 and symbols:
        return None  # no small size satisfies the assumptions: nothing to run
    return None


def _combos(symbols: list[str], values: list[int]) -> Iterator[dict[str, int]]:
    if not symbols:
        yield {"__min": 10**9}
        return
    for v in values:
        for rest in _combos(symbols[1:], values):
            out = {symbols[0]: v, **rest}
            out["__min"] = min(v, rest["__min"])
            yield out


# -- the campaign -----------------------------------------------------------------------------
class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


@dataclass
class Tally:
    verdicts: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    forged: list[str] = field(default_factory=list)
    hangs: int = 0
    seconds: list[float] = field(default_factory=list)


def run(cases: int, seed: int, *, verbose: bool = False) -> Tally:
    r = random.Random(seed)
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        bases, trusted, key, other = make_bases(tmp)
        signal.signal(signal.SIGALRM, _alarm)
        for i in range(cases):
            base = r.choice(bases)
            kind, proto = mutate(base, bases, r, key, other)
            use_trust = base.signed and r.random() < 0.5
            tally.kinds[kind.split("+")[0]] += 1
            t0 = time.perf_counter()
            why2 = ""
            signal.alarm(CAP_SECONDS)
            try:
                result = check_certificate(proto, trusted if use_trust else ())
                verdict = {0: "accepted (HOLDS, exit 0)", 1: "refuted (exit 1)",
                           3: "not re-proven (exit 3)"}[result.exit_code]
                why2 = "; ".join(result.problems)[:300]
            except CertificateError as err:
                verdict = "rejected: malformed or signature (exit 2)"
                why2 = str(err)[:150]
            except _Timeout:
                verdict = "hang (> 30 s)"
                tally.hangs += 1
            except Exception:  # noqa: BLE001 -- counted: any other exception is a failure
                verdict = "CRASH"
                tally.crashes.append(f"case {i} ({base.name}, {kind}): "
                                     + traceback.format_exc(limit=3).strip().splitlines()[-1])
            finally:
                signal.alarm(0)
            tally.seconds.append(time.perf_counter() - t0)
            tally.verdicts[verdict] += 1
            if verdict.startswith("accepted"):
                why = attack(proto, use_trust)
                if why is not None:
                    tally.forged.append(f"case {i} ({base.name}, {kind}): {why}")
            if verbose:
                print(f"{i:5d} {base.name:14s} {kind:22s} {verdict} {why2}", flush=True)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    tally = run(args.cases, args.seed, verbose=args.verbose)
    s = np.asarray(tally.seconds)
    print(f"fuzz_certificates: {args.cases} mutated certificates (seed {args.seed}) in "
          f"{time.perf_counter() - t0:.0f} s")
    print("mutations: " + ", ".join(f"{k} {n}" for k, n in sorted(tally.kinds.items())))
    for verdict, n in sorted(tally.verdicts.items()):
        print(f"  {verdict:45s} {n:6d}")
    print(f"  crashes (other exceptions)                    {len(tally.crashes):6d}")
    print(f"  hangs past {CAP_SECONDS} s                               {tally.hangs:6d}")
    print(f"  forged certificates accepted                  {len(tally.forged):6d}")
    print(f"time per case: median {np.median(s) * 1e3:.0f} ms, p99 {np.quantile(s, 0.99):.2f} s, "
          f"max {s.max():.2f} s")
    for line in tally.crashes[:20] + tally.forged[:20]:
        print("  " + line)
    return 1 if tally.crashes or tally.forged or tally.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
