"""One wrk run of a scenario: its Lua script assembled (DATA, then lua/common.lua, then
the scenario's own file), wrk started in its own process, its summary read back."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"
WRK = "/usr/bin/wrk"


@dataclass
class Run:
    """What wrk measured: `completed` units (tokens, logins, documents) in `seconds`."""

    requests: int
    completed: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def script(scenario: str, data: dict[str, str]) -> str:
    table = ",\n".join(f"  {key} = {_lua_string(value)}" for key, value in data.items())
    parts = [f"DATA = {{\n{table}\n}}", (LUA / "common.lua").read_text(),
             (LUA / f"{scenario}.lua").read_text()]
    return "\n".join(parts)


def run(base: str, scenario: str, data: dict[str, str], connections: int,
        seconds: float) -> Run:
    if not Path(WRK).exists():
        raise SystemExit(f"{WRK} not found: apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script(scenario, data))
        lua.flush()
        # One wrk thread: the scenario's queues (refresh tokens, codes) live in one Lua
        # state, so no token is handed to two connections.
        out = subprocess.run(
            [WRK, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s",
             "-s", lua.name, base],
            capture_output=True, text=True, check=False,
        )
    if out.returncode:
        raise RuntimeError(f"wrk failed on {scenario}: {out.stdout}{out.stderr}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH-JSON "))
    raw = json.loads(line.removeprefix("BENCH-JSON "))
    return Run(requests=raw["requests"], completed=raw["completed"],
               errors=raw["errors"] + raw["unexpected"], seconds=raw["duration_us"] / 1e6,
               p50_ms=raw["p50_us"] / 1000, p95_ms=raw["p95_us"] / 1000,
               p99_ms=raw["p99_us"] / 1000)
