"""Reading what operators read: a Prometheus scrape, the provider's JSON log lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """The samples of one scrape of /metrics."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        return cls({(s.name, frozenset(s.labels.items())): s.value
                    for family in text_string_to_metric_families(text)
                    for s in family.samples})

    @classmethod
    def of(cls, base: str) -> Scrape:
        response = requests.get(f"{base}/metrics", timeout=10)
        assert response.status_code == 200, response.text
        return cls.parse(response.text)

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 for a series not exported yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def __sub__(self, before: Scrape) -> Scrape:
        """What moved since `before` (metrics are per process: tests compare)."""
        return Scrape({key: value - before.value(key[0], **dict(key[1]))
                       for key, value in self.samples.items()})


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of `text` (gunicorn's own lines are plain text: skipped)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def request_lines(text: str) -> list[dict[str, Any]]:
    """The request lines (one per request served)."""
    return [line for line in json_lines(text) if line["logger"] == "idp.access"]
