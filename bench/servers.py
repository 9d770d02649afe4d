"""The servers a benchmark run measures: PostgreSQL and Redis from the Debian binaries
(started as the test suite starts them), the provider and the Flask floor under
gunicorn, the peer under node (bench/peer.py), and the CPU time and memory of their
process trees read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.services import PostgresServer, RedisServer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry))
    return tree


def process_tree(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """CPU time of `root` and its descendants, those already reaped included (their time
    moved into their parent's cutime/cstime)."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_KIB / 1024


@dataclass
class Server:
    """An HTTP server on the loopback: a process that forks its workers."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def worker_rss(self) -> list[float]:
        return [rss_mib(pid) for pid in process_tree(self.process.pid)[1:]]


@contextmanager
def serve(command: list[str], env: dict[str, str], cwd: Path, probe: str, port: int,
          log: Path) -> Iterator[Server]:
    """The server's output (the provider's request log) goes to the file `log`, as it
    would go to a journal: written to the bench's terminal or pipe, each line could wait
    for the reader and slow the server down."""
    with log.open("ab") as output:
        process = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd,
                                   stdout=output, stderr=output)
    server = Server(process, port)
    try:
        try:
            _wait_for(server.base + probe, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its output:\n{log.read_text()[-4000:]}") from exc
        yield server
    finally:
        process.terminate()
        process.wait(30)


def gunicorn(app: str, env: dict[str, str], workers: int, probe: str,
             port: int, log: Path) -> AbstractContextManager[Server]:
    """`app` under gunicorn: `workers` sync workers, no access log."""
    return serve([sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "sync",
                  "-b", f"127.0.0.1:{port}", "--log-level", "warning", app],
                 env, Path(__file__).resolve().parents[1], probe, port, log)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # a loaded machine boots workers slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}) before serving")
        try:
            if requests.get(url, timeout=30).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within 120 s")


@dataclass
class Backends:
    postgres: PostgresServer
    redis: RedisServer

    def cpu(self) -> float:
        postmaster = int(Path(f"{self.postgres.base}/data/postmaster.pid").read_text()
                         .split()[0])
        return cpu_seconds(postmaster) + cpu_seconds(self.redis.process.pid)


@contextmanager
def backends() -> Iterator[Backends]:
    postgres = PostgresServer.start()
    try:
        redis = RedisServer.start()
        try:
            yield Backends(postgres, redis)
        finally:
            redis.stop()
    finally:
        postgres.stop()
