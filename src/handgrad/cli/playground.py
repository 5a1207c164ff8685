"""``handgrad playground``: a local web page where a small network learns a 2-D data set live.

Starts a web server (127.0.0.1 unless --host says otherwise), prints its address and, where a
desktop browser exists, opens it. Training runs in handgrad in this process; the page draws the
frames it is sent. Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import webbrowser

from threadpoolctl import threadpool_limits

from handgrad.errors import OptionError
from handgrad.validate import check_option


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "playground", help="train a network in the browser and watch it learn",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 "
                        "lets other machines connect)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free one)")
    p.add_argument("--fps", type=float, default=25.0,
                   help="most frames per second sent to each page (default 25)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=run)


def open_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is a clear error, not a log line."""
    if not 0 <= port <= 65535:
        raise OptionError(f"invalid --port: {port} (expected 0..65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise OptionError(f"invalid --host: {host!r} ({err.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise OptionError(f"cannot listen on {host}:{port} ({err.strerror}); pick another "
                          "--port (or --port 0 for any free one)") from None
    sock.listen(128)
    return sock


def has_desktop() -> bool:
    """A graphical session a browser can open in (not a server shell or a container)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"


def run(args) -> int:
    try:  # the web stack loads only for this command
        import uvicorn

        from handgrad.playground.server import create_app
    except ImportError as err:
        raise OptionError(f"handgrad playground needs its web server packages ({err.name} is "
                          "missing): pip install 'handgrad[playground]'") from None

    fps = check_option("--fps", args.fps, 1.0, 60.0)
    sock = open_socket(args.host, args.port)
    url = address(sock)
    local = args.host in ("127.0.0.1", "localhost", "::1")
    print(f"handgrad playground: {url}")
    if local:
        where = f"{args.host} (this machine only; --host 0.0.0.0 lets others connect)"
    else:
        where = f"{args.host}: other machines on the network can reach this page"
    print(f"listening on {where}; Ctrl-C stops it", flush=True)
    if not args.no_browser and has_desktop():
        webbrowser.open(url)
    # One BLAS thread: the playground's matrices are tiny and each tab trains in its own worker
    # thread; BLAS's own threads would only contend with them (and with the event loop).
    threadpool_limits(limits=1, user_api="blas")
    server = uvicorn.Server(uvicorn.Config(create_app(fps=fps), log_level="warning"))
    server.run(sockets=[sock])
    return 0
