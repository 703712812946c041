"""Suite-wide switches.

``NEURARUST_DEVICE=cuda`` runs the whole suite on the cuda device (a GPU with pycuda, or the
emulator under ``NEURARUST_CUDA_EMULATE=1``): every test outside ``tests/cuda`` runs with
``nr.set_default_device("cuda")``, so the tensors and modules it creates without ``device=``
live on the device and each op it checks runs the cuda kernels (or their counted host
fallbacks), compared with the same numpy/PyTorch references as on the CPU. Tests compare
results through ``.numpy()`` and ``np.asarray``; in this mode only, ``NEURARUST_TEST_HOST_NUMPY=1``
makes those return a host *copy* of a device tensor instead of raising (as PyTorch does and
as neurarust does otherwise). ``tests/cuda`` picks its device itself and keeps the raising
behaviour.

Tests that are CPU-only by nature (numpy memory sharing, ONNX export/import, the mypy plugin,
verification traces, serialization layout, ...) carry ``@pytest.mark.cpu_only("why")`` or a
module-level ``pytestmark = pytest.mark.cpu_only("why")``; they are skipped in this mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CUDA_RUN = os.environ.get("NEURARUST_DEVICE", "") == "cuda"
_OWN_DEVICE = Path(__file__).parent / "cuda"  # these tests choose their device themselves


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cpu_only(reason): the test is about the CPU backend itself (numpy memory "
        "sharing, ONNX, mypy plugin, ...); skipped under NEURARUST_DEVICE=cuda")


# CPU-side by design (node id prefix -> why): whole areas, and tests in mixed files whose
# code path converts to numpy inside neurarust (those raise on a device, as intended).
_INTERVAL = "tests/types/test_interval.py::test_transfer_function_is_sound"
CPU_ONLY = {
    "tests/onnx/": "ONNX export/import: graphs and initializers are built from host arrays",
    "tests/verify/": "verification (traces, interval/linear bounds, LPs) reads host arrays",
    "tests/trace/": "tracing records constants as host arrays",
    "tests/ops/test_recurrent.py::test_traced_": "tracing records constants as host arrays",
    **{f"{_INTERVAL}[{op}]": "interval transfer functions evaluate this op on host arrays"
       for op in ("conv2d", "conv_transpose2d", "embedding", "gather", "index", "index_select",
                  "matmul", "nll_loss", "scatter", "scatter_add")},
    "tests/mypy_plugin/test_mutation_bench.py::test_ground_truth_comes_from_running":
        "the bench's ground truth runs its programs on the CPU",
    "tests/mypy_plugin/test_mutation_bench.py::test_verify_decides":
        "verification reads host arrays",
    "tests/data/test_collate.py::test_collate_stacks_into_a_contiguous_new_tensor":
        "collation stacks host (numpy) arrays",
    "tests/data/test_dataloader.py::test_workers_give_the_same_batches_as_the_main_process":
        "collation stacks host (numpy) arrays",
    "tests/data/test_dataloader.py::test_large_batches_come_through_shared_memory":
        "batches pass between processes in host shared memory",
    "tests/data/test_dataset.py::test_tensor_dataset_with_grad_keeps_the_graph":
        "collation stacks host (numpy) arrays",
    "tests/examples/test_mnist_job.py": "the example job has no device option: host batches",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not CUDA_RUN:
        return
    for item in items:
        marker = item.get_closest_marker("cpu_only")
        why = None
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        else:
            why = next((r for prefix, r in CPU_ONLY.items()
                        if item.nodeid.startswith(prefix)), None)
        if why is not None:
            item.add_marker(pytest.mark.skip(reason=f"cpu only under NEURARUST_DEVICE=cuda: {why}"))


if CUDA_RUN:  # defined only then: the CPU run has no per-test fixture to pay for

    @pytest.fixture(autouse=True)
    def _cuda_default_device(request: pytest.FixtureRequest,
                             monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        """The cuda default device (and host copies for ``.numpy()``) around each test."""
        if _OWN_DEVICE in Path(str(request.node.path)).parents:
            yield
            return
        import neurarust as nr
        from neurarust.tensor import HOST_NUMPY_ENV

        monkeypatch.setenv(HOST_NUMPY_ENV, "1")
        previous = nr.get_default_device()
        nr.set_default_device("cuda")
        try:
            yield
        finally:
            nr.set_default_device(previous)
