"""Real servers for the tests, started from the Debian binaries.

PostgreSQL refuses to run as root: when the tests run as root (CI) its binaries run as
the `postgres` OS user (created by Debian's package) in a temporary folder given to it.
"""

from __future__ import annotations

import email
import email.policy
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

import psycopg
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _require(path: str, package: str) -> str:
    if not os.path.exists(path):
        raise RuntimeError(f"{path} not found: apt-get install -y {package}")
    return path


@dataclass
class PostgresServer:
    base: str
    bindir: str
    port: int

    @staticmethod
    def _bindir() -> str:
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: int(p.split("/")[-2]))
        if not dirs:
            raise RuntimeError("PostgreSQL server not found: apt-get install -y postgresql")
        return dirs[-1]

    @staticmethod
    def _as_postgres(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)

    @classmethod
    def start(cls) -> PostgresServer:
        bindir, port = cls._bindir(), free_port()
        base = tempfile.mkdtemp(prefix="idp-test-pg-")
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        server = cls(base=base, bindir=bindir, port=port)
        try:
            server._run([f"{bindir}/initdb", "-D", f"{base}/data", "-U", "postgres",
                         "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            server.resume()
        except RuntimeError:
            shutil.rmtree(base, ignore_errors=True)
            raise
        return server

    def _run(self, cmd: list[str]) -> None:
        result = self._as_postgres(cmd)
        if result.returncode:
            raise RuntimeError(f"{cmd[0]} failed:\n{result.stdout}")

    def halt(self) -> None:
        """Stop the server, keeping its data (`resume()` starts it again)."""
        self._run([f"{self.bindir}/pg_ctl", "-D", f"{self.base}/data", "-m", "fast", "-w",
                   "stop"])

    def resume(self) -> None:
        self._run([f"{self.bindir}/pg_ctl", "-D", f"{self.base}/data", "-l",
                   f"{self.base}/server.log", "-w", "-t", "60", "-o",
                   f"-F -p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200", "start"])

    def stop(self) -> None:
        self._as_postgres([f"{self.bindir}/pg_ctl", "-D", f"{self.base}/data", "-m", "fast",
                           "-w", "stop"])
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, sql: str) -> None:
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> None:
        suffix = f" TEMPLATE {template}" if template else ""
        self._admin(f'CREATE DATABASE "{name}"{suffix}')

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls) -> RedisServer:
        binary = _require("/usr/bin/redis-server", "redis-server")
        port = free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        server = cls(process=process, port=port)
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    process.kill()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def flushall(self) -> None:
        with redis.Redis(host="127.0.0.1", port=self.port) as client:
            client.flushall()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Collector(MessageHandler):
    def __init__(self, messages: list[Message]) -> None:
        super().__init__()
        self.messages = messages

    def handle_message(self, message: Message) -> None:
        self.messages.append(message)


@dataclass
class SmtpSink:
    """An in-process SMTP server that keeps every message it receives."""

    controller: Controller
    messages: list[Message] = field(default_factory=list)

    @classmethod
    def start(cls, port: int | None = None) -> SmtpSink:
        """On `port` (e.g. one that was down until now), else on a free one."""
        messages: list[Message] = []
        # aiosmtpd 1.4 cannot bind port 0: pick a free one first.
        controller = Controller(_Collector(messages), hostname="127.0.0.1",
                                port=port or free_port())
        controller.start()
        return cls(controller=controller, messages=messages)

    @property
    def host(self) -> str:
        return self.controller.hostname

    @property
    def port(self) -> int:
        return self.controller.port

    def received(self) -> list[EmailMessage]:
        """The messages, parsed with the modern policy (decoded headers and body)."""
        return [email.message_from_bytes(m.as_bytes(), policy=email.policy.default)  # type: ignore[misc]
                for m in self.messages]

    def stop(self) -> None:
        self.controller.stop()


def body_of(message: EmailMessage) -> str:
    """The plain-text body of a received mail."""
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()
