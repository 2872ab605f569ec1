"""nginx with deploy/nginx/alliance.conf as an operator installs it, on this machine's free ports:
used by the deploy-file tests and by the production walk (tests/ops/test_ops_production_walk.py)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HOST = "alliance.example.org"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CERT = "/etc/letsencrypt/live/alliance.example.org/fullchain.pem"
KEY = "/etc/letsencrypt/live/alliance.example.org/privkey.pem"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def render_nginx(
    folder: Path, *, http_port: int, https_port: int, app_port: int, static: Path | None = None
) -> Path:
    """The site config as an operator installs it, with this machine's paths and free ports,
    inside a minimal nginx.conf (Debian's includes sites-enabled/* the same way)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=alliance.example.org"]
        + ["-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True,
        capture_output=True,
    )
    if static is None:
        static = folder / "static"
        static.mkdir()
        (static / "site.css").write_text("body { color: black; }\n")
    site = (DEPLOY / "nginx" / "alliance.conf").read_text()
    for old, new in {
        CERT: str(folder / "cert.pem"),
        KEY: str(folder / "key.pem"),
        "/var/log/nginx/": f"{folder}/",
        "/var/lib/alliance/static/": f"{static}/",
        "127.0.0.1:8000": f"127.0.0.1:{app_port}",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:80;": "",
        "listen [::]:443 ssl http2;": "",
    }.items():
        assert old in site, old
        site = site.replace(old, new)
    (folder / "site.conf").write_text(site)
    main = folder / "nginx.conf"
    # Run as root, nginx's workers would be `nobody`, who cannot read pytest's private tmp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        f"{user}pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    include {folder}/site.conf;\n}}\n"
    )
    return main


def nginx(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert Path(NGINX).exists(), "nginx is missing: scripts/bootstrap installs it"
    return subprocess.run(
        [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", f"{folder}/error.log"]
        + list(args),
        capture_output=True,
        text=True,
        timeout=30,
    )


def unverified_tls() -> ssl.SSLContext:
    """The test certificate is self-signed: no verification (the test checks nginx, not a CA)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@contextmanager
def running_nginx(folder: Path) -> Iterator[None]:
    """nginx started on the config render_nginx wrote into ``folder``, stopped afterwards."""
    started = nginx(folder)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (folder / "nginx.pid").exists():
            time.sleep(0.05)
        yield
    finally:
        nginx(folder, "-s", "stop")
