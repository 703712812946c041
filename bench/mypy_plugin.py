"""The mypy plugin, measured: its time overhead, its mutation score, and Pyrefly side by side.

    python bench/mypy_plugin.py                  # everything (a few minutes on 2 cores)
    python bench/mypy_plugin.py --repeats 3      # fewer timing runs
    python bench/mypy_plugin.py --skip-timing --missed /tmp/missed.txt

1. **Overhead**: ``mypy`` on the neurarust corpus (``bench/mypy_corpus/nr_models``), with the
   plugin and without it (the same configuration minus the ``plugins`` line), each run in a
   fresh process with a fresh cache (so neurarust itself is analysed each time, as on a first
   run), the two interleaved, ``--repeats`` times; the median of each and the added percent.
2. **Mutation score**: every single-literal mutant of the corpus (``mypy_corpus.mutate``:
   sizes and axes, one step each), with its ground truth from running it eagerly
   (``mypy_corpus.ground_truth``); then one ``mypy`` run (plugin on) over all neurarust
   mutants and one ``pyrefly check`` over all PyTorch mutants, in temporary folders, with the
   errors attributed per file. A mutant is *flagged* when its file gets at least one error
   (notes, such as the plugin's ``[nr-undecided]``, are counted apart: they defer to
   ``neurarust verify``). False errors are errors on the originals and on benign mutants.
3. A side-by-side table, per model and in total, and the mutants the plugin misses.
4. Feature probes (``mypy_corpus/probes``): one construct per marked line, valid or not, in
   both syntaxes, and what each checker says on that line (error, note, or nothing).

Pyrefly (``pip install -e .[bench]``) runs with the PyTorch shape stubs found through
``python-interpreter-path`` in a ``pyrefly.toml`` written next to the mutants; without it the
Pyrefly column says "not installed".
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from mypy_corpus import ground_truth, mutate
from mypy_corpus.verify_mutants import ASSUMPTIONS, Verdict, verify

_MYPY_LINE: Final = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): (?P<kind>error|note): "
                               r"(?P<msg>.*)$")


def mypy_config(folder: Path, plugin: bool) -> Path:
    """The configuration the corpus is checked with (the plugin tests' own settings)."""
    path = folder / ("mypy-plugin.ini" if plugin else "mypy-plain.ini")
    path.write_text("[mypy]\n" + ("plugins = neurarust_mypy\n" if plugin else "")
                    + f"mypy_path = {ROOT}\nfollow_imports = silent\n"
                    "warn_unused_ignores = False\n")
    return path


class MypyCrash(RuntimeError):
    """mypy (or the plugin inside it) raised instead of reporting."""


def run_mypy(files: Sequence[Path], config: Path, cache: Path) -> str:
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir",
           str(cache), "--no-error-summary", "--hide-error-context", *map(str, files)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          check=False)
    if "Traceback" in done.stdout + done.stderr or done.returncode not in (0, 1):
        raise MypyCrash(f"mypy crashed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def pyrefly_executable() -> str | None:
    """The ``pyrefly`` binary next to this interpreter, or on PATH, if it and the shape stubs
    are installed."""
    try:
        import shape_extensions  # noqa: F401
    except ImportError:
        return None
    local = Path(sys.executable).with_name("pyrefly")
    return str(local) if local.exists() else shutil.which("pyrefly")


def run_pyrefly(exe: str, folder: Path, files: Sequence[Path]) -> list[dict[str, object]]:
    (folder / "pyrefly.toml").write_text(f'python-interpreter-path = "{sys.executable}"\n')
    done = subprocess.run([exe, "check", "--output-format", "json", "--summary=none",
                           *[f.name for f in files]], capture_output=True, text=True,
                          cwd=folder, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"pyrefly failed:\n{done.stdout}\n{done.stderr}")
    errors: list[dict[str, object]] = json.loads(done.stdout)["errors"]
    return errors


# -- 1. overhead ----------------------------------------------------------------------------


@dataclass
class Timings:
    """Seconds per run: wall clock, and CPU (user + system) of the mypy process, which load
    elsewhere on a shared machine disturbs less."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    # The same, re-checking after one corpus file was edited, with the cache of the run
    # before (what an editor's save costs).
    edit_wall: list[float] = field(default_factory=list)
    edit_cpu: list[float] = field(default_factory=list)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_mypy(repeats: int, work: Path) -> tuple[Timings, Timings]:
    folder = work / "mypy-timing"
    folder.mkdir()
    files = [Path(shutil.copy(f, folder)) for f in sorted(mutate_corpus_dir("nr").glob("*.py"))]
    edited = files[0]  # the first in name order, as main() reports it
    configs = {True: mypy_config(work, True), False: mypy_config(work, False)}
    times = {True: Timings(), False: Timings()}
    for i in range(repeats):
        for plugin in (False, True) if i % 2 == 0 else (True, False):
            cache = work / f"cache-{plugin}-{i}"
            start, cpu = time.perf_counter(), _children_cpu()
            out = run_mypy(files, configs[plugin], cache)
            times[plugin].wall.append(time.perf_counter() - start)
            times[plugin].cpu.append(_children_cpu() - cpu)
            if plugin and " error: " in out:
                raise RuntimeError(f"the corpus is not clean under the plugin:\n{out}")
            edited.write_text(edited.read_text() + f"# edit {i}\n")
            start, cpu = time.perf_counter(), _children_cpu()
            run_mypy(files, configs[plugin], cache)
            times[plugin].edit_wall.append(time.perf_counter() - start)
            times[plugin].edit_cpu.append(_children_cpu() - cpu)
            shutil.rmtree(cache, ignore_errors=True)
    return times[False], times[True]


def time_pyrefly(exe: str, repeats: int, work: Path) -> Timings:
    """Pyrefly on the PyTorch corpus, for scale (it keeps no cache between runs)."""
    folder = work / "pyrefly-timing"
    folder.mkdir()
    files = [Path(shutil.copy(f, folder)) for f in sorted(mutate_corpus_dir("torch").glob("*.py"))]
    times = Timings()
    for _ in range(repeats):
        start, cpu = time.perf_counter(), _children_cpu()
        run_pyrefly(exe, folder, files)
        times.wall.append(time.perf_counter() - start)
        times.cpu.append(_children_cpu() - cpu)
    return times


def mutate_corpus_dir(framework: ground_truth.Framework) -> Path:
    return ground_truth.CORPUS / ("nr_models" if framework == "nr" else "torch_models")


# -- 2. mutants ------------------------------------------------------------------------------


@dataclass
class Verdicts:
    """One tool's results on one version of the corpus."""

    flagged: set[str] = field(default_factory=set)  # file stems with >= 1 error
    noted: set[str] = field(default_factory=set)  # file stems with >= 1 note
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # per stem
    crashed: list[str] = field(default_factory=list)  # "stem: last line of the crash"
    messages: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, stem: str, is_error: bool, message: str) -> None:
        (self.flagged if is_error else self.noted).add(stem)
        self.errors[stem] += is_error
        self.messages[stem].append(message)


