"""INSEE geography: which region a département belongs to (routing to the ARS / CD)."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources


@cache
def departements() -> dict[str, tuple[str, str]]:
    """{département code: (name, region code)}."""
    text = resources.files("idp.directory").joinpath("data/departements.csv").read_text("utf-8")
    return {row["code"]: (row["nom"], row["region"]) for row in csv.DictReader(io.StringIO(text))}


@cache
def regions() -> dict[str, str]:
    """{region code: name}."""
    text = resources.files("idp.directory").joinpath("data/regions.csv").read_text("utf-8")
    return {row["code"]: row["nom"] for row in csv.DictReader(io.StringIO(text))}


def region_of(departement: str) -> str | None:
    entry = departements().get(departement)
    return entry[1] if entry else None
