"""The provider under gunicorn, as production runs it (`-c python:idp.ops.gunicorn`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.support.apps import AppFactory
from tests.support.oidc import Provider
from tests.support.services import free_port

WORKERS = 4


@contextmanager
def gunicorn_serving(make_app: AppFactory, database_url: str, redis_url: str, tmp_path: Path,
                     issuer: str | None = None, workers: int = WORKERS,
                     proxy_hops: int = 0, env: dict[str, str] | None = None,
                     output: Path | None = None) -> Iterator[Provider]:
    """gunicorn serving the provider on a free port of 127.0.0.1 (its issuer `issuer`,
    by default that address), with the test's own app on the same database and store.

    `env` adds to its environment; what it writes (the provider's log lines too) goes to
    `output`, by default a file in `tmp_path`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    issuer = issuer or base
    instance = tmp_path / "shared-instance"
    local = make_app(database_url, redis_url,
                     server={"issuer": issuer, "instance_path": str(instance)})
    with local.app_context():
        from idp.core.audit import Actor
        from idp.keys import service as keys

        keys.ensure_keys("test-passphrase", Actor(label="test"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    environment.update(IDP_DATABASE__URL=database_url, IDP_REDIS__URL=redis_url,
                       IDP_SERVER__ISSUER=issuer, IDP_SERVER__INSTANCE_PATH=str(instance),
                       IDP_SERVER__PROXY_HOPS=str(proxy_hops),
                       IDP_SERVER__SECRET_KEY="test-secret-key",
                       IDP_KEYS__PASSPHRASE="test-passphrase", **(env or {}))
    output = output or tmp_path / f"gunicorn-{port}.log"
    with output.open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "python:idp.ops.gunicorn",
             "-w", str(workers), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "2",
             "idp:create_app()"],
            env=environment, stdout=sink, stderr=subprocess.STDOUT, text=True,
        )
    try:
        deadline = time.monotonic() + 90  # workers booting on a busy CI machine
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet, or the workers are still booting
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                server.wait()
                pytest.fail(f"gunicorn did not start:\n{output.read_text()}")
            time.sleep(0.2)
        yield Provider(app=local, issuer=base)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
