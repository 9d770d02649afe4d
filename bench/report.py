"""The figures of a run: medians over rounds per scenario and connection count, the
ratios to the Flask floor and, where the peer ran the same scenario, ours to the peer's,
as JSON and as a Markdown table."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _per_cpu(run: dict[str, Any], backends: bool) -> float:
    cpu = run["app_cpu"] + (run["backends_cpu"] if backends else 0.0)
    return run["completed"] / cpu if cpu > 0 else 0.0


def summarize(runs: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[(run["scenario"], run["connections"])].append(run)
    rows = []
    for (scenario, connections), group in groups.items():
        rows.append({
            "scenario": scenario, "connections": connections,
            "per_second": _median([r["completed"] / r["seconds"] for r in group]),
            "p50_ms": _median([r["p50_ms"] for r in group]),
            "p95_ms": _median([r["p95_ms"] for r in group]),
            "p99_ms": _median([r["p99_ms"] for r in group]),
            "errors": sum(r["errors"] for r in group),
            "per_cpu_second": _median([_per_cpu(r, backends=False) for r in group]),
            "per_cpu_second_with_backends": _median([_per_cpu(r, backends=True)
                                                     for r in group]),
        })
    floors = {row["connections"]: row["per_cpu_second"] for row in rows
              if row["scenario"] == "floor"}
    peers = {(row["scenario"].removeprefix("peer_"), row["connections"]): row["per_cpu_second"]
             for row in rows if row["scenario"].startswith("peer_")}
    for row in rows:
        floor = floors.get(row["connections"])
        row["ratio_to_floor"] = row["per_cpu_second"] / floor if floor else None
        peer = peers.get((row["scenario"], row["connections"]))
        if peer:
            row["ratio_to_peer"] = row["per_cpu_second"] / peer
    return {**context, "rows": rows, "runs": runs}


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}×"


def _login_to_hash(results: dict[str, Any]) -> str:
    """The password login's rate per CPU-second as a share of the bare hash's."""
    logins = [r["per_cpu_second"] for r in results["rows"] if r["scenario"] == "password_login"]
    if not logins or not results["hash_cpu_seconds"]:
        return ""
    return f" (password login: {max(logins) * results['hash_cpu_seconds']:.2f}× the hash rate)"


def _to_peer(results: dict[str, Any]) -> list[str]:
    """One line per scenario the peer ran too: ours per app CPU-second over the peer's."""
    ratios: dict[str, list[str]] = defaultdict(list)
    for row in results["rows"]:
        if "ratio_to_peer" in row:
            ratios[row["scenario"]].append(f"{_ratio(row['ratio_to_peer'])} at "
                                           f"{row['connections']} conns")
    if not ratios:
        return []
    return ["", f"Ours to the peer ({results['settings']['peer']}), per app CPU-s:", "",
            *(f"- {scenario}: {', '.join(cells)}" for scenario, cells in ratios.items())]


def markdown(results: dict[str, Any], earlier: dict[str, Any] | None = None) -> str:
    before = {(r["scenario"], r["connections"]): r for r in (earlier or {}).get("rows", [])}
    settings = results["settings"]
    head = ["scenario", "conns", "units/s", "p50 ms", "p95 ms", "p99 ms", "errors",
            "per app CPU-s", "with PG+Redis", "ratio to floor"]
    if earlier:
        head += ["before: per CPU-s", "before: ratio"]
    lines = [
        f"{settings['rounds']} rounds of {settings['seconds']:g} s, "
        f"{settings['workers']} gunicorn sync workers, ID tokens {settings['alg']}; "
        f"one argon2id hash: {results['hash_cpu_seconds'] * 1000:.0f} ms of CPU"
        f"{_login_to_hash(results)}; "
        "worker RSS (MiB): " + "; ".join(
            f"{server} " + ", ".join(f"{mib:.0f}" for mib in workers)
            for server, workers in results["rss"].items()),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
    ]
    for row in results["rows"]:
        cells = [row["scenario"], str(row["connections"]), f"{row['per_second']:.1f}",
                 f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}", f"{row['p99_ms']:.1f}",
                 str(row["errors"]), f"{row['per_cpu_second']:.1f}",
                 f"{row['per_cpu_second_with_backends']:.1f}", _ratio(row["ratio_to_floor"])]
        if earlier:
            old = before.get((row["scenario"], row["connections"]))
            cells += [f"{old['per_cpu_second']:.1f}" if old else "",
                      _ratio(old["ratio_to_floor"]) if old else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, *_to_peer(results)]) + "\n"
