"""Benchmark of the entities import: N generated rows into a fresh database.

    python bench/import_entities.py [-n 100000] [--database-url postgresql+psycopg://...]

Generates N rows with valid FINESS numbers (one EJ for every ten rows, the other rows
establishments of those EJs, a few with an explicit managing OG) into a temporary CSV,
imports it into a fresh SQLite database (and into the PostgreSQL database given, which
is migrated first and should be empty), then imports it again (nothing changes) and
prints rows/second and elapsed time for both.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from idp import migrations
from idp.app import create_app
from idp.core.audit import Actor
from idp.directory.geography import departements
from idp.directory.identifiers import InvalidFiness, luhn_check_digit, validate_finess
from idp.directory.importer import import_entities
from idp.extensions import db

EJ_EVERY = 10


def finess_numbers() -> Iterator[str]:
    """Valid FINESS numbers, cycling through the départements that FINESS knows."""
    deps = []
    for dep in departements():
        probe = dep + "0" * (8 - len(dep))
        try:
            validate_finess(probe + luhn_check_digit(probe.replace("A", "0").replace("B", "0")))
        except InvalidFiness:
            continue  # e.g. the collectivities 977/978 have no FINESS numbers
        deps.append(dep)
    counter = 0
    while True:
        counter += 1
        for dep in deps:
            body = dep + str(counter).zfill(8 - len(dep))
            yield body + luhn_check_digit(body.replace("A", "0").replace("B", "0"))


def generate(path: Path, rows: int) -> None:
    numbers = finess_numbers()
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter=";")
        out.writerow(["finess", "type", "name", "city", "postal_code", "departement",
                      "finess_ej", "managing_og"])
        ej = ""
        for index in range(rows):
            finess = next(numbers)
            if index % EJ_EVERY == 0:
                ej = finess
                out.writerow([finess, "EJ", f"ASSOCIATION GESTIONNAIRE {index}", "Ville",
                              "", "", "", ""])
            else:
                # Every seventh establishment names its OG explicitly; the others get it
                # from the OG rule.
                og = ej if index % 7 == 0 else ""
                out.writerow([finess, "ET", f"ETABLISSEMENT {index}", "Ville", "", "",
                              ej, og])


def run(database_url: str, csv_path: Path, instance: Path) -> None:
    migrations.upgrade(database_url)
    app = create_app({"database": {"url": database_url},
                      "server": {"instance_path": str(instance), "secret_key": "bench"},
                      "keys": {"passphrase": "bench"}})
    data = csv_path.read_bytes()
    backend = database_url.split(":", 1)[0]
    with app.app_context():
        for attempt in ("first import", "re-import"):
            start = time.perf_counter()
            result = import_entities(data, Actor.system(), source=csv_path.name)
            db.session.commit()
            elapsed = time.perf_counter() - start
            print(f"{backend:20} {attempt:13} {result.rows:7} rows in {elapsed:6.2f} s "
                  f"= {result.rows / elapsed:8.0f} rows/s  (created {result.created}, "
                  f"updated {result.updated}, unchanged {result.unchanged}, "
                  f"OG derived {result.og_derived})", flush=True)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rows", type=int, default=100_000)
    parser.add_argument("--database-url", help="Also import into this (empty) database.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="idp-bench-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "entities.csv"
        start = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {args.rows} rows ({csv_path.stat().st_size // 1024} KiB) in "
              f"{time.perf_counter() - start:.2f} s")
        run(f"sqlite:///{folder / 'bench.sqlite3'}", csv_path, folder / "instance")
        if args.database_url:
            run(args.database_url, csv_path, folder / "instance")


if __name__ == "__main__":
    main()