@dataclass(frozen=True)
class Case:
    """A mutant (or an original, ``mutant is None``) of one model in one framework."""

    stem: str  # its file name in the temporary folder
    spec: ground_truth.ModelSpec
    mutant: mutate.Mutant | None
    outcome: ground_truth.Outcome
    verified: Verdict | None = None  # neurarust verify's verdict (neurarust version only)


def write_cases(framework: ground_truth.Framework, folder: Path, with_verify: bool = False
                ) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for spec in ground_truth.MODELS:
        source = spec.source(framework)
        variants: list[tuple[str, mutate.Mutant | None, str]] = [
            (f"{spec.name}__orig", None, source)]
        variants += [(f"{spec.name}__m{i:03d}", m, m.source)
                     for i, m in enumerate(mutate.mutants(spec.name, source))]
        for stem, mutant, text in variants:
            (folder / f"{stem}.py").write_text(text)
            cases.append(Case(stem, spec, mutant, ground_truth.run(spec, text, framework),
                              verify(spec, text) if with_verify else None))
    return cases


def _mypy_batches(files: list[Path], config: Path, cache: Path, crashed: list[str]) -> str:
    """One mypy run over ``files``; if it crashes, halves until the crashing files are
    alone (each then recorded in ``crashed``), so one bad mutant costs only its own verdict."""
    try:
        return run_mypy(files, config, cache)
    except MypyCrash as crash:
        if len(files) == 1:
            crashed.append(f"{files[0].stem}: {str(crash).strip().splitlines()[-1]}")
            return ""
        half = len(files) // 2
        return (_mypy_batches(files[:half], config, cache, crashed)
                + _mypy_batches(files[half:], config, cache, crashed))


