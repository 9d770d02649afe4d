"""Import of entities from a FINESS-extract-like CSV file (idempotent upsert, all or nothing).

The file is UTF-8 (with or without a byte-order mark); the separator is `;` or `,`, chosen
from the header line. The header names the columns, in any order; unknown columns are
ignored, so a wider extract can be imported as is:

- `finess`: the FINESS number (9 characters, Luhn key; `2A`/`2B` for Corsica). It is also
  the entity's code. Either `finess` or `code` is required on every row.
- `code`: the code of an entity without FINESS (e.g. `CNG00SAGA`, `ARS27`); when both are
  given they must be equal.
- `type` (required): `ET` (établissement géographique), `EJ` (entité juridique), `ARS`,
  `CD` (conseil départemental) or `NAT` (national operator).
- `name` (required): the raison sociale.
- `city`, `postal_code` (5 digits): optional.
- `departement`: the INSEE code (`01`...`95`, `2A`, `2B`, `971`...). Taken from the FINESS
  when empty; when both are given they must agree. Required for a CD.
- `region`: the INSEE region code, normally derived from the département; give it for
  an entity without département (an ARS). Required (one way or the other) for an ARS.
- `finess_ej`: for an ET, its legal entity (an EJ of the file or of the directory).
- `managing_og`: for an ET, the EJ of the organisme gestionnaire that manages it.
  Optional: when empty and its `finess_ej` has two establishments or more
  (`rules.OG_MIN_ESTABLISHMENTS`), that EJ is the OG.

Each row is upserted on its code: a new code creates an entity, a known one updates it
(only when something differs). Every row is checked before anything is written; errors
are reported as "line N: message" (N is the physical line of the file, the header being
line 1) and any error rejects the whole file. Entities absent from the file are left
alone, and the `active` flag is never changed by an import.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from sqlalchemy import select

from idp.core.audit import Actor, record
from idp.core.clock import utcnow
from idp.core.errors import RuleViolation
from idp.directory.enums import EntityType
from idp.directory.folding import entity_search_text
from idp.directory.geography import departements, region_of, regions
from idp.directory.identifiers import InvalidFiness, finess_departement, validate_finess
from idp.directory.models import Entity
from idp.directory.rules import OG_MIN_ESTABLISHMENTS
from idp.extensions import db, upsert_insert

# (phase, done, total): phase is "checking" then "writing"; done/total count file rows.
ProgressCallback = Callable[[str, int, int], None]

COLUMNS = ("finess", "code", "type", "name", "city", "postal_code", "departement", "region",
           "finess_ej", "managing_og")
# Rows per INSERT ... ON CONFLICT round trip: large enough to amortise the round trip,
# small enough to keep memory flat and the progress bar moving.
BATCH_SIZE = 5000
# How many errors the one-line message of a rejected file quotes.
QUOTED_ERRORS = 5

_table = Entity.__table__
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_.-]*$")
_POSTAL_CODE = re.compile(r"^[0-9]{5}$")
_LENGTHS = {name: _table.c[name].type.length
            for name in ("code", "name", "city", "postal_code", "region")}
_COLUMN_NAMES = {"name": "la raison sociale", "city": "la ville"}
# The columns an import writes; parent links are written for establishments (ET) only.
_DATA = ("code", "finess", "type", "name", "city", "postal_code", "departement", "region")
_LINKS = ("parent_id", "managing_og_id")


class Problem(NamedTuple):
    """Why a line cannot be imported: `column` names the field at fault ("" for the
    line or the file as a whole), so that a form shows the message next to it."""

    line: int
    column: str
    message: str


class ImportRejected(RuleViolation):
    """The file has errors; nothing was written. `problems` holds them all, by line;
    `errors` the same as "line N: ..." messages (the command line's)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        self.errors = [f"line {p.line}: {p.message}" for p in self.problems]
        quoted = "; ".join(self.errors[:QUOTED_ERRORS])
        more = len(self.errors) - QUOTED_ERRORS
        suffix = f"; and {more} more" if more > 0 else ""
        count = f"{len(self.errors)} error{'s' if len(self.errors) > 1 else ''}"
        super().__init__(f"import rejected, nothing changed ({count}): {quoted}{suffix}")


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Establishments whose managing OG was derived from their EJ (the OG rule).
    og_derived: int = 0
    # Entities absent from the file updated because the file made their EJ an OG.
    others_updated: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class EntityRow:
    """One row of entity data as read from a file (every value a stripped string)."""

    line: int
    values: Mapping[str, str]


# --- reading --------------------------------------------------------------------------


def read_csv(data: bytes) -> list[EntityRow]:
    """Decode and split the file; raises ImportRejected for what makes it unreadable."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportRejected([Problem(
            line, "", "le fichier n'est pas en UTF-8 (enregistrez-le en « CSV UTF-8 »)")]
        ) from None
    header_line = text.split("\n", 1)[0]
    if not header_line.strip():
        raise ImportRejected([Problem(1, "", "fichier vide ou ligne d'en-tête vide")])
    # The header names contain neither separator, so counting them there is a reliable
    # sniff (csv.Sniffer guesses from the data lines and trips on commas in names).
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[EntityRow] = []
    errors: list[Problem] = []
    header: list[str] | None = None
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue  # blank line
            if header is None:
                header = [_column_name(f) for f in fields]
                errors.extend(Problem(line, "", e) for e in _check_header(header))
                if errors:
                    break
                continue
            if len(fields) != len(header):
                errors.append(Problem(line, "", f"{len(fields)} champs alors que l'en-tête "
                                      f"en compte {len(header)} (vérifiez le séparateur et "
                                      "les guillemets)"))
                continue
            rows.append(EntityRow(line, {name: value.strip()
                                         for name, value in zip(header, fields, strict=True)
                                         if name in COLUMNS}))
    except csv.Error as exc:
        errors.append(Problem(start, "", f"CSV illisible ({exc})"))
    if header is None and not errors:
        errors.append(Problem(1, "", "fichier vide (une ligne d'en-tête est attendue)"))
    if errors:
        raise ImportRejected(errors)
    return rows


def _column_name(raw: str) -> str:
    return raw.strip().lower().replace(" ", "_").replace("-", "_")


def _check_header(header: list[str]) -> list[str]:
    problems = []
    missing = [name for name in ("type", "name") if name not in header]
    if missing:
        problems.append(f"colonne(s) manquante(s) : {', '.join(missing)}")
    if "finess" not in header and "code" not in header:
        problems.append("une colonne `finess` ou `code` est obligatoire")
    duplicates = sorted(name for name, n in Counter(header).items() if n > 1 and name)
    if duplicates:
        problems.append(f"colonne(s) en double : {', '.join(duplicates)}")
    return problems


# --- checking -------------------------------------------------------------------------


@dataclass
class _Checked:
    line: int
    data: dict[str, Any]  # the _DATA columns, ready to write
    ej_ref: str | None
    og_ref: str | None


class _Existing(NamedTuple):
    id: int
    code: str
    finess: str | None
    type: EntityType
    name: str
    city: str | None
    postal_code: str | None
    departement: str | None
    region: str | None
    parent_id: int | None
    managing_og_id: int | None


def _check_row(row: EntityRow) -> tuple[_Checked | None, list[tuple[str, str]]]:
    """Normalise one row; returns it, or the reasons it cannot be imported as
    (column, message) pairs."""
    v = row.values
    errors: list[tuple[str, str]] = []

    def get(name: str) -> str:
        return v.get(name, "")

    finess = None
    if get("finess"):
        try:
            finess = validate_finess(get("finess"))
        except InvalidFiness as exc:
            errors.append(("finess", str(exc)))
    code = get("code").upper()
    if finess and code and code != finess:
        errors.append(("code", f"le code {code} diffère du FINESS {finess} (le FINESS est "
                               "le code de l'entité)"))
    code = finess or code
    if not code and not get("finess"):
        errors.append(("code", "un FINESS ou un code est obligatoire"))
    elif code and (not _CODE.match(code) or len(code) > _LENGTHS["code"]):
        errors.append(("code", f"code « {code} » invalide (lettres, chiffres, . _ - ; "
                               f"{_LENGTHS['code']} caractères au plus)"))

    raw_type = get("type").upper()
    entity_type = EntityType(raw_type) if raw_type in EntityType.__members__ else None
    if entity_type is None:
        errors.append(("type", f"type « {get('type')} » inconnu (attendu : "
                               f"{', '.join(t.value for t in EntityType)})"))

    name = get("name")
    if not name:
        errors.append(("name", "la raison sociale est vide"))
    for column in ("name", "city"):
        if len(get(column)) > _LENGTHS[column]:
            errors.append((column, f"{_COLUMN_NAMES[column]} dépasse {_LENGTHS[column]} "
                                   "caractères"))
    postal_code = get("postal_code")
    if postal_code and not _POSTAL_CODE.match(postal_code):
        errors.append(("postal_code", f"le code postal « {postal_code} » ne compte pas "
                                      "5 chiffres"))

    departement = get("departement").upper()
    if len(departement) == 1 and departement.isdigit():
        departement = "0" + departement  # a spreadsheet dropped the leading zero
    if departement and departement not in departements():
        errors.append(("departement", f"département « {get('departement')} » inconnu"))
    if finess:
        from_finess = finess_departement(finess)
        if departement and departement != from_finess:
            errors.append(("departement", f"le FINESS {finess} appartient au département "
                                          f"{from_finess}, pas au {departement}"))
        departement = departement or from_finess

    region = get("region")
    if region and region not in regions():
        errors.append(("region", f"région « {region} » inconnue"))
    if departement and departement in departements():
        derived = region_of(departement)
        if region and derived != region:
            errors.append(("region", f"le département {departement} est dans la région "
                                     f"{derived}, pas dans la {region}"))
        region = derived or region
    if region and len(region) > _LENGTHS["region"]:
        # The overseas collectivities (975, 977, 978) have 3-character "region" codes
        # that the entities table cannot hold; they have no ARS region either.
        region = ""

    if entity_type == EntityType.CD and not departement:
        errors.append(("departement", "un CD a besoin de son département"))
    if entity_type == EntityType.ARS and not region:
        errors.append(("region", "une ARS a besoin de sa région (colonne region)"))
    ej_ref = _reference(get("finess_ej"))
    og_ref = _reference(get("managing_og"))
    if entity_type not in (EntityType.ET, None):
        errors.extend((column, f"{column} ne concerne que les établissements (ET)")
                      for column, ref in (("finess_ej", ej_ref), ("managing_og", og_ref)) if ref)
    if errors:
        return None, errors
    data = {"code": code, "finess": finess, "type": entity_type, "name": name,
            "city": get("city") or None, "postal_code": postal_code or None,
            "departement": departement or None, "region": region or None}
    return _Checked(row.line, data, ej_ref, og_ref), []


def _reference(raw: str) -> str | None:
    return "".join(raw.split()).upper() or None


class _Resolver:
    """Finds what a reference names: a row of the file first, then the directory."""

    def __init__(self, rows: Mapping[str, _Checked], by_code: Mapping[str, _Existing],
                 by_finess: Mapping[str, _Existing]) -> None:
        self.rows, self.by_code, self.by_finess = rows, by_code, by_finess

    def resolve(self, ref: str) -> tuple[str, EntityType] | None:
        """(code, type) of the entity `ref` names, or None."""
        if ref in self.rows:
            return ref, self.rows[ref].data["type"]
        existing = self.by_code.get(ref) or self.by_finess.get(ref)
        return (existing.code, existing.type) if existing else None


# --- the import -----------------------------------------------------------------------


def import_entities(data: bytes, actor: Actor, *, source: str = "csv",
                    progress: ProgressCallback | None = None) -> ImportResult:
    """Import a CSV file (bytes) of entities; see the module docstring for the format.

    Adds the changes and one audit event to the session; the caller commits. Raises
    ImportRejected (nothing written) when any row is wrong.
    """
    result = upsert_entities(read_csv(data), progress=progress)
    record(actor, "entities.import", source=source, **result.as_dict())
    return result


def check_file(data: bytes) -> int:
    """Check a whole file against the directory without writing anything; returns its
    number of rows, or raises ImportRejected (what `import_entities` would raise)."""
    rows = read_csv(data)
    _plan(rows, lambda _phase, _done, _total: None)
    return len(rows)


def upsert_entities(rows: Sequence[EntityRow],
                    progress: ProgressCallback | None = None) -> ImportResult:
    """Check every row, then upsert them all (or raise ImportRejected and write nothing)."""
    report = progress or (lambda _phase, _done, _total: None)
    return _write(*_plan(rows, report), report, len(rows))


class _Plan(NamedTuple):
    checked: dict[str, _Checked]
    links: dict[str, tuple[str | None, str | None]]  # ET code -> (EJ code, OG code)
    existing: list[_Existing]
    by_code: dict[str, _Existing]


def _plan(rows: Sequence[EntityRow], report: ProgressCallback) -> _Plan:
    """Every row checked against the file and the directory, with the links resolved;
    raises ImportRejected with every problem found."""
    total = len(rows)
    db.session.flush()  # the snapshot below must see the session's pending entities
    existing = [_Existing(*r) for r in db.session.execute(
        select(*(_table.c[name] for name in _Existing._fields)))]
    by_code = {e.code: e for e in existing}
    by_finess = {e.finess: e for e in existing if e.finess}

    checked: dict[str, _Checked] = {}
    errors: list[Problem] = []
    for done, row in enumerate(rows, 1):
        item, problems = _check_row(row)
        errors.extend(Problem(row.line, column, message) for column, message in problems)
        if item is not None:
            code = item.data["code"]
            owner = by_finess.get(item.data["finess"]) if item.data["finess"] else None
            if code in checked:
                errors.append(Problem(row.line, "code", f"{code} figure déjà ligne "
                                                        f"{checked[code].line}"))
            elif owner is not None and owner.code != code:
                errors.append(Problem(row.line, "finess", f"le FINESS {code} appartient à "
                                                          f"l'entité {owner.code}"))
            else:
                checked[code] = item
        if done % 1000 == 0 or done == total:
            report("checking", done, total)

    resolver = _Resolver(checked, by_code, by_finess)
    links: dict[str, tuple[str | None, str | None]] = {}
    for code, item in checked.items():
        if item.data["type"] != EntityType.ET:
            continue
        targets: list[str | None] = []
        for column, ref in (("finess_ej", item.ej_ref), ("managing_og", item.og_ref)):
            found = resolver.resolve(ref) if ref else None
            if ref and found is None:
                errors.append(Problem(item.line, column, f"{column} {ref} inconnu (ni dans "
                                                         "ce fichier ni dans l'annuaire)"))
            elif found and found[1] != EntityType.EJ:
                errors.append(Problem(item.line, column, f"{column} {ref} est un "
                                                         f"{found[1]}, pas un EJ"))
            targets.append(found[0] if found else None)
        links[code] = (targets[0], targets[1])
    if errors:
        raise ImportRejected(errors)
    return _Plan(checked, links, existing, by_code)


def _write(checked: Mapping[str, _Checked], links: Mapping[str, tuple[str | None, str | None]],
           existing: Sequence[_Existing], by_code: Mapping[str, _Existing],
           report: ProgressCallback, total: int) -> ImportResult:
    result = ImportResult(rows=total)
    ids = {e.code: e.id for e in existing}
    writer = _Writer(result, by_code, report, total)

    # Pass 1: everything but establishments. Their parents (EJs) then have ids.
    writer.write([item.data for item in checked.values()
                  if item.data["type"] != EntityType.ET], _DATA)
    if result.created:
        ids = dict(db.session.execute(select(_table.c.code, _table.c.id)).all())

    # The OG rule: count each EJ's establishments as they will be after the import.
    children = Counter(ej for ej, _og in links.values() if ej)
    code_of = {e.id: e.code for e in existing}
    for e in existing:
        if e.type == EntityType.ET and e.code not in checked and e.parent_id in code_of:
            children[code_of[e.parent_id]] += 1
    ogs = {ej for ej, n in children.items() if n >= OG_MIN_ESTABLISHMENTS}

    # Pass 2: establishments, with their links resolved to ids.
    establishments = []
    for code, (ej, og) in links.items():
        if og is None and ej in ogs:
            og = ej
            result.og_derived += 1
        establishments.append(checked[code].data | {"parent_id": ids[ej] if ej else None,
                                                    "managing_og_id": ids[og] if og else None})
    writer.write(establishments, _DATA + _LINKS)

    # Establishments absent from the file follow the rule too when the file made their EJ
    # an OG (only EJs the file names: an import does not fix unrelated parts of the tree).
    named = set(checked) | {ej for ej, _og in links.values() if ej}
    new_ogs = {ids[code] for code in ogs & named}
    others = [{c: getattr(e, c) for c in _DATA} | {"parent_id": e.parent_id,
                                                   "managing_og_id": e.parent_id}
              for e in existing
              if e.type == EntityType.ET and e.code not in checked
              and e.parent_id in new_ogs and e.managing_og_id is None]
    result.others_updated = len(others)
    writer.write(others, _DATA + _LINKS, counted=False)

    # The rows were written behind the ORM's back: entities it had loaded are stale.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Entity):
            db.session.expire(obj)
    return result


class _Writer:
    """Batched INSERT ... ON CONFLICT (code) DO UPDATE of new and changed rows only."""

    def __init__(self, result: ImportResult, by_code: Mapping[str, _Existing],
                 report: ProgressCallback, total: int) -> None:
        self.result, self.by_code, self.report, self.total = result, by_code, report, total
        self.done = 0
        self.now = utcnow()

    def write(self, rows: Iterable[dict[str, Any]], columns: Sequence[str],
              counted: bool = True) -> None:
        """Upsert `rows` (dicts of `columns`).

        `counted` rows are file rows: they feed the created/updated/unchanged counts and
        the progress.
        """
        pending: list[dict[str, Any]] = []
        for row in rows:
            old = self.by_code.get(row["code"])
            changed = old is None or any(getattr(old, c) != row[c] for c in columns)
            if changed:
                pending.append(row | {"updated_at": self.now, "created_at": self.now,
                                      "active": True})
            if counted:
                self.done += 1
                if not changed:
                    self.result.unchanged += 1
                elif old is None:
                    self.result.created += 1
                else:
                    self.result.updated += 1
            if len(pending) >= BATCH_SIZE:
                self._flush(pending, columns)
                pending = []
        self._flush(pending, columns)
        if counted:
            self.report("writing", self.done, self.total)

    def _flush(self, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
        if not rows:
            return
        stmt = upsert_insert(_table, db.session)
        # created_at and active are kept on update: an import never reactivates an entity.
        # No RETURNING: without it both drivers run a plain executemany (psycopg pipelines
        # it), several times faster on PostgreSQL than one huge multi-row VALUES statement.
        stmt = stmt.on_conflict_do_update(
            index_elements=[_table.c.code],
            set_={c: stmt.excluded[c]
                  for c in (*columns, "updated_at", "search_text") if c != "code"},
        )
        # Written behind the ORM's back: the folded search column too (see models.py).
        db.session.connection().execute(stmt, [
            row | {"search_text": entity_search_text(row["finess"], row["code"], row["name"],
                                                     row["city"])} for row in rows])
        self.report("writing", self.done, self.total)
