"""``python -m tickstock_app [--host H] [--port N] [--instance NAME]``: run the app until stopped.

Configuration from ``TICKSTOCK_APP_*`` (see config.py); the password never on the command line.
Prints one line ``tickstock_app <instance> listening on http://H:N`` on stdout once it serves
(``--port 0`` picks a free port and prints it). Logs one line per fault and recovery on stderr.

Exit codes: 0 stopped by SIGTERM/SIGINT (graceful: open event streams are ended, the listeners
and connections closed); 2 bad arguments, bad configuration or a port it cannot listen on (one
line on stderr, before anything connects). It starts whether or not PostgreSQL and Redis are up.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable

import uvicorn

from .config import DEFAULT_INSTANCE, INSTANCE_PATTERN, AppConfig
from .web import TickStockApp, create_app

DEFAULT_PORT = 8765
GRACEFUL_SHUTDOWN_S = 3


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + two lines by default)
        raise UsageError(message)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range (0-65535): {port}")
    return port


def _instance(text: str) -> str:
    if not INSTANCE_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"must be 1-64 letters, digits, '_', '.' or '-', got {text[:70]!r}")
    return text


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tickstock_app",
                description="TickStockApp (reference consumer): Redis notifications in, HTTP + SSE out")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--instance", type=_instance, default=DEFAULT_INSTANCE,
                   help=f"instance name: consumer name in the group, Redis client name suffix "
                        f"(default {DEFAULT_INSTANCE})")
    return p


class _Server(uvicorn.Server):
    """uvicorn's server that ends the event streams on SIGTERM/SIGINT and says where it listens."""

    def __init__(self, config: uvicorn.Config, app: TickStockApp, where: str) -> None:
        super().__init__(config)
        self.app = app
        self.where = where

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        self.app.hub.close()  # open SSE responses end now, so the graceful shutdown does not wait

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(f"tickstock_app {self.app.config.instance} listening on {self.where}", flush=True)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except (OverflowError, UnicodeError) as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc}") from None
    sock.set_inheritable(True)
    return sock


def _configure_logging(instance: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s tickstock_app.{instance} %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("tickstock_app").setLevel(logging.INFO)


def main(argv: list[str] | None = None,
         factory: Callable[[AppConfig], TickStockApp] = create_app) -> int:
    try:
        args = _parser().parse_args(argv)
        try:
            config = AppConfig.from_env(instance=args.instance)
        except ValueError as exc:
            print(f"error: bad TICKSTOCK_APP_* setting: {exc}", file=sys.stderr)
            return 2
        sock = _listen(args.host, args.port)
    except UsageError as exc:
        print(f"error: {exc} (see --help)", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    _configure_logging(config.instance)
    log = logging.getLogger("tickstock_app")
    log.info("starting as %s (%s)", config.redis_client_name, config.describe())
    app = factory(config)
    server = _Server(uvicorn.Config(app.asgi(), log_config=None, log_level="warning", access_log=False,
                                    lifespan="on", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S),
                     app, where)
    # uvicorn re-raises the signal that stopped it once it is done; these handlers make that a
    # no-op, so a graceful stop exits 0 instead of dying by the signal (and a signal that comes
    # before uvicorn installs its own handlers still stops the server).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    blocked = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
               and t.is_alive()]
    if blocked:  # a query on a frozen server never returns: do not wait for it at interpreter exit
        log.warning("stopped (%d database call(s) still blocked: not waited for)", len(blocked))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