def mypy_verdicts(folder: Path, work: Path) -> Verdicts:
    files = sorted(folder.glob("*.py"))
    verdicts = Verdicts()
    out = _mypy_batches(files, mypy_config(work, True), work / "cache-mutants",
                        verdicts.crashed)
    for line in out.splitlines():
        m = _MYPY_LINE.match(line)
        if m:
            verdicts.add(Path(m["file"]).stem, m["kind"] == "error",
                         f"{m['line']}: {m['kind']}: {m['msg']}")
    return verdicts


def pyrefly_verdicts(exe: str, folder: Path) -> Verdicts:
    verdicts = Verdicts()
    for error in run_pyrefly(exe, folder, sorted(folder.glob("*.py"))):
        verdicts.add(Path(str(error["path"])).stem, error.get("severity") == "error",
                     f"{error['line']}: {error['severity']}: {error['concise_description']}"
                     f" [{error['name']}]")
    return verdicts


# -- 3. report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    mutants: int
    would_fail: int
    caught: int
    noted_missed: int  # would-fail mutants with no error but a note (left to the verifier)
    false_originals: int
    false_benign: int

    @property
    def rate(self) -> str:
        return f"{100 * self.caught / self.would_fail:.1f}%" if self.would_fail else "-"


def score(cases: Iterable[Case], verdicts: Verdicts) -> Score:
    cases = list(cases)
    muts = [c for c in cases if c.mutant is not None]
    failing = [c for c in muts if c.outcome.would_fail]
    return Score(
        mutants=len(muts), would_fail=len(failing),
        caught=sum(c.stem in verdicts.flagged for c in failing),
        noted_missed=sum(c.stem not in verdicts.flagged and c.stem in verdicts.noted
                         for c in failing),
        false_originals=sum(verdicts.errors[c.stem] for c in cases if c.mutant is None),
        false_benign=sum(c.stem in verdicts.flagged for c in muts if not c.outcome.would_fail),
    )


def table(nr_cases: list[Case], nr_v: Verdicts, torch_cases: list[Case] | None,
          torch_v: Verdicts | None) -> str:
    head = (f"{'model':<18} {'mutants':>7} {'fail':>5} | {'plugin':>6} {'rate':>6} {'FE orig':>7}"
            f" {'FE benign':>9} | {'pyrefly':>7} {'rate':>6} {'FE orig':>7} {'FE benign':>9}")
    lines = [head, "-" * len(head)]
    groups = [(spec.name, spec) for spec in ground_truth.MODELS] + [("total", None)]
    for label, spec in groups:
        mine = score((c for c in nr_cases if spec is None or c.spec is spec), nr_v)
        row = (f"{label:<18} {mine.mutants:>7} {mine.would_fail:>5} | {mine.caught:>6} "
               f"{mine.rate:>6} {mine.false_originals:>7} {mine.false_benign:>9} | ")
        if torch_cases is None or torch_v is None:
            row += "not installed"
        else:
            peer = score((c for c in torch_cases if spec is None or c.spec is spec), torch_v)
            fail_note = "" if peer.would_fail == mine.would_fail else f" (of {peer.would_fail})"
            row += (f"{peer.caught:>7} {peer.rate:>6} {peer.false_originals:>7} "
                    f"{peer.false_benign:>9}{fail_note}")
        lines.append(row)
    return "\n".join(lines)


