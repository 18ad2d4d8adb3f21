"""The dashboard's web server (aiohttp): the page, its assets and a small JSON API.

Routes (all GET; nothing changes anything)::

    /                       the runs            /run/KEY   one run     /compare?runs=A,B
    /static/...             app.js, style.css, plotly.min.js (from the installed plotly)
    /api/config             how often the page polls
    /api/runs               every run: name, state, trials, best
    /api/compare?runs=A,B   best-so-far curves and a summary line per run
    /api/run/KEY/VIEW       VIEW: version (what changed: cheap), summary, progress, ranges,
                            scatter, parallel, importance, pareto, workers, trials

Security: bound to 127.0.0.1 by default. Bound to any other address it requires a token on
every request (``?token=`` - which sets an HttpOnly cookie and is then dropped from the
address - or an ``Authorization: Bearer`` / ``X-Sweep-Token`` header). Without a token only
requests addressed to a loopback name are answered (a web page elsewhere cannot reach it by
rebinding a DNS name to 127.0.0.1). Every response forbids the page to load anything from
elsewhere (Content-Security-Policy), and the data is read-only.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import importlib
import json
import logging
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from orchestrator.dashboard import views
from orchestrator.dashboard.source import Catalog, RunData
from orchestrator.errors import ConfigError, StoreError
from orchestrator.redact import redact_uri

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 8301
DEFAULT_POLL_S = 3.0
TOKEN_HEADER = "X-Sweep-Token"
STATIC = ("app.js", "style.css")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_log = logging.getLogger(__name__)


def needs_token(host: str) -> bool:
    """Whether binding to ``host`` requires a token: any address but the loopback one."""
    return host.strip("[]").lower() not in LOCAL_HOSTS


def resolve_token(host: str, token: str | None) -> tuple[str | None, bool]:
    """The token the server requires (None: none) and whether it was generated here.

    A token given is always required; bound to anything but 127.0.0.1/localhost a token is
    required, and made up (random, 32 characters) if none is given."""
    if token is not None:
        if not token or any(c.isspace() for c in token) or len(token) < 8:
            raise ConfigError("--token: at least 8 characters, no spaces")
        return token, False
    if needs_token(host):
        return secrets.token_urlsafe(24), True
    return None, False


def plotly_js() -> Path:
    """plotly.js as the installed ``plotly`` Python package bundles it."""
    try:
        import plotly
    except ImportError:
        raise ConfigError(
            "sweep dashboard draws its plots with plotly.js from the `plotly` package, which "
            "is not installed: pip install 'sweep-orchestrator[dashboard]' (or: pip install "
            "plotly)"
        ) from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise ConfigError(f"the installed plotly ({plotly.__version__}) has no {path.name}")
    return path


def _asset(name: str) -> bytes:
    return resources.files("orchestrator.dashboard").joinpath("static").joinpath(name).read_bytes()


class _Asset:
    """A static file, its ETag, and its gzip'ed form (made once)."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type
        self.etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        self._gzipped: bytes | None = None

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.data, compresslevel=6, mtime=0)
        return self._gzipped


