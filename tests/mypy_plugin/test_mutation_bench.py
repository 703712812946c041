"""Invariants of the mutation benchmark of the mypy plugin (``bench/mypy_plugin.py``): the
mutants differ from their model in exactly one literal, the neurarust and PyTorch versions
offer the same mutation sites, the ground truth comes from running the models, and the
corpus originals type-check without errors under the plugin. (The catch rate itself is a
benchmark figure, not a test.)"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from mypy_corpus import ground_truth, mutate

SPECS = {spec.name: spec for spec in ground_truth.MODELS}


def _normalised(tree: ast.AST) -> list[str]:
    """The tree's nodes in walk order, with ``-n`` folded into the constant ``-n``."""
    class Fold(ast.NodeTransformer):
        def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
            if (isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
                    and type(node.operand.value) is int):
                return ast.Constant(-node.operand.value)
            return self.generic_visit(node)

    folded = Fold().visit(tree)
    return [ast.dump(n, include_attributes=False) if isinstance(n, ast.Constant)
            else type(n).__name__ for n in ast.walk(folded)]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_mutant_changes_exactly_one_literal(name: str) -> None:
    source = SPECS[name].source("nr")
    before = _normalised(ast.parse(source))
    found = mutate.mutants(name, source)
    assert found, f"{name}: no mutation sites"
    for m in found:
        after = _normalised(ast.parse(m.source))
        assert len(after) == len(before), m.description
        changed = [(a, b) for a, b in zip(before, after) if a != b]
        assert len(changed) == 1, (m.description, changed)
        assert str(m.site.value) in changed[0][0] and str(m.new_value) in changed[0][1]
        # Only the literal's line changes, so diagnostics keep their line numbers.
        diff = [i for i, (a, b) in enumerate(zip(source.splitlines(), m.source.splitlines()))
                if a != b]
        assert diff == [m.site.line - 1], m.description
    assert len({m.key for m in found}) == len(found), "a mutant is generated twice"


def test_sizes_stay_valid_and_the_corpus_has_enough_mutants() -> None:
    total = 0
    for spec in ground_truth.MODELS:
        for m in mutate.mutants(spec.name, spec.source("nr")):
            total += 1
            if m.site.kind == "size":
                assert m.new_value >= (0 if m.site.zero_ok else 1), m.description
    assert total >= 100


@pytest.mark.parametrize("name", sorted(SPECS))
def test_both_versions_offer_the_same_sites(name: str) -> None:
    nr_sites = mutate.find_sites(SPECS[name].source("nr"))
    torch_sites = mutate.find_sites(SPECS[name].source("torch"))
    assert [(s.key, s.kind, s.value) for s in nr_sites] == \
        [(s.key, s.kind, s.value) for s in torch_sites]


def _mutant(name: str, key: str, new_value: int, framework: ground_truth.Framework
            ) -> mutate.Mutant:
    spec = SPECS[name]
    (found,) = [m for m in mutate.mutants(name, spec.source(framework))
                if m.site.key == key and m.new_value == new_value]
    return found


# (model, site, new value, verdict): a layer width that breaks the next layer, an output width
# that runs but breaks the annotated return shape, and a kernel size the rest absorbs
# (28 + 2 - 2 + 1 = 29 pools to 14 as 28 does).
KNOWN = [
    ("mlp", "MLP.__init__ Linear#0 arg1", 257, "fails"),
    ("mlp", "MLP.__init__ Linear#2 arg1", 11, "wrong-shape"),
    ("cnn", "CNN.__init__ Conv2d#0 arg2", 2, "benign"),
    ("transformer_block", "EncoderBlock.forward permute#0 arg0", 3, "fails"),
]


@pytest.mark.parametrize("framework", ["nr", "torch"])
def test_ground_truth_comes_from_running(framework: ground_truth.Framework) -> None:
    if framework == "torch":
        pytest.importorskip("torch")
    for spec in ground_truth.MODELS:
        outcome = ground_truth.run(spec, spec.source(framework), framework)
        assert outcome.verdict == "benign", (spec.name, outcome)
    for name, key, value, verdict in KNOWN:
        outcome = ground_truth.run(SPECS[name], _mutant(name, key, value, framework).source,
                                   framework)
        assert outcome.verdict == verdict, (name, key, value, outcome)
    failing = ground_truth.run(SPECS["mlp"], _mutant("mlp", *KNOWN[0][1:3], framework).source,
                               framework)
    assert "256" in failing.detail and "257" in failing.detail, failing.detail


def test_originals_have_no_errors_under_the_plugin(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nplugins = neurarust_mypy\nmypy_path = {ROOT}\n"
                      "follow_imports = silent\nwarn_unused_ignores = False\n")
    files = [str(ground_truth.CORPUS / "nr_models" / f"{s.name}.py") for s in ground_truth.MODELS]
    stdout, stderr, _ = api.run(["--config-file", str(config), "--cache-dir",
                                 str(tmp_path / "cache"), *files])
    assert "Traceback" not in stdout + stderr, stdout + stderr
    errors = [line for line in stdout.splitlines() if ": error: " in line]
    assert not errors, "\n".join(errors)


def test_verify_decides_what_the_plugin_leaves_as_a_note() -> None:
    from mypy_corpus.verify_mutants import verify

    spec = SPECS["transformer_block"]
    assert verify(spec, spec.source("nr")) == "proven"
    # reshape(x.shape[1], x.shape[1], ...) needs 192*B*T == 192*T**2: true only when B == T.
    swapped = _mutant("transformer_block", "EncoderBlock.forward shape[]#0", 1, "nr")
    assert ground_truth.run(spec, swapped.source, "nr").verdict == "fails"
    assert verify(spec, swapped.source) == "refuted"
