"""Type-check every case file with the plugin (one mypy run) and diff the diagnostics against
the ``# E: ...`` / ``# N: ...`` comments on the lines that must produce them. A case file
with no such comments must type-check clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((Path(__file__).parent / "cases").glob("*.py"))
_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<kind>error|note): (?P<msg>.*)$")


def _expected(path: Path) -> set[tuple[str, int, str]]:
    out = set()
    for n, text in enumerate(path.read_text().splitlines(), 1):
        for kind, msg in re.findall(r"# ([EN]): (.*?)(?=\s+# [EN]: |$)", text):
            out.add((path.name, n, f"{'error' if kind == 'E' else 'note'}: {msg.strip()}"))
    return out


@pytest.fixture(scope="module")
def diagnostics(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, int, str]]:
    tmp = tmp_path_factory.mktemp("mypy")
    config = tmp / "mypy.ini"
    config.write_text(f"[mypy]\nplugins = neurarust_mypy\nmypy_path = {ROOT}\n"
                      "follow_imports = silent\nwarn_unused_ignores = False\n")
    stdout, stderr, _ = api.run(["--config-file", str(config), "--cache-dir",
                                 str(tmp_path_factory.getbasetemp() / "mypy-cache"), *map(str, CASES)])
    assert "Traceback" not in stdout + stderr, stdout + stderr
    found = set()
    for line in stdout.splitlines():
        m = _LINE.match(line)
        if m and Path(m["file"]).parent.name == "cases":
            found.add((Path(m["file"]).name, int(m["line"]),
                       f"{m['kind']}: {m['msg'].strip()}"))
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case(case: Path, diagnostics: set[tuple[str, int, str]]) -> None:
    got = {d for d in diagnostics if d[0] == case.name}
    want = _expected(case)
    missing = sorted(want - got)
    unexpected = sorted(got - want)
    assert not missing and not unexpected, (
        "missing:\n  " + "\n  ".join(map(str, missing)) +
        "\nunexpected:\n  " + "\n  ".join(map(str, unexpected)))
