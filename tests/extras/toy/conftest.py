"""Shared helpers of the toy tests: closed-form meta-gradients on quadratic tasks, and a
headless-Chromium driver over the DevTools protocol for the explorer page's browser test.

No Playwright or Selenium: Chromium is started with ``--remote-debugging-port=0``, the port is
read from the ``DevToolsActivePort`` file it writes, and one page target is driven over a
websocket (the ``websockets`` package). Console errors and uncaught exceptions are collected.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from metarl.extras.toy.tasks import CENTRE

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


class Page:
    """One browser tab: send DevTools commands, evaluate JavaScript, collect console errors."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0):
        self.next_id += 1
        message_id = self.next_id
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for seen in self.events:
            if seen.get("method") == event:
                return seen
        while True:
            message = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self.events.append(message)
            if message.get("method") == event:
                return message

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path) -> None:
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable")
        # A desktop-sized viewport, so that every panel can be clicked.
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1600, "height": 1200, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for("Page.loadEventFired")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error-level log entries seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", "")[:500])
        return found


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Page]:
    """A fresh headless Chromium tab; skips when no Chromium or no ``websockets`` is installed."""
    executable = find_browser()
    if executable is None:
        pytest.skip(
            "no Chromium found (looked for chromium, chromium-browser, google-chrome); "
            "install it with: apt-get install -y chromium"
        )
    websockets = pytest.importorskip(
        "websockets.sync.client", reason="the browser test drives Chromium with websockets"
    )
    profile = tmp_path / "profile"
    profile.mkdir()
    with open(tmp_path / "chromium.log", "w") as log:
        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = (tmp_path / "chromium.log").read_text()[-2000:]
                raise RuntimeError(f"Chromium did not start its DevTools server:\n{log_text}")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            targets = json.load(reply)
        target = next(t for t in targets if t["type"] == "page")
        with websockets.connect(
            target["webSocketDebuggerUrl"], max_size=None, open_timeout=30
        ) as socket:
            yield Page(socket)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _closed_form_meta_gradients(
    tasks: dict[str, torch.Tensor], theta: torch.Tensor, alpha: float, k: int, lam: float
) -> dict[str, torch.Tensor]:
    """Task-averaged closed forms on seed 000's quadratics: k steps of alpha on the support loss
    s (curvature C, offset g), the query loss q with the same C and offset g_q.

        MAML, HF-MAML   (I - alpha C)^k grad q(phi_k)
        first-order     grad q(phi_k)
        Reptile         (theta - phi_k) / alpha
        iMAML(lam)      (I + C / lam)^-1 grad q(phi*),  (C + lam I) phi* = C m - g + lam theta
    """
    eye = torch.eye(2, dtype=torch.float64)
    curvature, offset, query = tasks["curvature"], tasks["offset"], tasks["query_offset"]
    m = torch.full((2,), CENTRE, dtype=torch.float64)

    def gradient(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (curvature @ (x - m).unsqueeze(-1)).squeeze(-1) + g

    count = len(offset)
    phi = theta.expand(count, 2)
    for _ in range(k):
        phi = phi - alpha * gradient(phi, offset)
    contraction = torch.linalg.matrix_power(eye - alpha * curvature, k)
    query_grad = gradient(phi, query)
    maml = (contraction @ query_grad.unsqueeze(-1)).squeeze(-1).mean(0)
    star = torch.linalg.solve(curvature + lam * eye, curvature @ m - offset + lam * theta)
    implicit = torch.linalg.solve(eye + curvature / lam, gradient(star, query))
    return {
        "maml": maml,
        "hfmaml": maml,
        "fomaml": query_grad.mean(0),
        "reptile": ((theta - phi) / alpha).mean(0),
        "imaml": implicit.mean(0),
        "phi_star": star,
        "path_end": phi,
    }


@pytest.fixture
def closed_forms():
    """The closed-form meta-gradients ``(tasks, theta, alpha, k, lam) -> dict``."""
    return _closed_form_meta_gradients