def build_app(
    catalog: Catalog,
    *,
    token: str | None = None,
    port: int = 0,
    poll_s: float = DEFAULT_POLL_S,
    executor: ThreadPoolExecutor | None = None,
) -> Any:
    """The aiohttp application over ``catalog`` (``token``: required on every request)."""
    from aiohttp import web

    pool = executor or ThreadPoolExecutor(max_workers=4, thread_name_prefix="dashboard")
    cookie = f"sweep_token_{port}"
    page = _Asset(_asset("index.html"), "text/html; charset=utf-8")
    assets = {name: _Asset(_asset(name), _content_type(name)) for name in STATIC}
    plotly_path = plotly_js()
    plotly_asset: list[_Asset] = []

    def asset_response(request: Any, asset: _Asset, cache: str) -> Any:
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers={"ETag": asset.etag})
        headers = {"ETag": asset.etag, "Cache-Control": cache, "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("Accept-Encoding", "") and len(asset.data) > 2048:
            headers["Content-Encoding"] = "gzip"
            body = asset.gzipped
        else:
            body = asset.data
        return web.Response(
            body=body,
            content_type=asset.content_type.split(";")[0],
            charset="utf-8",
            headers=headers,
        )

    @web.middleware
    async def guard(request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        given = request.query.get("token")
        if token is None:
            if _hostname(request.host) not in LOCAL_HOSTS:
                return _text("this dashboard answers requests to 127.0.0.1 or localhost only", 403)
        else:
            header = request.headers.get("Authorization", "")
            candidates = [
                given,
                request.headers.get(TOKEN_HEADER),
                header[7:] if header.startswith("Bearer ") else None,
                request.cookies.get(cookie),
            ]
            if not any(c and hmac.compare_digest(c.encode(), token.encode()) for c in candidates):
                return _text(
                    "this dashboard needs its token: open the address `sweep dashboard` "
                    "printed (it ends in ?token=...), or send the header X-Sweep-Token",
                    401,
                )
        if token is not None and given is not None and not request.path.startswith("/api/"):
            rest = {k: v for k, v in request.query.items() if k != "token"}
            # never a scheme-relative address (//host, /\host): the redirect stays here
            target = "/" + request.path.lstrip("/\\") + (f"?{urlencode(rest)}" if rest else "")
            response = web.Response(status=303, headers={"Location": target})
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # unknown routes, methods other than GET
                response = _text(exc.reason, exc.status)
        if token is not None and given is not None:
            response.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def off_loop(call: Callable[[], Any]) -> Any:
        """Run a view, and its JSON encoding, in the thread pool (reading Parquet and sorting
        must not hold up the event loop: the version polls stay quick)."""
        loop = asyncio.get_running_loop()
        try:
            body = await loop.run_in_executor(pool, lambda: _dumps(call()))
        except views.BadQuery as exc:
            return _json({"error": str(exc)}, status=400)
        except KeyError as exc:
            return _json({"error": str(exc.args[0] if exc.args else exc)}, status=400)
        except StoreError as exc:
            return _json({"error": redact_uri(str(exc))}, status=409)
        except Exception as exc:  # a bug: say so on the page, keep serving
            _log.exception("dashboard view failed")
            return _json({"error": f"internal error: {type(exc).__name__}"}, status=500)
        response = web.Response(text=body, content_type="application/json")
        if len(body) > 4096:
            response.enable_compression()
        return response

    def no_run(key: str) -> Any:
        return _json({"error": f"no such run: {key}"}, status=404)

    async def index(request: Any) -> Any:
        return asset_response(request, page, "no-cache")

    async def static(request: Any) -> Any:
        name = request.match_info["name"]
        if name == "plotly.min.js":
            if not plotly_asset:
                plotly_asset.append(_Asset(plotly_path.read_bytes(), "text/javascript"))
            return asset_response(request, plotly_asset[0], "max-age=86400")
        if name not in assets:
            return _text("not found", 404)
        return asset_response(request, assets[name], "no-cache")

    async def config(request: Any) -> Any:
        return _json({"poll_s": poll_s})

    async def runs(request: Any) -> Any:
        return await off_loop(lambda: views.runs_list(catalog))

    async def compare(request: Any) -> Any:
        keys = [k for k in request.query.get("runs", "").split(",") if k]
        chosen = [catalog.get(k) for k in keys]
        missing = [k for k, r in zip(keys, chosen) if r is None]
        if missing:
            return no_run(missing[0])
        return await off_loop(lambda: views.compare([r for r in chosen if r is not None]))

    async def run_view(request: Any) -> Any:
        found = catalog.get(request.match_info["key"])
        if found is None:
            return no_run(request.match_info["key"])
        run: RunData = found
        view = request.match_info["view"]
        query = request.query
        if view == "version":
            return await off_loop(lambda: views.version(run))
        handlers: dict[str, Callable[[Any], Any]] = {
            "summary": lambda snap: views.summary(run, snap),
            "progress": lambda snap: views.progress(run, snap),
            "ranges": lambda snap: views.ranges(run, snap),
            "scatter": lambda snap: views.scatter(run, snap),
            "parallel": lambda snap: views.parallel(
                run, snap, k=views._int_arg(query, "k", 50, 1, 500)
            ),
            "importance": lambda snap: views.importance_view(run, snap),
            "pareto": lambda snap: views.pareto(run, snap),
            "workers": lambda snap: views.workers(run, snap),
            "trials": lambda snap: views.trials(
                run, snap, {**query, "where": query.getall("where", [])}
            ),
        }
        if view not in handlers:
            return _json({"error": f"no view {view!r}"}, status=404)
        return await off_loop(lambda: run.consistent(handlers[view]))

    app = web.Application(middlewares=[guard])
    app.router.add_get("/", index)
    app.router.add_get("/run/{key}", index)
    app.router.add_get("/compare", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/config", config)
    app.router.add_get("/api/runs", runs)
    app.router.add_get("/api/compare", compare)
    app.router.add_get("/api/run/{key}/{view}", run_view)

    async def close_pool(app: Any) -> None:
        if executor is None:
            pool.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(close_pool)
    return app


def _content_type(name: str) -> str:
    if name.endswith(".js"):
        return "text/javascript"
    if name.endswith(".css"):
        return "text/css"
    return "text/html; charset=utf-8"


def _dumps(data: Any) -> str:
    return json.dumps(data, allow_nan=False, separators=(",", ":"))


def _json(data: Any, status: int = 200) -> Any:
    from aiohttp import web

    return web.Response(text=_dumps(data), status=status, content_type="application/json")


def _text(message: str, status: int) -> Any:
    from aiohttp import web

    return web.Response(text=message + "\n", status=status)


def _hostname(host: str | None) -> str:
    """The name in a Host header, without its port (``[::1]:8301`` -> ``::1``)."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class DashboardServer:
    """The dashboard on its own thread and event loop: :meth:`start` returns once it
    listens, :meth:`stop` closes it. Also a context manager."""

    def __init__(
        self,
        paths: Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self.catalog = Catalog(paths)
        self.host = host
        self.token, self.token_generated = resolve_token(host, token)
        self.poll_s = poll_s
        self._sock = _bind(host, port)
        self.port = self._sock.getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None

    @property
    def url(self) -> str:
        """The address to open (bound to every interface: this machine's name)."""
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "[::]") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    @property
    def url_with_token(self) -> str:
        return self.url + (f"?token={self.token}" if self.token else "")

    def start(self) -> DashboardServer:
        from aiohttp import web

        app = build_app(self.catalog, token=self.token, port=self.port, poll_s=self.poll_s)
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                try:  # aiohttp >= 3.9 takes the shutdown timeout here, older ones per site
                    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
                    site_options: dict[str, Any] = {}
                except TypeError:
                    runner = web.AppRunner(app, access_log=None)
                    site_options = {"shutdown_timeout": 2.0}
                loop.run_until_complete(runner.setup())
                site = web.SockSite(runner, self._sock, **site_options)
                loop.run_until_complete(site.start())
                self._runner = runner
            except BaseException as exc:  # reported by start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runner.cleanup())
                loop.close()

        self._thread = threading.Thread(target=serve, name="sweep-dashboard", daemon=True)
        self._thread.start()
        # The importance view's forest: scikit-learn takes seconds to import; do it now,
        # while the browser loads the page, rather than when the view is first asked for.
        threading.Thread(target=_import_quietly, args=("sklearn.ensemble",), daemon=True).start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._sock.close()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def _import_quietly(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:  # the view says so when it is asked for
        pass


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port); localhost is 127.0.0.1."""
    address = "127.0.0.1" if host == "localhost" else host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if port and exc.errno in (98, 48, 10048):  # EADDRINUSE (Linux, macOS, Windows)
            raise ConfigError(
                f"--port {port}: already in use on {host}; pick another (--port 0: any free one)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock
