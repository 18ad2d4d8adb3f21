"""A headless Chromium driven through the DevTools protocol (CDP), for the dashboard's tests.

Chromium starts with ``--remote-debugging-port=0`` and writes the port it took, and the
browser's websocket path, to ``DevToolsActivePort`` in its profile folder; we talk CDP over
that websocket with aiohttp's client. Nothing is downloaded: the Chromium of the system's
packages (``chromium``), as tests/test_report.py uses. Every host name resolves to nothing but
127.0.0.1 (``--host-resolver-rules``), so a request that tries to leave the machine fails -
and the page's requests are recorded (``Network.requestWillBeSent``) so a test can say so.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest


def chromium_or_skip() -> str:
    """The Chromium executable; under CI (CI=true) its absence fails the test, else skips."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI=true but Chromium is not installed; install it (.ci/run does, from the "
                "Debian packages) so the dashboard is checked in a real browser"
            )
        pytest.skip("Chromium is not installed (.ci/run installs it from the Debian packages)")
    return browser


class Chromium:
    """One headless browser process (start with :meth:`launch`, end with :meth:`close`)."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.executable = executable
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.ws_path: str | None = None

    def launch(self, timeout: float = 30.0) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        log = open(self.profile / "chromium.log", "wb")  # the process keeps it open
        self.proc = subprocess.Popen(
            [
                self.executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                f"--user-data-dir={self.profile}",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--disable-quic",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--window-size=1400,1000",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            if marker.exists():
                lines = marker.read_text().split()
                if len(lines) >= 2:
                    self.port, self.ws_path = int(lines[0]), lines[1]
                    return self
            time.sleep(0.05)
        self.close()
        raise RuntimeError("chromium did not open its DevTools port in time")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


class CDP:
    """A websocket connection to the browser; pages are sessions on it (flat mode)."""

    def __init__(self, browser: Chromium) -> None:
        self.browser = browser
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._listeners: dict[str, list[Any]] = {}
        self._session: Any = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CDP:
        import aiohttp

        self._session = aiohttp.ClientSession()
        url = f"ws://127.0.0.1:{self.browser.port}{self.browser.ws_path}"
        self._ws = await self._session.ws_connect(url, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
            else:
                for listener in self._listeners.get(data.get("sessionId", ""), []):
                    listener(data["method"], data.get("params", {}))

    async def send(self, method: str, params: dict | None = None, session: str = "") -> Any:
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 60)

    async def page(self, height: int = 1000) -> Page:
        """A new tab, ``height`` pixels tall (as tall as the pages it will show, so that a
        screenshot never has to resize it: plots would be caught laying themselves out)."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"], target["targetId"], height)
        self._listeners.setdefault(page.session, []).append(page._event)
        for domain in ("Page", "Runtime", "Network", "Log"):
            await page.send(f"{domain}.enable")
        await page.send("Emulation.setDeviceMetricsOverride", page.viewport)
        return page


_VIEWPORT = {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}


class Page:
    """A tab: navigate, evaluate, wait, take screenshots; records console errors, uncaught
    exceptions, browser log errors and every request the page made."""

    def __init__(self, cdp: CDP, session: str, target: str, height: int = 1000) -> None:
        self.cdp, self.session, self.target = cdp, session, target
        self.viewport = {**_VIEWPORT, "height": height}
        self.errors: list[str] = []
        self.requests: list[str] = []
        self._loaded = asyncio.Event()

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            self.errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            self.errors.append(
                f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}"
            )
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self._loaded.set()

    async def send(self, method: str, params: dict | None = None) -> Any:
        return await self.cdp.send(method, params, self.session)

    async def goto(self, url: str, timeout: float = 30.0) -> None:
        self._loaded.clear()
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise RuntimeError(f"navigating to {url}: {result['errorText']}")
        await asyncio.wait_for(self._loaded.wait(), timeout)

    async def eval(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0, every: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for {expression}")
            await asyncio.sleep(every)

    async def screenshots(self, shots: dict[str, str | None], folder: Path) -> list[Path]:
        """PNG files of the page (selector None: down to its end) or of elements, by file
        stem. A page taller than the tab is first shown in a tab as tall as it (and given a
        second to lay its plots out again)."""
        height = await self.eval("Math.ceil(document.body.getBoundingClientRect().height)")
        if height > self.viewport["height"]:
            self.viewport["height"] = height
            await self.send("Emulation.setDeviceMetricsOverride", self.viewport)
            await asyncio.sleep(1.0)
        out = []
        for stem, selector in shots.items():
            if selector is None:
                box = [0, 0, self.viewport["width"], height]
            else:
                box = await self.eval(
                    f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                    ".getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, "
                    "r.width, r.height]; })()"
                )
            x, y, w, h = box
            clip = {"x": x, "y": y, "width": max(w, 1), "height": max(h, 1), "scale": 1}
            shot = await self.send("Page.captureScreenshot", {"format": "png", "clip": clip})
            path = folder / f"{stem}.png"
            path.write_bytes(base64.b64decode(shot["data"]))
            out.append(path)
        return out

    async def close(self) -> None:
        await self.cdp.send("Target.closeTarget", {"targetId": self.target})
