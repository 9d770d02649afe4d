"""Lookups that must stay fast at the sector's size: the « Entité » field finds an entity
whatever the accents, the case and the hyphens typed, on SQLite and PostgreSQL, and
PostgreSQL answers it from the trigram index; « Identifiant perdu ? » finds accounts by
their address in any case through the lower(email) index."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Select, text

from idp.core.audit import Actor
from idp.directory import accounts, requests
from idp.directory.enums import EntityType
from idp.directory.importer import import_entities
from idp.directory.models import Account, Entity
from idp.extensions import db
from tests.support import directory as d


def plan(query: Select) -> str:
    """PostgreSQL's plan for `query`, once the tables are as autovacuum leaves them
    (statistics known, the GIN indexes' pending lists merged)."""
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE"))
    sql = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    return "\n".join(db.session.connection().exec_driver_sql(f"EXPLAIN {sql}").scalars())


def names(typed: str) -> list[str]:
    return [e.name for e in requests.search_entities(typed)]


@pytest.fixture
def entities(app: Flask) -> None:
    for code, name, city in [
        ("E1", "Établissement public de santé mentale", "Lyon"),
        ("E2", "Centre hospitalier universitaire", "Saint-Étienne"),
        ("E3", "EHPAD Les Tilleuls", "Saint-Priest-en-Jarez"),
        ("E4", "Foyer d'accueil médicalisé L'Œuvre", "Besançon"),
    ]:
        db.session.add(Entity(code=code, type=EntityType.EJ, name=name, city=city))
    db.session.commit()


@pytest.mark.usefixtures("entities")
def test_the_search_ignores_accents_case_and_hyphens() -> None:
    assert names("etablissement") == ["Établissement public de santé mentale"]
    assert names("ÉTABLISSEMENT") == ["Établissement public de santé mentale"]
    assert names("saint etienne") == ["Centre hospitalier universitaire"]
    assert names("Saint-Étienne") == ["Centre hospitalier universitaire"]
    assert names("  saint   ETIENNE ") == ["Centre hospitalier universitaire"]
    assert names("loeuvre") == []  # the apostrophe separates words, as in the name key
    assert names("oeuvre besancon") == ["Foyer d'accueil médicalisé L'Œuvre"]


@pytest.mark.usefixtures("entities")
def test_every_word_typed_must_match_somewhere() -> None:
    assert names("saint") == ["Centre hospitalier universitaire", "EHPAD Les Tilleuls"]
    assert names("tilleuls saint") == ["EHPAD Les Tilleuls"]  # name and city
    assert names("tilleuls lyon") == []
    assert names("e2") == []  # under three characters
    assert names("%%%") == [] and names("___") == []  # typed, not wildcards
    # A pasted paragraph searches its first words (each once), never the database's limits.
    assert names("tilleuls lyon " + "ehpad " * 2000) == []
    assert names(" ".join(["saint"] * 2000 + ["tilleuls"])) == ["EHPAD Les Tilleuls"]


def test_a_common_word_lists_twenty_entities_by_name(app: Flask) -> None:
    db.session.execute(Entity.__table__.insert(), [
        {"code": f"C{n:03d}", "type": EntityType.ET, "name": f"Clinique {n:03d}",
         "search_text": f"c{n:03d} clinique {n:03d}"}
        for n in range(requests.ENTITY_CANDIDATES + 50)])
    db.session.commit()
    listed = names("clinique")
    assert len(listed) == 20 and listed == sorted(listed)
    assert names("clinique 123") == ["Clinique 123"]


def test_a_renamed_or_imported_entity_is_found_by_its_new_name(app: Flask) -> None:
    entity = d.entity("E9", EntityType.EJ, "Clinique du Parc")
    db.session.commit()
    entity.name = "Clinique Sainte-Anne"
    db.session.commit()
    assert names("sainte anne") == ["Clinique Sainte-Anne"]
    assert names("parc") == []

    csv = ("finess;type;name;city;departement\n"
           f"{d.finess('42000001')};EJ;Hôpital Nord-Ouest;Villefranche-sur-Saône;42\n")
    import_entities(csv.encode(), Actor(label="test"))
    db.session.commit()
    assert names("hopital nord ouest") == ["Hôpital Nord-Ouest"]
    assert names("villefranche sur saone") == ["Hôpital Nord-Ouest"]


def test_postgresql_answers_the_autocomplete_from_the_trigram_index(
        make_app: Flask, postgresql_url: str) -> None:
    application = make_app(postgresql_url)  # type: ignore[operator]
    with application.app_context():
        db.session.execute(Entity.__table__.insert(), [
            {"code": f"B{n:05d}", "type": EntityType.ET, "name": f"Établissement {n}",
             "city": f"Commune {n % 500}", "search_text": f"b{n:05d} etablissement {n} "
                                                          f"commune {n % 500}"}
            for n in range(5000)])
        db.session.add(Entity(code="SE", type=EntityType.EJ, name="CHU", city="Saint-Étienne"))
        db.session.commit()
        query = requests.entity_search_query("saint etienne", 20)
        assert query is not None
        with requests.trigram_index_only():  # as search_entities runs it
            assert "ix_entities_search_text" in plan(query)
        assert names("saint etienne") == ["CHU"]


def test_accounts_are_found_by_their_address_in_any_case(app: Flask) -> None:
    camille = d.account("Camille", "Martin", "Camille.Martin@Example.test")
    d.account("Camille", "Martin", "camille.martin@example.test")
    d.account("Paul", "Durand")
    db.session.commit()
    found = db.session.scalars(accounts.with_address("CAMILLE.MARTIN@example.TEST")).all()
    assert len(found) == 2 and camille in found


def test_postgresql_finds_an_address_from_the_lower_email_index(
        make_app: Flask, postgresql_url: str) -> None:
    application = make_app(postgresql_url)  # type: ignore[operator]
    with application.app_context():
        db.session.execute(Account.__table__.insert(), [
            {"identifier": f"{n:06d}", "given_name": "P", "family_name": f"N{n}",
             "email": f"p.n{n}@example.test", "name_key": f"n{n} p"} for n in range(5000)])
        db.session.commit()
        assert "ix_accounts_email_lower" in plan(accounts.with_address("P.N42@example.test"))
        assert [a.identifier for a in db.session.scalars(
            accounts.with_address("P.N42@example.test"))] == ["000042"]
