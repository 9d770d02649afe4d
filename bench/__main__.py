"""The benchmark suite: the provider in its production shape, measured against the
Flask floor in the same run.

    .venv/bin/python -m bench [--rounds 3] [--seconds 5] [--connections 8,32]
                              [--scenarios client_credentials,refresh,...] [--alg RS256]
                              [--label NAME] [--compare bench/results/OTHER.json]
                              [--profile] [--accounts 1000] [--entities 1000]
    .venv/bin/python -m bench build --accounts 1000000 --entities 100000

PostgreSQL and Redis are started from the Debian binaries, the provider and a trivial
Flask `jsonify` endpoint each under gunicorn (2 sync workers), node-oidc-provider under
node (2 cluster workers, bench/peer.py) when a peer_ scenario is asked for, and wrk
drives every scenario at each connection count, round after round (interleaved, so that
the noise of a shared machine falls on all of them alike). Printed and written to
bench/results/NAME.{json,md}: median units/s, p50/p95/p99 latency, errors, units per
CPU-second of the server's process tree (read from /proc), that figure with PostgreSQL
and Redis counted in, the ratio to the floor's (and ours to the peer's), and the RSS
of each worker. The
directory is first filled to --accounts and --entities (bench/builder.py), so that the
same scenarios run at 1k and at 1M accounts; `build` alone times that filling.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import builder, peer, profile, report, world, wrk
from bench.servers import Server, backends, gunicorn
from tests.support.services import free_port

# scenario -> (Lua script, fixed data); "floor" is served by the Flask floor, peer_*
# by node-oidc-provider, with the same scripts as ours.
SCENARIOS: dict[str, tuple[str, dict[str, str]]] = {
    "floor": ("get", {"path": "/"}),
    "client_credentials": ("client_credentials", {}),
    "refresh": ("refresh", {}),
    "silent_login": ("silent_login", {}),
    "password_login": ("password_login", {}),
    "userinfo": ("userinfo", {}),
    "introspection": ("introspection", {}),
    "jwks": ("get", {"path": "/jwks"}),
    "discovery": ("get", {"path": "/.well-known/openid-configuration"}),
    "entity_autocomplete": ("entity_autocomplete", {}),
    "request_queue": ("request_queue", {}),
    "peer_client_credentials": ("client_credentials", {}),
    "peer_jwks": ("get", {"path": "/jwks"}),
}
WORKERS = 2
RESULTS = Path(__file__).resolve().parent / "results"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    parser.add_argument("--connections", default="8,32")
    parser.add_argument("--scenarios", type=lambda v: v.split(","),
                        default=",".join(s for s in SCENARIOS if s != "floor"))
    parser.add_argument("--alg", default="RS256", help="the relying application's ID tokens")
    parser.add_argument("--label", default="latest", help="name of the result files")
    parser.add_argument("--compare", type=Path, help="an earlier result file (JSON)")
    parser.add_argument("--accounts", type=int, default=1000,
                        help="accounts of the directory built first (bench/builder.py)")
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the workers during each scenario's first run; the "
                             "stacks go to bench/results/NAME-profile-SCENARIO.txt")
    args = parser.parse_args()
    if args.compare and not args.compare.exists():
        parser.error(f"{args.compare} not found")
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def _environment(settings: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {f"IDP_{section.upper()}__{key.upper()}": str(value)
            for section, values in settings.items() for key, value in values.items()}


@dataclass
class Targets:
    """The servers a run measures; `peer` is None when no peer_ scenario runs."""

    idp: Server
    floor: Server
    peer: peer.Peer | None


def _target(name: str, targets: Targets, browsers: builder.Browsers,
            connections: int) -> tuple[Server, dict[str, str]]:
    """The server a scenario runs against and the data its script needs (beyond the
    fixed data of SCENARIOS)."""
    if name == "floor":
        return targets.floor, {}
    if name.startswith("peer_"):
        assert targets.peer is not None  # else _install_peer dropped the peer_ scenarios
        return targets.peer.server, targets.peer.scenario_data(name)
    if SCENARIOS[name][0] == "get":
        return targets.idp, {}
    return targets.idp, builder.scenario_data(name, browsers, connections)


def measure(args: argparse.Namespace, targets: Targets, browsers: builder.Browsers,
            backend_cpu: Any) -> list[dict[str, Any]]:
    runs = []
    scenarios = ["floor", *args.scenarios]
    first = int(args.connections.split(",")[0])
    for round_ in range(1, args.rounds + 1):
        for connections in (int(c) for c in args.connections.split(",")):
            for name in scenarios:
                lua, fixed = SCENARIOS[name]
                server, data = _target(name, targets, browsers, connections)
                spy = None
                if args.profile and round_ == 1 and connections == first \
                        and server is targets.idp:
                    stacks = RESULTS / f"{args.label}-profile-{name}.txt"
                    spy = profile.start(server.process.pid, args.seconds, stacks)
                app_before, backends_before = server.cpu(), backend_cpu()
                result = wrk.run(server.base, lua, {**fixed, **data}, connections,
                                 args.seconds)
                if spy is not None:
                    spy.wait()
                    _print_profile(name, stacks)
                app_cpu = server.cpu() - app_before
                backends_cpu = (backend_cpu() - backends_before if server is targets.idp
                                else 0.0)
                runs.append({"scenario": name, "connections": connections, "round": round_,
                             **vars(result), "app_cpu": app_cpu, "backends_cpu": backends_cpu})
                print(f"round {round_} c={connections:<3} {name:<24} "
                      f"{result.completed / result.seconds:8.1f}/s  "
                      f"{result.completed / max(app_cpu, 1e-9):8.1f}/CPU-s  "
                      f"errors {result.errors}", flush=True)
    return runs


def _install_peer(args: argparse.Namespace) -> Path | None:
    """Where the peer is installed when a peer_ scenario is asked for; if it cannot be,
    those scenarios are dropped (the others still run), with a word why."""
    asked = [name for name in args.scenarios if name.startswith("peer_")]
    if not asked:
        return None
    try:
        return peer.install()
    except peer.Unavailable as exc:
        print(f"{exc}\nSkipping {', '.join(asked)}.", file=sys.stderr, flush=True)
        args.scenarios = [name for name in args.scenarios if name not in asked]
        return None


def _print_profile(scenario: str, stacks: Path) -> None:
    print(f"profile of {scenario}: share of the samples in which each function is")
    for frame, share in profile.top(stacks):
        print(f"  {share:6.1%}  {frame}")


def main() -> None:
    if sys.argv[1:2] == ["build"]:
        builder.main(sys.argv[2:])
        return
    args = _arguments()
    peer_directory = _install_peer(args)
    # Stopped from outside: still stop the servers it started (the `with` blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="idp-bench-") as tmp, backends() as servers:
        servers.postgres.create_database("bench")
        port = free_port()
        settings: dict[str, dict[str, Any]] = {
            "server": {"issuer": f"http://127.0.0.1:{port}", "instance_path": tmp,
                       "secret_key": secrets.token_urlsafe(32)},
            "database": {"url": servers.postgres.url("bench")},
            "redis": {"url": servers.redis.url},
            "keys": {"passphrase": secrets.token_urlsafe(16)},
        }
        data = world.build(settings, args.alg.upper())
        directory = builder.fill(settings, args.accounts, args.entities)
        hash_cpu = world.hash_cpu_seconds()
        with gunicorn("idp:create_app()", _environment(settings), WORKERS, "/jwks",
                      port, Path(tmp) / "provider.log") as idp, \
             gunicorn("bench.floor:create_app()", {}, WORKERS, "/", free_port(),
                      Path(tmp) / "floor.log") as floor, \
             (peer.running(peer_directory, WORKERS, free_port(), Path(tmp) / "peer.log")
              if peer_directory else nullcontext()) as node:
            browsers = builder.Browsers(world.Browser(idp.base, data),
                                        world.Browser(idp.base, replace(
                                            data, identifier=directory.administrator)))
            runs = measure(args, Targets(idp, floor, node), browsers, servers.cpu)
            rss = {"provider": idp.worker_rss(), "floor": floor.worker_rss(),
                   **({"peer": node.server.worker_rss()} if node else {})}
            peer_description = node.description if node else None
    results = report.summarize(runs, rss=rss, hash_cpu_seconds=hash_cpu, settings={
        "rounds": args.rounds, "seconds": args.seconds, "workers": WORKERS,
        "alg": args.alg.upper(), "connections": args.connections,
        "accounts": args.accounts, "entities": args.entities,
        "build_seconds": round(directory.seconds, 1), "peer": peer_description})
    earlier = json.loads(args.compare.read_text()) if args.compare else None
    markdown = report.markdown(results, earlier)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.label}.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / f"{args.label}.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
