"""The playground's web app (Starlette): routes, JSON errors, the page, and `serve()` (uvicorn)."""

from __future__ import annotations

import base64
import ipaddress
import socket
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import anyio
import numpy as np
import torch
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from minigan.errors import ConfigError, MiniganError

from . import guard, latent, params, pictures, projection
from .params import (
    MAX_JSON,
    MAX_LATENT,
    MAX_OPT_SECONDS,
    MAX_OPT_STEPS,
    MAX_SEED,
    MAX_STEPS,
    MAX_UPLOAD,
    ApiError,
    parse_json,
)
from .pictures import compute, digit_param, image_response, load, query
from .registry import RunTable
from .watch import RunFiles

STATIC = Path(__file__).parent / "static"
LOOPBACK_NAMES = ["127.0.0.1", "localhost"]
BODY_SECONDS = 30.0  # a request body must arrive within this; a slow one would hold its place in the queue
# The page loads nothing from elsewhere; the policy makes a stray CDN link fail loudly in the browser test.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
LIMITS = {name.lower(): getattr(params, name) for name in dir(params) if name.startswith("MAX_")}


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


async def read_body(request: Request, limit: int, what: str) -> bytes:
    too_big = ApiError(413, f"the {what} is larger than the limit of {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    with anyio.move_on_after(BODY_SECONDS):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)
    raise ApiError(408, f"the {what} did not arrive within {BODY_SECONDS:g} s")


def data_url(image: np.ndarray) -> str:
    """uint8 (28, 28) -> a data: URL of its PNG, for JSON answers that carry pictures (call off the loop)."""
    return "data:image/png;base64," + base64.b64encode(params.png_bytes(image[None], 1, padding=0)).decode()


def create_app(table: RunTable, allowed_hosts: Sequence[str] | None = None) -> Starlette:
    """The ASGI app over `table`; `allowed_hosts` refuses other Host headers (DNS rebinding)."""
    files = {run_id: RunFiles(entry.path) for run_id, entry in table.entries.items() if entry.is_folder}

    async def runs(request: Request) -> dict:
        query(request)  # entry.info never raises: one damaged run is its own row's error
        infos = [await run_in_threadpool(entry.info) for entry in table.entries.values()]
        return {"runs": infos, "limits": LIMITS}

    async def run_info(request: Request) -> dict:
        entry = table.get(request.path_params["run"])
        query(request)
        info = await run_in_threadpool(entry.info)
        config = entry.config()
        return {**info, "config": config.to_dict() if config else None}

    async def project(request: Request) -> dict:
        """POST a PNG drawing -> the closest sample's z (and class), found by bounded latent optimisation."""
        _, gen = await load(table, request)
        q = query(request, "steps", "seconds", "digit", "seed")
        steps, seconds = q.int("steps", 300, 1, MAX_OPT_STEPS), q.float("seconds", 5.0, 0.1, MAX_OPT_SECONDS)
        digit, seed = digit_param(gen, q), q.int("seed", 0, 0, MAX_SEED)
        data = await read_body(request, MAX_UPLOAD, "drawing")
        target = await run_in_threadpool(lambda: projection.mnist_frame(projection.read_drawing(data)))
        found = await compute(table, lambda: projection.project(gen, target, steps=steps, seconds=seconds,
                                                                digit=digit, seed=seed))
        drawing = np.uint8(np.rint(target * 255))
        image, shown = await table.encode(lambda: (data_url(found["image"]), data_url(drawing)))
        return {**found, "image": image, "target": shown}

    async def morph(request: Request) -> Response:
        """POST {"z", "digit", "to_seed", "to_digit", "steps", "method"} -> a strip z -> latents(to_seed)."""
        _, gen = await load(table, request)
        query(request)
        spec = parse_json(await read_body(request, MAX_JSON, "JSON body"))
        q = params.json_query(spec, ("z", "digit", "to_seed", "to_digit", "steps", "method"),
                              '{"z": [...], "to_seed": 1}')
        z = spec.get("z")
        if not isinstance(z, list) or len(z) != gen.z_dim:
            raise ApiError(400, f"z must be a list of {gen.z_dim} numbers (this run's z_dim)")
        start = torch.tensor([params.check_float(v, "z", -MAX_LATENT, MAX_LATENT) for v in z])
        digit, to_digit = digit_param(gen, q), digit_param(gen, q, "to_digit")
        if gen.conditional:
            digit = 0 if digit is None else digit
            to_digit = digit if to_digit is None else to_digit
        steps, method = q.int("steps", 10, 2, MAX_STEPS), q.choice("method", "linear", ("linear", "slerp"))
        end = gen.latents(1, q.int("to_seed", 0, 0, MAX_SEED))[0]
        images = await compute(table, latent.morph, gen, start, end, steps, method, digit, to_digit)
        return await pictures.png_response(table, images, steps)

    async def training(request: Request) -> dict:
        entry = table.get(request.path_params["run"])
        query(request)
        if entry.id not in files:
            raise ApiError(400, f"run {entry.id!r} is a generator file, not a run folder: nothing to watch")
        return await run_in_threadpool(files[entry.id].summary)

    async def progress(request: Request) -> Response:
        entry = table.get(request.path_params["run"])
        query(request)
        data = await run_in_threadpool(files[entry.id].progress_png) if entry.id in files else None
        if data is None:
            raise ApiError(404, f"run {entry.id!r} has no progress grid yet (progress/step-*.png)")
        return image_response(data)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    def api(path: str, handler, methods: Sequence[str] = ("GET",), costly: bool = False) -> Route:
        """A JSON or picture route; a costly one (generator work) holds a place from `table.admit`."""
        async def endpoint(request: Request) -> Response:
            if costly:
                async with table.admit():
                    result = await handler(request)
            else:
                result = await handler(request)
            return result if isinstance(result, Response) else JSONResponse(result)

        return Route(path, endpoint, methods=list(methods))

    def picture(path: str, handler) -> Route:
        return api(path, lambda request: handler(table, request), costly=True)

    run = "/api/runs/{run}"
    routes = [
        Route("/", index), Mount("/static", StaticFiles(directory=STATIC), name="static"),
        api("/api/runs", runs), api(run, run_info),
        picture(f"{run}/samples.png", pictures.samples),
        picture(f"{run}/directions", pictures.directions),
        picture(f"{run}/directions.png", pictures.directions_png),
        picture(f"{run}/z", pictures.latents),
        picture(f"{run}/latent.png", pictures.latent_png),
        picture(f"{run}/map.png", pictures.latent_map),
        picture(f"{run}/interpolate.png", pictures.interpolate_png),
        picture(f"{run}/interpolate.gif", pictures.interpolate_gif),
        picture(f"{run}/clock.png", pictures.clock_png),
        picture(f"{run}/clock.gif", pictures.clock_gif),
        picture(f"{run}/amplitude.png", pictures.amplitude_png),
        api(f"{run}/project", project, methods=("POST",), costly=True),
        api(f"{run}/morph.png", morph, methods=("POST",), costly=True),
        api(f"{run}/training", training), api(f"{run}/progress.png", progress),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    middleware.append(Middleware(guard.CrossSiteGuard, refuse=_error))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={
        ApiError: lambda request, exc: _error(exc.status, exc.message),
        MiniganError: lambda request, exc: _error(400, str(exc)),
        HTTPException: _http_error,
        Exception: _internal_error,
    })

    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message.splitlines()[0] if message else "error"}, status_code=status,
                        headers=SECURITY_HEADERS)