def verify_table(cases: list[Case], verdicts: Verdicts) -> str:
    """neurarust verify on the same mutants, alone and together with the plugin."""
    head = (f"{'model':<18} {'fail':>5} {'raise':>5} | {'verify':>6} {'rate':>6} "
            f"{'refuted benign':>14} | {'plugin or verify':>16} {'rate':>6}")
    lines = [head, "-" * len(head)]
    for label, spec in [(s.name, s) for s in ground_truth.MODELS] + [("total", None)]:
        group = [c for c in cases if c.mutant is not None and (spec is None or c.spec is spec)]
        failing = [c for c in group if c.outcome.would_fail]
        raising = [c for c in failing if c.outcome.verdict == "fails"]
        refuted = sum(c.verified == "refuted" for c in failing)
        either = sum(c.verified == "refuted" or c.stem in verdicts.flagged for c in failing)
        benign = sum(c.verified == "refuted" for c in group if not c.outcome.would_fail)
        n = len(failing)
        lines.append(f"{label:<18} {n:>5} {len(raising):>5} | {refuted:>6} "
                     f"{_pct(refuted, n):>6} {benign:>14} | {either:>16} {_pct(either, n):>6}")
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def missed(cases: list[Case], verdicts: Verdicts, folder: str = "nr_models") -> list[str]:
    out = []
    for c in cases:
        if c.mutant is None or not c.outcome.would_fail or c.stem in verdicts.flagged:
            continue
        where = f"bench/mypy_corpus/{folder}/{c.spec.name}.py:{c.mutant.site.line}"
        note = " [noted: left to verify]" if c.stem in verdicts.noted else ""
        out.append(f"{where}: {c.mutant.description}{note}\n    runtime: {c.outcome.detail}")
    return out


def false_errors(cases: list[Case], verdicts: Verdicts, folder: str) -> list[str]:
    out = []
    for c in cases:
        if c.stem in verdicts.flagged and (c.mutant is None or not c.outcome.would_fail):
            what = "original" if c.mutant is None else c.mutant.description
            for message in verdicts.messages[c.stem]:
                out.append(f"bench/mypy_corpus/{folder}/{c.spec.name}.py ({what}): {message}")
    return out


_PROBE: Final = re.compile(r"# probe: (?P<id>\S+) (?P<valid>valid|invalid): (?P<what>.*)$")


def probe_lines(path: Path) -> dict[int, tuple[str, bool, str]]:
    """Line -> (probe id, is valid code, what it shows) for each marked line."""
    out = {}
    for n, text in enumerate(path.read_text().splitlines(), 1):
        m = _PROBE.search(text)
        if m:
            out[n] = (m["id"], m["valid"] == "valid", m["what"])
    return out


