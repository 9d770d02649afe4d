"""The entities import: FINESS-extract-like CSV, idempotent upsert, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.core.audit import Actor, AuditEvent
from idp.directory.enums import EntityType
from idp.directory.importer import ImportRejected, ImportResult, import_entities
from idp.directory.models import Entity
from idp.extensions import db
from tests.support.directory import finess

ACTOR = Actor(label="test")
HEADER = ["finess", "code", "type", "name", "city", "postal_code", "departement", "region",
          "finess_ej", "managing_og"]

OG = finess("58000301")
ET_A, ET_B = finess("58000302"), finess("58000303")
SOLO_EJ, SOLO_ET = finess("44000501"), finess("44000502")


def csv_bytes(rows: Sequence[Sequence[str]], *, sep: str = ";", bom: bool = False,
              header: Sequence[str] = HEADER) -> bytes:
    text = "\n".join(sep.join(row) for row in [header, *rows]) + "\n"
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8")


def row(finess_number: str = "", type_: str = "ET", name: str = "ETABLISSEMENT", *,
        code: str = "", city: str = "", postal_code: str = "", departement: str = "",
        region: str = "", ej: str = "", og: str = "") -> list[str]:
    return [finess_number, code, type_, name, city, postal_code, departement, region, ej, og]


SAMPLE = [
    row(code="ATIH", type_="NAT", name="Agence technique de l'information sur l'hospitalisation",
        city="Lyon"),
    row(code="ARS27", type_="ARS", name="ARS Bourgogne-Franche-Comté", region="27"),
    row(code="CD44", type_="CD", name="Conseil départemental de la Loire-Atlantique",
        departement="44"),
    # The ETs come before their EJ: references may point forward in the file.
    row(ET_A, name="EHPAD LES TILLEULS", city="Château-Chinon (Ville)", postal_code="58120",
        ej=OG),
    row(ET_B, name="IME LE MORVAN", city="Corbigny", departement="58", ej=OG),
    row(OG, "EJ", "ASSOCIATION MORVAN SOLIDARITÉS", city="Nevers", postal_code="58000"),
    row(SOLO_EJ, "EJ", "CENTRE HOSPITALIER DE GUÉRANDE"),
    row(SOLO_ET, name="SSIAD DE GUÉRANDE", ej=SOLO_EJ),
]


def entity(code: str) -> Entity:
    found = db.session.scalar(select(Entity).where(Entity.code == code))
    assert found is not None, code
    return found


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def run(data: bytes) -> ImportResult:
    result = import_entities(data, ACTOR, source="test.csv")
    db.session.commit()
    return result


def test_import_creates_entities_links_and_one_audit_event(app: Flask) -> None:
    seen: list[tuple[str, int, int]] = []
    result = import_entities(csv_bytes(SAMPLE), ACTOR, source="sample.csv",
                             progress=lambda *args: seen.append(args))
    db.session.commit()

    assert (result.rows, result.created, result.updated, result.unchanged) == (8, 8, 0, 0)
    tilleuls, morvan, og = entity(ET_A), entity(ET_B), entity(OG)
    assert (tilleuls.finess, tilleuls.type, tilleuls.departement, tilleuls.region) == (
        ET_A, EntityType.ET, "58", "27")
    assert tilleuls.parent_id == og.id and morvan.parent_id == og.id
    assert tilleuls.managing_og_id == og.id and morvan.managing_og_id == og.id
    solo = entity(SOLO_ET)
    assert solo.parent_id == entity(SOLO_EJ).id and solo.managing_og_id is None
    assert entity("ARS27").region == "27" and entity("ARS27").finess is None
    assert (entity("CD44").departement, entity("CD44").region) == ("44", "52")
    assert entity("ATIH").type == EntityType.NAT and entity("ATIH").departement is None

    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "entities.import")).all()
    assert len(events) == 1
    assert events[0].details["created"] == 8 and events[0].details["source"] == "sample.csv"
    assert seen[-1] == ("writing", 8, 8) and ("checking", 8, 8) in seen


def test_reimport_changes_nothing(app: Flask) -> None:
    run(csv_bytes(SAMPLE))
    stamps = dict(db.session.execute(select(Entity.code, Entity.updated_at)).all())

    again = run(csv_bytes(SAMPLE))

    assert (again.created, again.updated, again.unchanged) == (0, 0, len(SAMPLE))
    assert count(Entity) == len(SAMPLE)
    assert dict(db.session.execute(select(Entity.code, Entity.updated_at)).all()) == stamps


def test_reimport_updates_what_differs(app: Flask) -> None:
    run(csv_bytes(SAMPLE))
    changed = [list(r) for r in SAMPLE]
    changed[3][3] = "EHPAD LES TILLEULS (NOUVEAU NOM)"
    changed[7][9] = ""  # unchanged: the solo ET has no OG either way
    changed.append(row(finess("58000304"), name="SSIAD DU CLAMECYCOIS", ej=OG))

    result = run(csv_bytes(changed))

    assert (result.created, result.updated, result.unchanged) == (1, 1, len(SAMPLE) - 1)
    assert entity(ET_A).name == "EHPAD LES TILLEULS (NOUVEAU NOM)"
    assert entity(finess("58000304")).managing_og_id == entity(OG).id


def test_bad_finess_on_line_42_rejects_the_whole_file(app: Flask) -> None:
    run(csv_bytes(SAMPLE))
    before = (count(Entity), count(AuditEvent), entity(ET_A).name)
    changed = [list(r) for r in SAMPLE]
    changed[3][3] = "NOUVEAU NOM"  # a valid update, which must not happen either
    generated = [row(finess(f"250{n:05d}"), name=f"ESMS {n}") for n in range(60)]
    data_rows = changed + generated
    bad = data_rows[40]  # line 42: the header is line 1
    bad[0] = bad[0][:-1] + str((int(bad[0][-1]) + 1) % 10)

    with pytest.raises(ImportRejected) as caught:
        import_entities(csv_bytes(data_rows), ACTOR)
    db.session.rollback()

    assert caught.value.errors == [
        f"line 42: la clé du numéro FINESS « {bad[0]} » est incorrecte"]
    assert str(caught.value).startswith("import rejected, nothing changed (1 error): line 42:")
    assert (count(Entity), count(AuditEvent), entity(ET_A).name) == before


def test_unknown_finess_ej_is_an_error_on_its_line(app: Flask) -> None:
    unknown = finess("58000399")
    rows = [*SAMPLE, row(finess("58000398"), name="ESAT", ej=unknown)]

    with pytest.raises(ImportRejected) as caught:
        import_entities(csv_bytes(rows), ACTOR)
    db.session.rollback()

    assert caught.value.errors == [
        f"line {len(rows) + 1}: finess_ej {unknown} inconnu "
        "(ni dans ce fichier ni dans l'annuaire)"]
    assert count(Entity) == 0


def test_references_may_name_entities_already_in_the_directory(app: Flask) -> None:
    run(csv_bytes([row(OG, "EJ", "ASSOCIATION MORVAN SOLIDARITÉS"),
                   row(ET_A, name="EHPAD LES TILLEULS", ej=OG)]))
    assert entity(ET_A).managing_og_id is None  # one establishment: not yet an OG

    result = run(csv_bytes([row(ET_B, name="IME LE MORVAN", ej=OG)]))

    og = entity(OG)
    assert entity(ET_B).parent_id == og.id and entity(ET_B).managing_og_id == og.id
    # The EJ now manages two establishments: the one already there follows the OG rule.
    assert entity(ET_A).managing_og_id == og.id
    assert (result.created, result.og_derived, result.others_updated) == (1, 1, 1)


def test_og_rule_and_explicit_managing_og(app: Flask) -> None:
    other_og = finess("58000401")
    result = run(csv_bytes([
        row(OG, "EJ", "ASSOCIATION MORVAN SOLIDARITÉS"),
        row(other_og, "EJ", "FONDATION GESTIONNAIRE"),
        row(ET_A, name="EHPAD LES TILLEULS", ej=OG),
        row(ET_B, name="IME LE MORVAN", ej=OG, og=other_og),
        row(SOLO_EJ, "EJ", "CH DE GUÉRANDE"),
        row(SOLO_ET, name="SSIAD DE GUÉRANDE", ej=SOLO_EJ),
    ]))

    assert entity(ET_A).managing_og_id == entity(OG).id  # derived: OG has two ETs
    assert entity(ET_B).managing_og_id == entity(other_og).id  # explicit wins
    assert entity(SOLO_ET).managing_og_id is None  # one ET: not an OG
    assert result.og_derived == 1


@pytest.mark.parametrize(("sep", "bom"), [(";", True), (",", False), (",", True)])
def test_separator_and_byte_order_mark(app: Flask, sep: str, bom: bool) -> None:
    rows = [[value.replace(",", " ") for value in r] for r in SAMPLE]

    result = run(csv_bytes(rows, sep=sep, bom=bom))

    assert result.created == len(SAMPLE)
    assert entity(OG).name == "ASSOCIATION MORVAN SOLIDARITÉS"


def test_quoted_values_and_blank_lines_keep_physical_line_numbers(sqlite_app: Flask) -> None:
    wrong_key = ET_B[:-1] + str((int(ET_B[-1]) + 1) % 10)
    data = (
        "finess;type;name\n"
        f'{ET_A};ET;"EHPAD\nsur deux lignes"\n'  # lines 2-3
        "\n"  # line 4
        f"{wrong_key};ET;IME\n"  # line 5
        ";EJ;SANS CODE\n"  # line 6
    ).encode()

    with pytest.raises(ImportRejected) as caught:
        import_entities(data, ACTOR)

    assert [m.split(":")[0] for m in caught.value.errors] == ["line 5", "line 6"]


@pytest.mark.parametrize(("rows", "message"), [
    ([row(ET_A, departement="44")], f"line 2: le FINESS {ET_A} appartient au "
                                    "département 58, pas au 44"),
    ([row(ET_A, type_="XX")], "line 2: type « XX » inconnu (attendu : ET, EJ, ARS, CD, "
                              "NAT)"),
    ([row(ET_A), row(ET_A)], f"line 3: {ET_A} figure déjà ligne 2"),
    ([row(OG, "EJ", ej=SOLO_EJ)], "line 2: finess_ej ne concerne que les établissements (ET)"),
    ([row(ET_A), row(ET_B, ej=ET_A)], f"line 3: finess_ej {ET_A} est un ET, pas un EJ"),
    ([row(code="CD99", type_="CD")], "line 2: un CD a besoin de son département"),
    ([row(code="ARS", type_="ARS")], "line 2: une ARS a besoin de sa région (colonne region)"),
    ([row(ET_A, code="AUTRE")], f"line 2: le code AUTRE diffère du FINESS {ET_A} "
                                "(le FINESS est le code de l'entité)"),
    ([row(name="", code="X1")], "line 2: la raison sociale est vide"),
    ([row(code="X1", postal_code="5800")],
     "line 2: le code postal « 5800 » ne compte pas 5 chiffres"),
    ([row(code="X1", departement="21", region="52")],
     "line 2: le département 21 est dans la région 27, pas dans la 52"),
    ([row(ET_A, code="")[:3]], "line 2: 3 champs alors que l'en-tête en compte 10 "
                               "(vérifiez le séparateur et les guillemets)"),
])
def test_row_errors(sqlite_app: Flask, rows: list[list[str]], message: str) -> None:
    with pytest.raises(ImportRejected) as caught:
        import_entities(csv_bytes(rows), ACTOR)
    assert caught.value.errors == [message]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "line 1: fichier vide ou ligne d'en-tête vide"),
    (b"finess;name\n", "line 1: colonne(s) manquante(s) : type"),
    (b"type;name\n", "line 1: une colonne `finess` ou `code` est obligatoire"),
    ("code;type;name\nX1;NAT;Agence\nX2;NAT;Régie\n".encode("latin-1"),
     "line 3: le fichier n'est pas en UTF-8 (enregistrez-le en « CSV UTF-8 »)"),
])
def test_file_errors(sqlite_app: Flask, data: bytes, message: str) -> None:
    with pytest.raises(ImportRejected) as caught:
        import_entities(data, ACTOR)
    assert caught.value.errors == [message]


def test_the_message_quotes_the_first_errors_only(sqlite_app: Flask) -> None:
    with pytest.raises(ImportRejected) as caught:
        import_entities(csv_bytes([row(code=f"X{n}", type_="XX") for n in range(8)]), ACTOR)
    text = str(caught.value)
    assert "(8 errors)" in text and "line 6:" in text and "line 7:" not in text
    assert text.endswith("; and 3 more") and "\n" not in text


def test_finess_of_another_entity_is_refused(sqlite_app: Flask) -> None:
    db.session.add(Entity(code="LEGACY", finess=ET_A, type=EntityType.ET, name="Ancien"))
    db.session.commit()
    with pytest.raises(ImportRejected) as caught:
        import_entities(csv_bytes([row(ET_A)]), ACTOR)
    assert caught.value.errors == [f"line 2: le FINESS {ET_A} appartient à l'entité LEGACY"]
