"""The benchmark's summary sets ours against the peer (node-oidc-provider) for the
scenarios both ran, per app CPU-second at each connection count."""

from __future__ import annotations

from typing import Any

from bench import report


def run(scenario: str, connections: int, completed: int, app_cpu: float) -> dict[str, Any]:
    return {"scenario": scenario, "connections": connections, "round": 1,
            "requests": completed, "completed": completed, "errors": 0, "seconds": 5.0,
            "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "app_cpu": app_cpu,
            "backends_cpu": 0.0}


def summary(*runs: dict[str, Any], peer: str | None) -> dict[str, Any]:
    return report.summarize(list(runs), hash_cpu_seconds=0.1, settings={
        "rounds": 1, "seconds": 5, "workers": 2, "alg": "RS256", "peer": peer},
        rss={"provider": [100.0, 101.0], "floor": [30.0, 30.0]})


def test_ours_is_set_against_the_peer_at_each_connection_count() -> None:
    results = summary(run("floor", 8, 6000, 1.0), run("client_credentials", 8, 1000, 1.0),
                      run("peer_client_credentials", 8, 2000, 1.0),
                      run("client_credentials", 32, 1500, 1.0),
                      run("peer_client_credentials", 32, 1000, 1.0),
                      run("jwks", 8, 9000, 1.0), peer="oidc-provider 9")

    ratios = {(r["scenario"], r["connections"]): r.get("ratio_to_peer")
              for r in results["rows"]}
    assert ratios[("client_credentials", 8)] == 0.5
    assert ratios[("client_credentials", 32)] == 1.5
    assert ratios[("jwks", 8)] is None  # the peer did not run it
    assert ratios[("peer_client_credentials", 8)] is None
    assert ("- client_credentials: 0.500× at 8 conns, 1.500× at 32 conns"
            in report.markdown(results).splitlines())


def test_without_the_peer_the_summary_has_no_such_line() -> None:
    results = summary(run("floor", 8, 6000, 1.0), run("client_credentials", 8, 1000, 1.0),
                      peer=None)

    assert "peer" not in report.markdown(results)
