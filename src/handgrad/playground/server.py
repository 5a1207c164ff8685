"""The playground's web server: Starlette on uvicorn, one WebSocket (and one session) per tab.

Each connection runs three tasks:

- the reader turns the page's messages into commands (a malformed message is answered with an
  error message; the connection and the server stay up);
- the trainer owns the :class:`Session`: it applies commands between chunks of training (~30 ms,
  run in a worker thread so the event loop stays free) and makes a frame when one is due;
- the sender sends queued replies first, then the newest frame. A page that draws slowly makes the
  sender wait, never the trainer: frames made meanwhile replace the unsent one (at most ``fps``
  per second are made at all).

Closing the tab closes the socket; the reader ends, the other two tasks are cancelled and the
session is dropped, so its training stops.

Protocol (JSON objects with a ``type``), page -> server: ``config`` {config}, ``play``, ``pause``,
``step``, ``reset``, ``explain``, ``curvature``, ``race`` {function, optimizers, steps}.
Server -> page: ``hello`` {catalogue, session}, ``data``, ``frame``, ``notice``, ``error``
{message}, ``explain``, ``curvature``, ``race``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from handgrad.errors import DivergenceError, HandgradError
from handgrad.playground import teaching
from handgrad.playground.config import Config, catalogue, parse
from handgrad.playground.session import Session

STATIC = Path(__file__).parent / "static"
CHUNK_SECONDS = 0.03       # training between two looks at the inbox
MAX_MESSAGE = 64 * 1024    # longest message a page may send (a config is ~1 kB)
MAX_PENDING = 64           # commands and replies waiting at most (a page that floods but never
                           # reads makes its own reader wait, and loses its oldest replies)
COMMANDS = ("config", "play", "pause", "step", "reset", "explain", "curvature", "race")
# What a command may raise that is the page's fault (a bad option, an impossible set-up): the
# page is told, the session goes on.
PAGE_ERRORS = (HandgradError, ValueError, TypeError, KeyError, IndexError)


class Connection:
    """One tab: its session and the three tasks that serve it."""

    ids = itertools.count(1)

    def __init__(self, ws: WebSocket, fps: float, registry: dict):
        self.ws, self.min_interval, self.registry = ws, 1.0 / fps, registry
        self.id = next(self.ids)
        self.session = Session(Config())
        self.inbox: asyncio.Queue = asyncio.Queue(maxsize=MAX_PENDING)
        self.replies: list[dict] = []
        self.frame: dict | None = None
        self.wake = asyncio.Event()
        self.last_frame = 0.0
        self.frames_made = self.frames_sent = 0
        self.frame_cost = 0.0

    # --- the tasks ----------------------------------------------------------------------------
    async def serve(self) -> None:
        await self.ws.accept()
        self.registry[self.id] = self
        self.reply({"type": "hello", "session": self.id, "catalogue": catalogue()})
        self.reply(self.session.data_message())
        self.frame = self.session.frame()
        tasks = [asyncio.create_task(self.train()), asyncio.create_task(self.send())]
        try:
            await self.read()
        finally:
            self.registry.pop(self.id, None)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def read(self) -> None:
        while True:
            try:
                text = await self.ws.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return  # the tab closed (RuntimeError: the socket is already gone)
            except KeyError:
                self.reply(error("malformed message: expected text (JSON), got binary data"))
                continue
            message = decode(text)
            if isinstance(message, str):
                self.reply(error(message))
            else:
                await self.inbox.put(message)

    async def train(self) -> None:
        s = self.session
        while True:
            while not self.inbox.empty():
                await self.handle(self.inbox.get_nowait())
            if not s.playing:
                await self.handle(await self.inbox.get())
                continue
            started = time.perf_counter()
            budget = 10 ** 9 if not s.config.speed else max(1, round(s.config.speed
                                                                       * CHUNK_SECONDS))
            try:
                await asyncio.to_thread(s.train_for, CHUNK_SECONDS, budget)
            except PAGE_ERRORS as err:  # divergence, or a method refusing this set-up at step
                s.playing = False
                self.reply(error(str(err) if isinstance(err, DivergenceError)
                                 else f"training stopped: {err}"))
                await self.make_frame()
                continue
            if s.config.speed:  # at most `speed` epochs per second: sleep off the rest
                await asyncio.sleep(max(0.0, budget / s.config.speed
                                        - (time.perf_counter() - started)))
            else:
                await asyncio.sleep(0)
            # A frame costs a forward pass over the plane; on a large network or a busy machine
            # frames come less often, so that drawing never takes more than a third of the time.
            if time.perf_counter() - self.last_frame >= max(self.min_interval,
                                                            3 * self.frame_cost):
                await self.make_frame()

    async def send(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.replies or self.frame is not None:
                if self.replies:
                    message = self.replies.pop(0)
                else:
                    message, self.frame = self.frame, None
                await self.ws.send_text(json.dumps(message, allow_nan=False))
                self.frames_sent += message["type"] == "frame"

    # --- helpers ------------------------------------------------------------------------------
    def reply(self, message: dict) -> None:
        if len(self.replies) >= MAX_PENDING:
            self.replies.pop(0)
        self.replies.append(message)
        self.wake.set()

    async def make_frame(self) -> None:
        started = time.perf_counter()
        self.frame = await asyncio.to_thread(self.session.frame)
        self.frames_made += 1
        self.last_frame = time.perf_counter()
        self.frame_cost = self.last_frame - started
        self.wake.set()

    async def handle(self, message: dict) -> None:
        s, kind = self.session, message["type"]
        try:
            if kind == "config":
                version = s.data_version
                for notice in await asyncio.to_thread(s.apply, parse(message.get("config"))):
                    self.reply({"type": "notice", "message": notice})
                if s.data_version != version:
                    self.reply(s.data_message())
            elif kind == "play":
                s.playing = True
            elif kind == "pause":
                s.playing = False
            elif kind == "step":
                s.playing = False
                await asyncio.to_thread(s.train_epoch)
            elif kind == "reset":
                await asyncio.to_thread(s.reset)
            elif kind == "explain":
                self.reply(await asyncio.to_thread(teaching.explain, s))
            elif kind == "curvature":
                self.reply(await asyncio.to_thread(teaching.curvature, s))
            elif kind == "race":
                self.reply(await asyncio.to_thread(teaching.race, message))
        except PAGE_ERRORS as err:
            self.reply(error(f"{kind}: {err}"))
        await self.make_frame()


def error(message: str) -> dict:
    return {"type": "error", "message": message}


def decode(text: str) -> dict | str:
    """The page's message as a dict with a known ``type``, or what is wrong with it."""
    if len(text) > MAX_MESSAGE:
        return f"malformed message: {len(text)} characters (expected at most {MAX_MESSAGE})"
    try:
        message = json.loads(text)
    except json.JSONDecodeError as err:
        return f"malformed message: not JSON ({err.msg} at character {err.pos})"
    if not isinstance(message, dict) or message.get("type") not in COMMANDS:
        kind = message.get("type") if isinstance(message, dict) else None
        return (f"malformed message: unknown type {kind!r} (expected an object whose type is "
                f"one of: {', '.join(COMMANDS)})")
    return message


def same_origin(ws: WebSocket) -> bool:
    """A page from another site may not drive this server (cross-site WebSocket hijacking):
    browsers always send Origin, so it must name the host the page was served from."""
    origin = ws.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == ws.headers.get("host")


def create_app(fps: float = 25.0) -> Starlette:
    """The ASGI application; ``fps`` caps the frames each tab is sent per second."""
    registry: dict[int, Connection] = {}

    async def index(request):
        return FileResponse(STATIC / "index.html")

    async def status(request):
        return JSONResponse({"sessions": [
            {"id": c.id, "epoch": c.session.epoch, "steps": c.session.steps,
             "playing": c.session.playing, "frames_made": c.frames_made,
             "frames_sent": c.frames_sent}
            for c in registry.values()]})

    async def socket(ws: WebSocket):
        if not same_origin(ws):
            await ws.close(code=1008)
            return
        await Connection(ws, fps, registry).serve()

    app = Starlette(routes=[
        Route("/", index), Route("/status", status), WebSocketRoute("/ws", socket),
        Mount("/static", StaticFiles(directory=STATIC), name="static")])
    app.state.registry = registry
    return app