def probes(work: Path, exe: str | None) -> str:
    folder = ground_truth.CORPUS / "probes"
    said: dict[str, dict[str, str]] = defaultdict(dict)  # probe id -> tool -> verdict
    nr_file, torch_file = folder / "nr_probes.py", folder / "torch_probes.py"
    nr_lines, torch_lines = probe_lines(nr_file), probe_lines(torch_file)
    for line in run_mypy([nr_file], mypy_config(work, True), work / "cache-probes").splitlines():
        m = _MYPY_LINE.match(line)
        if m and int(m["line"]) in nr_lines:
            pid = nr_lines[int(m["line"])][0]
            said[pid]["plugin"] = "error" if m["kind"] == "error" else \
                said[pid].get("plugin", "note")
    if exe is not None:
        probe_copy = work / "probes"
        probe_copy.mkdir()
        shutil.copy(torch_file, probe_copy / torch_file.name)
        for error in run_pyrefly(exe, probe_copy, [probe_copy / torch_file.name]):
            if int(str(error["line"])) in torch_lines and error.get("severity") == "error":
                said[torch_lines[int(str(error["line"]))][0]]["pyrefly"] = "error"
    rows = [f"{'probe':<24} {'code':<8} {'plugin':<7} {'pyrefly':<13} what", "-" * 96]
    for pid, valid, what in nr_lines.values():
        peer = said[pid].get("pyrefly", "-") if exe is not None else "not installed"
        rows.append(f"{pid:<24} {'valid' if valid else 'invalid':<8} "
                    f"{said[pid].get('plugin', '-'):<7} {peer:<13} {what}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timing runs of each (median)")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--missed", type=Path, help="also write the plugin's misses here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--skip-verify", action="store_true",
                        help="do not run neurarust verify on the mutants")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="nr-mypy-bench-"))
    began = time.perf_counter()
    try:
        if not args.skip_timing:
            plain, plugin = time_mypy(args.repeats, work)
            edited_name = min(mutate_corpus_dir("nr").glob("*.py")).name
            print(f"mypy on the corpus ({len(list(mutate_corpus_dir('nr').glob('*.py')))} "
                  f"files, each run a fresh process and a fresh cache, median of "
                  f"{args.repeats}, runs interleaved):")
            for kind in ("wall", "cpu", "edit_wall", "edit_cpu"):
                a, b = (statistics.median(getattr(t, kind)) for t in (plain, plugin))
                runs = [", ".join(f"{x:.2f}" for x in getattr(t, kind)) for t in (plain, plugin)]
                if kind == "edit_wall":
                    print(f"  re-check after editing one file ({edited_name}) with the "
                          "cache of the fresh run:")
                target = "" if kind.startswith("edit_") else "   (target: <= 50%)"
                print(f"  {kind.removeprefix('edit_'):<4}  without plugin {a:6.2f} s  "
                      f"with plugin {b:6.2f} s  plugin adds {100 * (b - a) / a:+6.1f}%{target}")
                print(f"        runs without: {runs[0]}\n        runs with:    {runs[1]}")
            peer_exe = pyrefly_executable()
            if peer_exe is not None:
                peer = time_pyrefly(peer_exe, args.repeats, work)
                print(f"  for scale, pyrefly on the PyTorch corpus: wall "
                      f"{statistics.median(peer.wall):.2f} s, cpu "
                      f"{statistics.median(peer.cpu):.2f} s (median of {args.repeats})")
            print()

        start = time.perf_counter()
        nr_cases = write_cases("nr", work / "nr", with_verify=not args.skip_verify)
        nr_v = mypy_verdicts(work / "nr", work)
        exe = pyrefly_executable()
        torch_cases: list[Case] | None = None
        torch_v: Verdicts | None = None
        if exe is not None:
            torch_cases = write_cases("torch", work / "torch")
            torch_v = pyrefly_verdicts(exe, work / "torch")
        print(f"Mutants: one literal changed by one step (sizes and axes); ground truth by "
              f"running each eagerly at B={ground_truth.B}, T={ground_truth.T} "
              f"({time.perf_counter() - start:.0f} s)")
        print("fail = would fail at run time (raises, or returns a shape other than annotated);"
              " FE = false errors\n")
        print(table(nr_cases, nr_v, torch_cases, torch_v))
        if torch_cases is not None:
            differ = [c.stem for c, d in zip(nr_cases, torch_cases)
                      if c.outcome.would_fail != d.outcome.would_fail]
            print(f"\nground truth differs between neurarust and PyTorch on {len(differ)} "
                  f"mutants{': ' + ', '.join(differ) if differ else ''}")
        if not args.skip_verify:
            print(f"\nneurarust verify (z3 on the traced graph, assuming "
                  f"{', '.join(ASSUMPTIONS)}; it reads the rules, not the return annotation; "
                  "raise = fails by raising):")
            print(verify_table(nr_cases, nr_v))
        if nr_v.crashed:
            print(f"\nmypy CRASHED on {len(nr_v.crashed)} files (counted as not flagged):")
            print("\n".join(f"  {c}" for c in nr_v.crashed))
        mine = score(nr_cases, nr_v)
        print(f"plugin: {mine.noted_missed} of the missed would-fail mutants get an "
              "[nr-undecided] note (left to neurarust verify)")
        misses = missed(nr_cases, nr_v)
        print(f"\nMissed by the plugin ({len(misses)}):")
        print("\n".join(misses) if misses else "  none")
        if torch_cases is not None and torch_v is not None:
            peer_misses = missed(torch_cases, torch_v, "torch_models")
            print(f"\nMissed by Pyrefly ({len(peer_misses)}):")
            print("\n".join(m.splitlines()[0] for m in peer_misses) if peer_misses else "  none")
        fes = false_errors(nr_cases, nr_v, "nr_models")
        if torch_cases is not None and torch_v is not None:
            fes += false_errors(torch_cases, torch_v, "torch_models")
        print(f"\nFalse errors ({len(fes)}):")
        print("\n".join(fes) if fes else "  none")
        probe_table = probes(work, exe)
        print("\nFeature probes (an error on valid code is a false error; a note defers to "
              "neurarust verify):")
        print(probe_table)
        if args.missed is not None:
            args.missed.write_text(
                f"# bench/mypy_plugin.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:"
                f" would-fail mutants with no plugin error ({len(misses)})\n"
                + "\n".join(misses) + "\n\n# False errors\n" + "\n".join(fes)
                + "\n\n# Feature probes (bench/mypy_corpus/probes)\n" + probe_table + "\n")
        print(f"\n(bench took {time.perf_counter() - began:.0f} s)")
    finally:
        if args.keep:
            print(f"\n(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
