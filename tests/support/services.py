"""Real servers for the tests, started from the Debian binaries.

PostgreSQL refuses to run as root: when the tests run as root (CI) its binaries run as
the `postgres` OS user (created by Debian's package) in a temporary folder given to it.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
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
        with contextlib.suppress(RuntimeError):  # already halted
            self.halt()
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
    def start(cls, *options: str) -> RedisServer:
        """A server on a free port; `options` add to its command line (`--replicaof`)."""
        port = free_port()
        return cls.launch(["--port", str(port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--protected-mode", "yes", *options], port)

    @classmethod
    def launch(cls, arguments: list[str], port: int) -> RedisServer:
        """Run redis-server with `arguments` and wait until it answers on `port`."""
        binary = _require("/usr/bin/redis-server", "redis-server")
        process = subprocess.Popen([binary, *arguments],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def _replicated(primary: RedisServer) -> bool:
    """A replica has all that `primary` wrote."""
    with redis.Redis(port=primary.port) as client:
        return int(client.wait(1, 1000)) >= 1


@dataclass
class SentinelSet:
    """A Redis primary, its replica and a Sentinel watching them under `SERVICE`."""

    SERVICE = "plage"
    primary: RedisServer
    replica: RedisServer
    sentinel: RedisServer

    @classmethod
    def start(cls, folder: str) -> SentinelSet:
        # Their files (a replica keeps what it receives) in the test's folder.
        homes = [os.path.join(folder, name) for name in ("primary", "replica")]
        for home in homes:
            os.makedirs(home)
        primary = RedisServer.start("--dir", homes[0], "--repl-diskless-sync-delay", "0")
        replica = RedisServer.start("--dir", homes[1], "--replicaof", "127.0.0.1",
                                    str(primary.port))
        # Attached before Sentinel starts: it learns of replicas from the primary, at once
        # when it starts, then only every ten seconds.
        cls.wait_for(lambda: _replicated(primary))
        port = free_port()
        config = os.path.join(folder, "sentinel.conf")  # Sentinel rewrites it: its own
        with open(config, "w") as fh:
            fh.write(f"port {port}\nbind 127.0.0.1\n"
                     f"sentinel monitor {cls.SERVICE} 127.0.0.1 {primary.port} 1\n"
                     f"sentinel down-after-milliseconds {cls.SERVICE} 2000\n"
                     f"sentinel failover-timeout {cls.SERVICE} 10000\n")
        sentinel = RedisServer.launch([config, "--sentinel"], port)
        found = cls(primary=primary, replica=replica, sentinel=sentinel)
        found.wait_for(found.sees_replica)
        return found

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel.port}/{self.SERVICE}/0"

    def primary_port(self) -> int:
        with redis.Redis(port=self.sentinel.port) as client:
            return int(client.sentinel_get_master_addr_by_name(self.SERVICE)[1])

    def sees_replica(self) -> bool:
        """Sentinel knows a replica it could promote."""
        with redis.Redis(port=self.sentinel.port) as client:
            return any(replica.get("master-link-status") == "ok"
                       for replica in client.sentinel_slaves(self.SERVICE))

    def failover(self) -> None:
        """Promote the replica, as Sentinel does when the primary fails, and wait until
        the promoted server takes writes."""
        assert _replicated(self.primary)  # nothing written is lost
        with redis.Redis(port=self.sentinel.port) as client:
            client.sentinel_failover(self.SERVICE)
        self.wait_for(lambda: self.primary_port() == self.replica.port)
        with redis.Redis(port=self.replica.port) as promoted:
            self.wait_for(lambda: promoted.role()[0] == b"master")

    @staticmethod
    def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError("Redis Sentinel: condition not met in time")
            time.sleep(0.1)

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.primary):
            server.stop()


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
