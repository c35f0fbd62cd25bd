"""``spleeter-paddle serve``: the local web page over the library (needs the ``web`` extra)."""

from __future__ import annotations

import argparse
import ipaddress
import logging

from ..errors import ConfigurationError
from ..options import port
from ..vocab import PADDLE_BACKENDS
from . import argument_type
from .flags import AMOUNT, BACKEND, DEVICE, flag

logger = logging.getLogger(__name__)

DEFAULT_WORK_DIR = "spleeter_web"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, port: int) -> None:
    """Log a warning when ``host`` lets other machines reach the page."""
    if not is_loopback(host):
        logger.warning(
            "serving on %s:%d: anyone who can reach this machine can upload files and download "
            "the stems of every job; use --host 127.0.0.1 unless that is what you want",
            host,
            port,
        )


# fmt: off
FLAGS = (
    flag("--host", default="127.0.0.1", help="address to listen on (default: this machine only)"),
    flag("--port", type=argument_type(port), default=8000, help="port (default: 8000)"),
    flag("--work-dir", default=DEFAULT_WORK_DIR,
         help=f"where uploads, jobs and stems are kept (default: ./{DEFAULT_WORK_DIR})"),
    flag("--max-upload-mb", type=AMOUNT, default=500, help="largest upload accepted (default: 500)"),
    DEVICE.but(help="as for separate: sdaa > gpu > cpu (default: auto)"),
    BACKEND.but(choices=PADDLE_BACKENDS, help="as for separate (default: auto)"),
)
# fmt: on


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError as error:
        raise ConfigurationError(
            f"serve needs the web extra ({error.name} is missing): pip install -e '.[web]'"
        ) from None
    check_host(args.host, args.port)
    app = create_app(
        args.work_dir,
        max_upload_mb=args.max_upload_mb,
        device=args.device,
        backend=args.backend,
        allowed_hosts=None if is_loopback(args.host) else ["*"],
    )
    host = args.host.strip("[]")
    url_host = f"[{host}]" if ":" in host else host
    logger.info("open http://%s:%d/ in a browser (Ctrl-C stops the server)", url_host, args.port)
    try:
        uvicorn.run(app, host=host, port=args.port, log_level="info", timeout_graceful_shutdown=5)
    finally:
        app.state.worker.stop()  # also when a signal cut the server short of its shutdown
        app.state.store.release()
    return 0