def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return _error(404, f"no such page or endpoint: {request.url.path}; the API starts at /api/runs")
    if exc.status_code == 405:
        return _error(405, f"{request.method} is not allowed on {request.url.path}")
    return _error(exc.status_code, str(exc.detail))


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    traceback.print_exception(exc, file=sys.stderr)
    return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # connections made once the URL is printed wait in the backlog, not refused
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                          "pass another --port (0 picks a free one)") from None
    return sock


def server(table: RunTable, allowed_hosts: Sequence[str] | None = None) -> uvicorn.Server:
    """The uvicorn server for `table` (run it with `.run(sockets=[sock])`): request heads time out."""
    config = uvicorn.Config(create_app(table, allowed_hosts), log_level="warning",
                            timeout_graceful_shutdown=2, http=guard.HeaderTimeoutProtocol)
    return uvicorn.Server(config)


def serve(runs: Sequence[str | Path], host: str = "127.0.0.1", port: int = 8000, device: str = "cpu") -> None:
    """Serve the playground for `runs` (run folders, folders of runs, generator files) until Ctrl-C."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in 0..65535 (0 picks a free one), got {port}")
    table = RunTable(runs, device)
    loopback = _is_loopback(host)
    if not loopback:
        print(f"minigan: warning: --host {host} is not loopback: anyone who can reach this machine can use "
              "the page and make it compute (there is no login)", file=sys.stderr)
    sock = _bind(host, port)  # a busy port fails before the generators load
    try:
        for entry in table.entries.values():  # load every generator now: problems show before the URL does
            info = entry.info()
            state = f"step {info['step']}" if info["ready"] else info["error"]
            print(f"minigan: {entry.id}: {entry.shown} ({info['preset']}, {state})")
    except BaseException:
        sock.close()
        raise
    # On loopback, refuse requests whose Host header names another site (DNS rebinding); IPv6: unchecked.
    hosts = sorted({host, *LOOPBACK_NAMES}) if loopback and ":" not in host else None
    shown_host = f"[{host}]" if ":" in host else host
    print(f"minigan: serving {len(table.entries)} run(s) ({', '.join(table.entries)}) at "
          f"http://{shown_host}:{sock.getsockname()[1]}/ (Ctrl-C to stop)", flush=True)
    server(table, hosts).run(sockets=[sock])
