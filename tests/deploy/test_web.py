"""The browser demo (``deploy/web/``): the exported MNIST CNN run by onnxruntime-web in headless
Chromium gives the logits eager neurarust gives, within float32 tolerance.

The test exports the model with the demo's own script into a temp folder, serves
``deploy/web/`` on 127.0.0.1 (a free port, ``http.server`` in a thread) with ``/model/``
mapped to that folder, and opens ``index.html?report=/result`` in headless Chromium. The page
POSTs the text of its ``#result`` element when it has finished (or failed), so the test waits
for exactly that moment rather than for a fixed time. It skips, with the reason, where
Chromium or the npm-installed onnxruntime-web (``npm ci`` in ``deploy/web``) is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnx")

import neurarust as nr

WEB = Path(__file__).resolve().parents[2] / "deploy" / "web"
ORT_DIST = WEB / "node_modules" / "onnxruntime-web" / "dist"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-quic", "--no-default-browser-check",
                  "--disable-extensions", "--mute-audio")
PAGE_TIMEOUT_S = 120.0  # wasm compilation on a busy 2-core machine; a normal run takes ~2 s


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium not found (Debian: apt-get install -y chromium)")


def _require_onnxruntime_web() -> str:
    """The installed onnxruntime-web version; skip when `npm ci` has not been run."""
    meta = WEB / "node_modules" / "onnxruntime-web" / "package.json"
    if not (meta.is_file() and (ORT_DIST / "ort.wasm.min.mjs").is_file()):
        why = "npm not found" if shutil.which("npm") is None else "run `npm ci` in deploy/web"
        pytest.skip(f"onnxruntime-web is not installed in deploy/web/node_modules ({why})")
    installed = json.loads(meta.read_text())["version"]
    wanted = json.loads((WEB / "package.json").read_text())["dependencies"]["onnxruntime-web"]
    if installed != wanted:
        pytest.skip(f"deploy/web/node_modules has onnxruntime-web {installed}, package.json "
                    f"pins {wanted}: run `npm ci` in deploy/web")
    return str(installed)


def _export_demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("export_demo", WEB / "export_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _DemoHandler(SimpleHTTPRequestHandler):
    """Serves ``deploy/web`` read-only, ``/model/...`` from the test's folder, and takes the
    page's POST to ``/result``."""

    model_dir: Path
    results: list[bytes]
    served: list[str]
    done: threading.Event

    def do_GET(self) -> None:
        self.served.append(self.path)
        super().do_GET()

    def translate_path(self, path: str) -> str:
        route = path.split("?", 1)[0].split("#", 1)[0]
        if route.startswith("/model/"):
            name = route[len("/model/"):]
            if name in ("model.onnx", "digits.json"):
                return str(self.model_dir / name)
            return str(self.model_dir / "missing")
        return super().translate_path(path)

    def do_POST(self) -> None:  # http.server calls do_<METHOD>
        if self.path != "/result":
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length", "0"))
        self.results.append(self.rfile.read(min(length, 1 << 22)))
        self.send_response(204)
        self.end_headers()
        self.done.set()

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, type[_DemoHandler]]]:
    """A server for the page on a free 127.0.0.1 port; yields its URL and handler class."""
    handler = type("Handler", (_DemoHandler,), {
        "model_dir": tmp_path / "model", "results": [], "served": [], "done": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(WEB)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _open_page(chromium: str, url: str, profile: Path, log: Path,
               done: threading.Event) -> None:
    """Open ``url`` in headless Chromium until the page has reported back, then close it."""
    with open(log, "wb") as err:
        # A new session, so the browser and its helper processes are ended together.
        proc = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        try:
            reported = done.wait(PAGE_TIMEOUT_S)
            exited = proc.poll()
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(10)
                    break
                except subprocess.TimeoutExpired:
                    continue
    if not reported:
        tail = log.read_text(errors="replace")[-3000:]
        state = f"exited with {exited}" if exited is not None else "still running"
        pytest.fail(f"the demo page did not report within {PAGE_TIMEOUT_S:.0f} s "
                    f"(Chromium {state}); Chromium's log ends:\n{tail}")


def test_browser_logits_match_neurarust(tmp_path: Path,
                                        demo_server: tuple[str, type[_DemoHandler]]) -> None:
    chromium = _chromium()
    version = _require_onnxruntime_web()
    demo = _export_demo_module()
    try:
        images, labels = demo.demo_digits(10)
    except (ImportError, FileNotFoundError) as err:  # the examples extra carries the digits
        pytest.skip(f"MNIST5k digits unavailable: {err}")
    model = demo.load_model(None, seed=0)
    demo.write_demo(model, tmp_path / "model", images, labels)
    with nr.no_grad():  # the reference, computed here rather than read back from the file
        want = model(nr.tensor(images)).numpy().astype(np.float64)

    url, handler = demo_server
    _open_page(chromium, f"{url}/index.html?report=/result", tmp_path / "profile",
               tmp_path / "chromium.log", handler.done)
    result = json.loads(handler.results[0])
    assert result["status"] == "done", result.get("error")
    assert result["onnxruntime_web"] == version
    assert result["backend"] == "wasm"
    assert result["output_shape"] == [10, 10] and result["output_type"] == "float32"
    got = np.array(result["logits"], dtype=np.float64)
    diff = float(np.abs(got - want).max())
    print(f"browser vs neurarust: max abs logit difference {diff:.3g} over {got.size} logits")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # The symbolic batch dim at a second size: the first digit run on its own.
    np.testing.assert_allclose(result["first_digit_alone"], want[0], rtol=1e-4, atol=1e-5)
    assert result["predictions"] == want.argmax(axis=1).tolist()
    assert result["labels"] == labels.tolist()
    # The page's own comparison with the logits export_demo.py stored, as it shows it.
    assert result["max_abs_diff_vs_neurarust"] <= 1e-5
    # onnxruntime-web's WebAssembly binary came from this server.
    assert any(p.startswith("/node_modules/onnxruntime-web/dist/") and p.endswith(".wasm")
               for p in handler.served), handler.served


def test_page_reports_a_missing_model(tmp_path: Path,
                                      demo_server: tuple[str, type[_DemoHandler]]) -> None:
    """Without an exported model the page says so (and reports it) rather than hanging."""
    chromium = _chromium()
    _require_onnxruntime_web()
    url, handler = demo_server  # tmp_path / "model" is never written
    _open_page(chromium, f"{url}/index.html?report=/result", tmp_path / "profile",
               tmp_path / "chromium.log", handler.done)
    result = json.loads(handler.results[0])
    assert result["status"] == "error"
    assert "HTTP 404" in result["error"] and "export_demo.py" in result["error"], result
