"""``retrogate dashboard --web``: the same dashboard in a browser, for a phone or tablet on a stand.

textual-serve runs one dashboard process per browser tab and streams it to
xterm.js in the page, so the web view is the terminal app itself (same
screens, same keys, same MQTT contract), not a second implementation that
could drift from it.
"""

from __future__ import annotations

import argparse
import re
import shlex
import socket
import sys
from pathlib import Path

WILDCARDS = ("0.0.0.0", "::", "")


def lan_address() -> str:
    """This machine's address on its LAN (no packet is sent: UDP connect only picks a route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address: str = s.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    return address


def app_command(args: argparse.Namespace) -> str:
    """The dashboard each browser tab gets: the same options, minus the web ones."""
    argv = [sys.executable, "-m", "gateway.cli", "dashboard"]
    if args.config is not None:
        argv += ["--config", str(args.config)]
    if args.broker:
        argv += ["--broker", args.broker]
    if args.station:
        argv += ["--station", args.station]
    if args.runner:
        argv.append("--runner")
    return shlex.join(argv)


def public_url(args: argparse.Namespace) -> str:
    """Where a browser finds the page (and its websocket): a wildcard bind means the LAN address."""
    if args.public_url:
        return str(args.public_url).rstrip("/")
    host = lan_address() if args.host in WILDCARDS else args.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{args.port}"


# textual-serve's page loads its font from Google: a Pi on a LAN without internet
# (or a test machine) waits for that request to time out before the page connects
# (window.onload). The page is served offline instead, with the font it ships.
EXTERNAL_STYLESHEET = re.compile(r'<link\s+rel="stylesheet"\s+href="https?://[^"]*"\s*/>', re.S)
LOCAL_FONT = """<style>
  @font-face { font-family: "Roboto Mono";
    src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf"); }
</style>"""


def offline_templates(package_templates: Path, into: Path) -> Path:
    """textual-serve's templates with every external stylesheet replaced by the bundled font."""
    into.mkdir(parents=True, exist_ok=True)
    for template in package_templates.glob("*.html"):
        page = EXTERNAL_STYLESHEET.sub(LOCAL_FONT, template.read_text(encoding="utf-8"))
        (into / template.name).write_text(page, encoding="utf-8")
    return into


def serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C."""
    import tempfile

    import textual_serve
    from textual_serve.server import Server

    url = public_url(args)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: anyone who can reach {url} can steer the treadmill from the page "
            "(within the governor's limits); keep it on a trusted network",
            file=sys.stderr,
        )
    print(f"retrogate dashboard on {url} (Ctrl-C stops)", file=sys.stderr)
    package = Path(textual_serve.__file__).parent / "templates"
    with tempfile.TemporaryDirectory(prefix="retrogate-web-") as scratch:
        server = Server(
            app_command(args),
            host=args.host,
            port=args.port,
            title="retrogate",
            public_url=url,
            templates_path=offline_templates(package, Path(scratch)),
        )
        server.serve()
    return 0


def add_web_options(parser: argparse.ArgumentParser) -> None:
    """``--web``, ``--host``, ``--port``, ``--public-url``."""
    group = parser.add_argument_group("web (a browser on a phone or tablet)")
    group.add_argument("--web", action="store_true", help="serve the dashboard to web browsers")
    group.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the whole LAN)"
    )
    group.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    group.add_argument(
        "--public-url", help="the URL browsers use, behind a proxy (default: from host and port)"
    )
