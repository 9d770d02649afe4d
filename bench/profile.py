"""A py-spy profile of the provider's workers while wrk drives one scenario: the raw
collapsed stacks, and the functions that hold most of the samples (inclusive).

Only samples holding the GIL are kept (`--gil`): the bench counts CPU time, and a worker
waiting for PostgreSQL or Redis releases it, so waits would otherwise look like cost."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).with_name("py-spy")
# py-spy writes frames as "function (path/to/file.py:line)".
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^:]*)(?::\d+)?\)$")


def start(master_pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} not found: .venv/bin/pip install py-spy")
    return subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(master_pid), "--subprocesses", "--format", "raw",
         "--rate", "250", "--gil", "--duration", str(max(1, round(seconds))), "--nonblocking",
         "-o", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(raw: str) -> str:
    found = FRAME.match(raw)
    if not found:
        return raw
    path = found["path"]
    short = path.split("site-packages/")[-1] if "site-packages/" in path else \
        path.split("/idp/")[-1] if "/idp/" in path else path
    return f"{found['function']} ({short})"


def top(collapsed: Path, count: int = 30) -> list[tuple[str, float]]:
    """The `count` frames present in most samples, with their share of all samples."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        total += int(samples)
        for frame in {_frame(raw) for raw in stack.split(";")}:
            inclusive[frame] += int(samples)
    return [(frame, n / total) for frame, n in inclusive.most_common(count)] if total else []
