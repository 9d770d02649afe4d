"""The peer: node-oidc-provider (bench/peer/provider.mjs), measured in the same run as
our provider on the same grant. It is installed from the npm registry into a cache
directory outside the repository (`$XDG_CACHE_HOME/idp-bench/peer`, else
`~/.cache/idp-bench/peer`), once, and run under the machine's node with node:cluster
forking as many workers as gunicorn runs ours: node runs JavaScript on one thread per
process, as a sync worker runs Python."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jwt
import requests

from bench.servers import Server, serve
from bench.world import basic

SOURCE = Path(__file__).resolve().parent / "peer"
CLIENT_ID = "bench-machine"


class Unavailable(Exception):
    """node or npm is missing, or the install failed: the peer's scenarios are skipped."""


@dataclass
class Peer:
    server: Server
    basic: str  # its client's Authorization header
    description: str  # what ran, for the report

    def scenario_data(self, scenario: str) -> dict[str, str]:
        return {"basic": self.basic} if scenario == "peer_client_credentials" else {}


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "idp-bench" / "peer"


def install() -> Path:
    """The directory holding oidc-provider (npm install, skipped when the cached
    package.json is the committed one and the package is there) and provider.mjs."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise Unavailable("node and npm are needed (apt-get install -y nodejs npm)")
    directory = cache_directory()
    directory.mkdir(parents=True, exist_ok=True)
    manifest, cached = SOURCE / "package.json", directory / "package.json"
    installed = directory / "node_modules" / "oidc-provider" / "package.json"
    if not (installed.exists() and cached.exists()
            and cached.read_text() == manifest.read_text()):
        shutil.copyfile(manifest, cached)
        try:
            out = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--omit=dev"],
                                 cwd=directory, capture_output=True, text=True, timeout=600,
                                 check=False)
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"npm install in {directory} timed out") from exc
        if out.returncode or not installed.exists():
            raise Unavailable(f"npm install in {directory} failed:\n"
                              f"{(out.stdout + out.stderr)[-2000:]}")
    # Beside its node_modules: an ES module resolves its imports from where it lies.
    shutil.copyfile(SOURCE / "provider.mjs", directory / "provider.mjs")
    return directory


def _version(directory: Path) -> str:
    package = directory / "node_modules" / "oidc-provider" / "package.json"
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return f"oidc-provider {json.loads(package.read_text())['version']}, " \
           f"node {node.stdout.strip()}"


def _check_token(peer: Peer) -> None:
    """The grant measured is the one compared: a 200 with a JWT access token signed
    RS256 (a slip in provider.mjs would give an opaque token, cheaper to issue)."""
    response = requests.post(f"{peer.server.base}/token", timeout=30,
                             headers={"Authorization": peer.basic},
                             data={"grant_type": "client_credentials"})
    token = response.json().get("access_token", "") if response.ok else ""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        header = {}
    if header.get("alg") != "RS256":
        raise RuntimeError(f"the peer's token answer is not a JWT signed RS256: "
                           f"{response.status_code} {response.text[:300]}")


@contextmanager
def running(directory: Path, workers: int, port: int, log: Path) -> Iterator[Peer]:
    """The peer on 127.0.0.1:`port`, its client's secret and signing key new each run."""
    secret = secrets.token_urlsafe(32)
    env = {"NODE_ENV": "production", "PEER_PORT": str(port), "PEER_WORKERS": str(workers),
           "PEER_CLIENT_ID": CLIENT_ID, "PEER_CLIENT_SECRET": secret}
    with serve(["node", "provider.mjs"], env, directory, "/jwks", port, log) as server:
        peer = Peer(server, basic(CLIENT_ID, secret),
                    f"{_version(directory)}, {workers} cluster workers")
        _check_token(peer)
        yield peer
