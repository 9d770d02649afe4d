"""Directory operations on real SQLite and PostgreSQL: accounts, profiles, habilitations,
the catalogue, the append-only audit log and the signing keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from flask import Flask
from sqlalchemy import delete, func, select, update

from idp.core.audit import Actor, AuditEvent
from idp.core.errors import RuleViolation
from idp.directory import rules, services
from idp.directory.catalogue import load_catalogue
from idp.directory.enums import AccountState, EntityType, ProfileState
from idp.directory.identifiers import is_valid_identifier
from idp.directory.models import Account, Domain, Entity, Habilitation, Profile, Role
from idp.directory.passwords import WeakPassword, verify_password
from idp.extensions import db
from idp.keys import sealing
from idp.keys import service as keys
from idp.keys.models import SigningKey
from tests.support.directory import MIN_LENGTH

PASSWORD = "Plage-Mot2Passe!"
OPERATOR = Actor(label="cli:operateur")


# --- helpers --------------------------------------------------------------------------


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def events(action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query))


def entity(code: str, entity_type: EntityType, name: str, **fields: object) -> Entity:
    row = Entity(code=code, type=entity_type, name=name, **fields)
    db.session.add(row)
    db.session.flush()
    return row


def person(given: str, family: str, password: str | None = None) -> Account:
    """An account; with no password (hashing costs time) unless the test logs in."""
    email = f"{given}.{family}@example.fr".lower().replace(" ", "")
    return services.create_account(given_name=given, family_name=family, email=email,
                                   password=password, actor=OPERATOR,
        password_min_length=MIN_LENGTH)


def role(domain: str, code: str) -> Role:
    return services.get_role(domain, code)


@pytest.fixture
def nievre(app: Flask) -> dict[str, Entity]:
    """Bourgogne-Franche-Comté: an ARS, two CD, an OG with two ESMS, an independent hospital."""
    ents = {
        "atih": entity("ATIH", EntityType.NAT, "ATIH"),
        "ars": entity("ARS27", EntityType.ARS, "ARS Bourgogne-Franche-Comté", region="27"),
        "cd58": entity("CD58", EntityType.CD, "Département de la Nièvre", region="27",
                       departement="58"),
        "cd25": entity("CD25", EntityType.CD, "Département du Doubs", region="27",
                       departement="25"),
        "og": entity("580000966", EntityType.EJ, "Association nivernaise", finess="580000966",
                     region="27", departement="58"),
        "ch": entity("250011814", EntityType.ET, "Centre hospitalier de Besançon",
                     finess="250011814", region="27", departement="25"),
    }
    for code, name in (("580000016", "EHPAD de Nevers"), ("580000024", "IME de Cosne")):
        ents[code] = entity(code, EntityType.ET, name, finess=code, region="27",
                            departement="58", managing_og_id=ents["og"].id,
                            parent_id=ents["og"].id)
    db.session.commit()
    return ents


# --- accounts -------------------------------------------------------------------------


def test_a_new_account_gets_a_luhn_keyed_identifier_and_a_hashed_password(app: Flask) -> None:
    account = person("Élodie", "Dupont-Martin", PASSWORD)
    db.session.commit()

    assert is_valid_identifier(account.identifier)
    assert account.state == AccountState.ACTIVE
    assert account.password_hash is not None
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    assert verify_password(account.password_hash, PASSWORD)
    assert not verify_password(account.password_hash, PASSWORD.lower())
    db.session.expire_all()
    assert services.get_account(account.identifier).full_name == "Élodie Dupont-Martin"


def test_creating_an_account_is_audited(app: Flask) -> None:
    account = person("Jean", "Valjean")
    db.session.commit()
    (event,) = events("account.create")
    assert event.actor == "cli:operateur"
    assert event.target_type == "account"
    assert event.target_id == account.identifier
    assert event.at is not None and event.at.tzinfo is not None


@pytest.mark.parametrize("weak", ["Court1!", "toutenminuscules", "motdepasse1234"])
def test_a_weak_password_is_refused_and_no_account_is_created(app: Flask, weak: str) -> None:
    with pytest.raises(WeakPassword):
        person("Jean", "Valjean", password=weak)
    db.session.commit()
    assert count(Account) == 0
    assert events() == []


def test_an_account_can_wait_for_its_password(app: Flask) -> None:
    account = person("Jean", "Valjean", password=None)
    assert account.password_hash is None
    assert services.authenticate(account.identifier, "") is None


@pytest.mark.parametrize(
    ("given", "family", "email"),
    [("", "Valjean", "jean@example.fr"), ("Jean", "  ", "jean@example.fr"),
     ("Jean", "Valjean", "jean.example.fr"), ("Jean", "Valjean", "@example.fr")],
)
def test_incomplete_details_are_refused_in_french(
    app: Flask, given: str, family: str, email: str
) -> None:
    with pytest.raises(RuleViolation):
        services.create_account(given_name=given, family_name=family, email=email,
                                actor=OPERATOR,
        password_min_length=MIN_LENGTH)
    assert count(Account) == 0


def test_an_identifier_given_by_the_importer_must_be_free(app: Flask) -> None:
    services.create_account(given_name="Jean", family_name="Valjean", email="j@example.fr",
                            identifier="463471", actor=OPERATOR,
        password_min_length=MIN_LENGTH)
    with pytest.raises(RuleViolation, match="463471"):
        services.create_account(given_name="Javert", family_name="Inspecteur",
                                email="i@example.fr", identifier="463471", actor=OPERATOR,
        password_min_length=MIN_LENGTH)


def test_a_person_logs_in_with_identifier_and_password(app: Flask) -> None:
    account = person("Jean", "Valjean", PASSWORD)
    db.session.commit()
    assert services.authenticate(account.identifier, PASSWORD) is account
    assert services.authenticate(f" {account.identifier} ", PASSWORD) is account


def test_a_wrong_password_or_an_unknown_identifier_gets_nobody_in(app: Flask) -> None:
    account = person("Jean", "Valjean", PASSWORD)
    db.session.commit()
    assert services.authenticate(account.identifier, "Plage-Mot2Passe?") is None
    assert services.authenticate(account.identifier, "") is None
    assert services.authenticate("463471", PASSWORD) is None


def test_a_deactivated_account_cannot_log_in(app: Flask) -> None:
    account = person("Jean", "Valjean", PASSWORD)
    account.state = AccountState.INACTIVE
    db.session.commit()
    assert services.authenticate(account.identifier, PASSWORD) is None


@pytest.mark.parametrize(
    ("given", "family"),
    [("Élodie", "Dupont-Martin"), ("elodie", "DUPONT MARTIN"), ("ÉLODIE", "dupont  martin"),
     (" Elodie ", "Dupont - Martin")],
)
def test_sign_up_finds_an_existing_account_whatever_the_accents_and_hyphens(
    app: Flask, given: str, family: str
) -> None:
    account = person("Élodie", "Dupont-Martin")
    person("Élodie", "Dupont")
    db.session.commit()
    assert services.accounts_named(given, family) == [account]


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        (("Jeanne", "D'Arc"), ("Jeanne", "D’Arc")),    # typographic apostrophe (phones, Macs)
        (("Jeanne", "D’Arc"), ("jeanne", "d arc")),
        (("Étienne", "Lœuillet"), ("Etienne", "Loeuillet")),  # the œ ligature
        (("Lætitia", "Martin"), ("Laetitia", "Martin")),
        (("Anne-Marie", "Saint-Éloi"), ("Anne Marie", "Saint Eloi")),
    ],
)
def test_sign_up_finds_an_account_typed_with_another_keyboard(
    app: Flask, stored: tuple[str, str], typed: tuple[str, str]
) -> None:
    account = person(*stored)
    db.session.commit()
    assert services.accounts_named(*typed) == [account]


def test_different_people_are_not_mistaken_for_one(app: Flask) -> None:
    person("Étienne", "Lœuillet")
    db.session.commit()
    assert services.accounts_named("Etienne", "Luillet") == []
    assert services.accounts_named("Étienne", "Lœuillet-Durand") == []


def test_homonyms_are_all_found(app: Flask) -> None:
    first, second = person("Marie", "Martin"), person("Marie", "Martin")
    db.session.commit()
    assert first.identifier != second.identifier
    assert sorted(a.id for a in services.accounts_named("Marie", "Martin")) == sorted(
        [first.id, second.id]
    )


# --- profiles and habilitations -------------------------------------------------------


def test_a_profile_attaches_an_account_to_an_entity(
    app: Flask, nievre: dict[str, Entity]
) -> None:
    account = person("Jean", "Valjean")
    profile = services.create_profile(account, nievre["ch"], label="Contrôle de gestion",
                                      actor=OPERATOR)
    db.session.commit()
    db.session.expire_all()

    profile = services.get_profile(profile.id)
    assert profile.state == ProfileState.ACTIVE
    assert profile.entity.name == "Centre hospitalier de Besançon"
    assert profile.effective_email == "jean.valjean@example.fr"
    assert profile.account.profiles == [profile]
    (event,) = events("profile.create")
    assert event.entity_id == nievre["ch"].id
    assert event.details == {"account": account.identifier, "label": "Contrôle de gestion",
                             "state": "actif"}


def test_a_profile_request_starts_pending_with_its_own_email(
    app: Flask, nievre: dict[str, Entity]
) -> None:
    account = person("Jean", "Valjean")
    profile = services.create_profile(account, nievre["og"], label="Siège",
                                      state=ProfileState.PENDING, email="siege@asso.fr",
                                      actor=OPERATOR)
    assert profile.state == ProfileState.PENDING
    assert profile.effective_email == "siege@asso.fr"


def test_a_profile_needs_a_label(app: Flask, nievre: dict[str, Entity]) -> None:
    account = person("Jean", "Valjean")
    with pytest.raises(RuleViolation, match="libellé"):
        services.create_profile(account, nievre["ch"], label="  ", actor=OPERATOR)
    assert count(Profile) == 0


def test_the_ape_grants_and_withdraws_a_role_with_an_audit_trail(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    ape = Actor(label="Marie Martin", account_id=person("Marie", "Martin").id, ip="192.0.2.7")
    profile = services.create_profile(person("Jean", "Valjean"), nievre["ch"], label="DAF",
                                      actor=OPERATOR)
    services.grant(profile, role("TDBESMS", "GESTIONNAIRE_FICHIERS"), ape)
    services.grant(profile, role("ancre", "lecteur"), ape)
    db.session.commit()
    db.session.expire_all()

    assert rules.roles_in_domains(profile, ["TDBESMS", "ANCRE"]) == {
        "ANCRE": ["LECTEUR"], "TDBESMS": ["GESTIONNAIRE_FICHIERS"],
    }
    tdb_gestionnaire = role("TDBESMS", "GESTIONNAIRE_FICHIERS")
    granted = db.session.get(Habilitation, (profile.id, tdb_gestionnaire.id))
    assert granted is not None and granted.granted_by_id == ape.account_id
    grants = events("habilitation.grant")
    assert [(e.details["domain"], e.details["role"]) for e in grants] == [
        ("TDBESMS", "GESTIONNAIRE_FICHIERS"), ("ANCRE", "LECTEUR"),
    ]
    assert {(e.actor_id, e.ip, e.entity_id) for e in grants} == {
        (ape.account_id, "192.0.2.7", nievre["ch"].id)
    }

    services.revoke(profile, role("TDBESMS", "GESTIONNAIRE_FICHIERS"), ape)
    db.session.commit()
    db.session.expire_all()
    assert rules.roles_in_domains(profile, ["TDBESMS", "ANCRE"]) == {"ANCRE": ["LECTEUR"]}
    assert count(Habilitation) == 1
    (revoked,) = events("habilitation.revoke")
    assert revoked.details == {"domain": "TDBESMS", "role": "GESTIONNAIRE_FICHIERS"}


def test_granting_a_role_twice_or_withdrawing_one_not_held_is_refused(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    profile = services.create_profile(person("Jean", "Valjean"), nievre["ch"], label="DAF",
                                      actor=OPERATOR)
    services.grant(profile, role("SAGA", "DIRECTEUR"), OPERATOR)
    with pytest.raises(RuleViolation, match="détient déjà"):
        services.grant(profile, role("SAGA", "DIRECTEUR"), OPERATOR)
    with pytest.raises(RuleViolation, match="ne détient pas"):
        services.revoke(profile, role("ANCRE", "LECTEUR"), OPERATOR)
    assert count(Habilitation) == 1


def test_making_an_ancre_gestionnaire_also_lecteur_is_refused_and_nothing_is_written(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    profile = services.create_profile(person("Jean", "Valjean"), nievre["ch"], label="DAF",
                                      actor=OPERATOR)
    services.grant(profile, role("ANCRE", "GESTIONNAIRE_FICHIERS"), OPERATOR)
    db.session.commit()
    habilitations, audit = count(Habilitation), len(events())

    with pytest.raises(rules.ExclusiveRoleConflict) as refused:
        services.grant(profile, role("ANCRE", "LECTEUR"), OPERATOR)
    assert "« Gestionnaire de fichiers » et « Lecteur »" in str(refused.value)
    db.session.commit()
    db.session.expire_all()

    assert count(Habilitation) == habilitations
    assert len(events()) == audit
    assert rules.roles_in_domains(profile, ["ANCRE"]) == {"ANCRE": ["GESTIONNAIRE_FICHIERS"]}


def test_an_entity_has_one_ape_and_another_entity_its_own(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    ape_role = role("ADMINISTRATION", "APE")
    first = services.create_profile(person("Marie", "Martin"), nievre["ch"], label="APE",
                                    actor=OPERATOR)
    second = services.create_profile(person("Paul", "Durand"), nievre["ch"], label="DSI",
                                     actor=OPERATOR)
    elsewhere = services.create_profile(person("Paul", "Durand"), nievre["og"], label="APE",
                                        actor=OPERATOR)
    services.grant(first, ape_role, OPERATOR)
    db.session.commit()
    audit = len(events())

    with pytest.raises(rules.ApeAlreadyAppointed):
        services.grant(second, ape_role, OPERATOR)
    db.session.commit()
    assert len(events()) == audit
    assert services.current_ape_profiles(nievre["ch"].id) == [first.id]

    services.grant(elsewhere, ape_role, OPERATOR)  # the OG is another entity
    db.session.commit()
    assert services.current_ape_profiles(nievre["og"].id) == [elsewhere.id]


def test_the_ape_is_replaced_by_withdrawing_the_role_first(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    ape_role = role("ADMINISTRATION", "APE")
    leaving = services.create_profile(person("Marie", "Martin"), nievre["ch"], label="APE",
                                      actor=OPERATOR)
    arriving = services.create_profile(person("Paul", "Durand"), nievre["ch"], label="APE",
                                       actor=OPERATOR)
    services.grant(leaving, ape_role, OPERATOR)
    services.revoke(leaving, ape_role, OPERATOR)
    services.grant(arriving, ape_role, OPERATOR)
    db.session.commit()
    assert services.current_ape_profiles(nievre["ch"].id) == [arriving.id]


def test_a_deactivated_ape_profile_leaves_the_place_free(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    ape_role = role("ADMINISTRATION", "APE")
    former = services.create_profile(person("Marie", "Martin"), nievre["ch"], label="APE",
                                     actor=OPERATOR)
    services.grant(former, ape_role, OPERATOR)
    former.state = ProfileState.INACTIVE
    successor = services.create_profile(person("Paul", "Durand"), nievre["ch"], label="APE",
                                        actor=OPERATOR)
    services.grant(successor, ape_role, OPERATOR)
    db.session.commit()
    assert services.current_ape_profiles(nievre["ch"].id) == [successor.id]


def test_the_administrators_of_an_entity_are_listed_ape_first(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    helper = services.create_profile(person("Paul", "Durand"), nievre["og"], label="Adjoint",
                                     actor=OPERATOR)
    services.grant(helper, role("ADMINISTRATION", "ADMINISTRATEUR"), OPERATOR)
    services.grant(helper, role("TDBESMS", "LECTEUR"), OPERATOR)
    ape = services.create_profile(person("Marie", "Martin"), nievre["og"], label="APE",
                                  actor=OPERATOR)
    services.grant(ape, role("ADMINISTRATION", "APE"), OPERATOR)
    services.grant(ape, role("ADMINISTRATION", "ADMINISTRATEUR"), OPERATOR)
    reader = services.create_profile(person("Luc", "Petit"), nievre["og"], label="Lecteur",
                                     actor=OPERATOR)
    services.grant(reader, role("TDBESMS", "LECTEUR"), OPERATOR)
    retired = services.create_profile(person("Anne", "Leroy"), nievre["og"], label="Ancienne",
                                      actor=OPERATOR)
    services.grant(retired, role("ADMINISTRATION", "ADMINISTRATEUR"), OPERATOR)
    retired.account.state = AccountState.INACTIVE
    pending = services.create_profile(person("Eve", "Blanc"), nievre["og"], label="Nouvelle",
                                      state=ProfileState.PENDING, actor=OPERATOR)
    services.grant(pending, role("ADMINISTRATION", "ADMINISTRATEUR"), OPERATOR)
    elsewhere = services.create_profile(person("Marc", "Noir"), nievre["ch"], label="APE",
                                        actor=OPERATOR)
    services.grant(elsewhere, role("ADMINISTRATION", "APE"), OPERATOR)
    db.session.commit()
    db.session.expire_all()

    assert services.administrators_of(nievre["og"]) == [ape, helper]
    assert services.administrators_of(nievre["580000016"]) == []


def test_login_offers_the_profiles_holding_a_role_of_the_clients_domains(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    account = person("Jean", "Valjean")
    nevers = services.create_profile(account, nievre["580000016"], label="Nevers",
                                     actor=OPERATOR)
    services.grant(nevers, role("TDBESMS", "GESTIONNAIRE_FICHIERS"), OPERATOR)
    cosne = services.create_profile(account, nievre["580000024"], label="Cosne",
                                    actor=OPERATOR)
    services.grant(cosne, role("TDBESMS", "LECTEUR"), OPERATOR)
    saga = services.create_profile(account, nievre["ch"], label="Direction", actor=OPERATOR)
    services.grant(saga, role("SAGA", "DIRECTEUR"), OPERATOR)
    waiting = services.create_profile(account, nievre["og"], label="Siège",
                                      state=ProfileState.PENDING, actor=OPERATOR)
    services.grant(waiting, role("TDBESMS", "LECTEUR"), OPERATOR)
    db.session.commit()
    db.session.expire_all()

    assert services.profiles_for_client(account, ["TDBESMS"]).usable == [nevers, cosne]
    assert services.profiles_for_client(account, ["SAGA"]).usable == [saga]
    assert services.profiles_for_client(account, ["ANCRE"]).usable == []
    account.state = AccountState.INACTIVE
    db.session.commit()
    assert services.profiles_for_client(account, ["TDBESMS", "SAGA"]).usable == []


# --- entities -------------------------------------------------------------------------


def test_a_legal_entity_managing_two_esms_is_seen_as_an_og(
    app: Flask, nievre: dict[str, Entity]
) -> None:
    assert services.claimed_entity_type(nievre["og"]) == "OG"
    assert services.claimed_entity_type(nievre["ch"]) == "ET"
    assert services.claimed_entity_type(nievre["ars"]) == "ARS"

    small = entity("250000460", EntityType.EJ, "Association du Doubs", finess="250000460")
    assert services.claimed_entity_type(small) == "EJ"
    entity("250000478", EntityType.ET, "Foyer de vie", finess="250000478",
           managing_og_id=small.id)
    assert services.managed_establishments(small) == 1
    assert services.claimed_entity_type(small) == "EJ"
    entity("250000486", EntityType.ET, "ESAT", finess="250000486", managing_og_id=small.id)
    assert services.claimed_entity_type(small) == "OG"


def test_entities_are_found_by_code_whatever_the_case(
    app: Flask, nievre: dict[str, Entity]
) -> None:
    assert services.get_entity(" ars27 ") is nievre["ars"]
    with pytest.raises(services.NotFound, match="Entité inconnue"):
        services.get_entity("ARS99")


def test_the_level_above_is_found_in_the_directory(
    app: Flask, nievre: dict[str, Entity]
) -> None:
    lookup = services.authority_lookup()
    assert rules.appointing_entities(nievre["580000016"], lookup) == [nievre["og"]]
    assert rules.appointing_entities(nievre["ch"], lookup) == [nievre["ars"], nievre["cd25"]]
    assert rules.appointing_entities(nievre["og"], lookup) == [nievre["ars"], nievre["cd58"]]
    assert rules.appointing_entities(nievre["cd58"], lookup) == [nievre["atih"]]
    assert rules.appointing_entities(nievre["atih"], lookup) == [nievre["atih"]]

    cayenne = entity("970000017", EntityType.ET, "CH de Cayenne", region="03",
                     departement="973")
    assert rules.appointing_entities(cayenne, lookup) == [nievre["atih"]]


def test_an_og_administrator_appoints_the_ape_of_one_of_its_esms(
    app: Flask, catalogue: Flask, nievre: dict[str, Entity]
) -> None:
    og_admin = services.create_profile(person("Marie", "Martin"), nievre["og"], label="APE",
                                       actor=OPERATOR)
    services.grant(og_admin, role("ADMINISTRATION", "APE"), OPERATOR)
    db.session.commit()
    lookup = services.authority_lookup()
    assert rules.may_appoint_ape([og_admin], nievre["580000016"], lookup)
    assert not rules.may_appoint_ape([og_admin], nievre["ch"], lookup)
    assert rules.may_administer([og_admin], nievre["og"].id)
    assert not rules.may_administer([og_admin], nievre["580000016"].id)


# --- catalogue ------------------------------------------------------------------------


def test_loading_the_catalogue_twice_changes_nothing_the_second_time(app: Flask) -> None:
    first = load_catalogue(OPERATOR)
    db.session.commit()
    domains, roles_, audit = count(Domain), count(Role), len(events())
    assert first == (domains, roles_)
    assert domains >= 8 and audit == domains + roles_

    assert load_catalogue(OPERATOR) == first
    db.session.commit()
    assert (count(Domain), count(Role), len(events())) == (domains, roles_, audit)

    tdb = role("TDBESMS", "LECTEUR")
    assert (tdb.label, tdb.exclusive_group) == ("Lecteur", "acces")
    assert role("ADMINISTRATION", "APE").exclusive_group is None


def test_a_changed_catalogue_updates_roles_in_place(app: Flask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    load_catalogue(OPERATOR)
    db.session.commit()
    roles_ = count(Role)
    changed = tmp_path / "catalogue.toml"
    changed.write_text(
        '[[domains]]\ncode = "SAGA"\nlabel = "SAGA Directeurs"\n'
        'description = "Gestion des directeurs de la fonction publique hospitalière (CNG)."\n'
        'roles = [{ code = "DIRECTEUR", label = "Directeur d\'établissement" }]\n',
        encoding="utf-8",
    )
    audit = len(events())
    load_catalogue(OPERATOR, changed)
    db.session.commit()
    assert count(Role) == roles_
    assert role("SAGA", "DIRECTEUR").label == "Directeur d'établissement"
    assert [e.action for e in events()[audit:]] == ["catalogue.role.update"]


# --- the audit log --------------------------------------------------------------------


def test_an_audit_event_cannot_be_rewritten(app: Flask) -> None:
    person("Jean", "Valjean")
    db.session.commit()
    (event,) = events()
    event.actor = "quelqu'un d'autre"
    with pytest.raises(PermissionError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert events()[0].actor == "cli:operateur"


def test_an_audit_event_cannot_be_deleted(app: Flask) -> None:
    person("Jean", "Valjean")
    db.session.commit()
    db.session.delete(events()[0])
    with pytest.raises(PermissionError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert len(events()) == 1


def test_the_audit_log_cannot_be_rewritten_in_bulk_either(app: Flask) -> None:
    person("Jean", "Valjean")
    db.session.commit()
    with pytest.raises(PermissionError, match="append-only"):
        db.session.execute(update(AuditEvent).values(actor="effacé"))
    with pytest.raises(PermissionError, match="append-only"):
        db.session.execute(delete(AuditEvent))
    db.session.rollback()
    assert [e.actor for e in events()] == ["cli:operateur"]


# --- signing keys ---------------------------------------------------------------------


def test_ensure_keys_makes_one_key_per_algorithm_once(app: Flask) -> None:
    first = keys.ensure_keys("phrase secrète", OPERATOR)
    db.session.commit()
    again = keys.ensure_keys("phrase secrète", OPERATOR)
    db.session.commit()
    assert [k.alg for k in first] == ["RS256", "ES256"]
    assert [k.kid for k in again] == [k.kid for k in first]
    assert count(SigningKey) == 2
    assert [e.action for e in events()] == ["keys.generate", "keys.generate"]


def test_private_keys_are_stored_encrypted(app: Flask) -> None:
    keys.ensure_keys("phrase secrète", OPERATOR)
    db.session.commit()
    for row in keys.all_keys():
        # PBKDF2-HMAC-SHA256 at OWASP's 600,000 iterations, then AES-256-GCM.
        assert row.private_pem.startswith("pbkdf2-sha256-aes256gcm$600000$")
        assert "PRIVATE KEY" not in row.private_pem
        with pytest.raises(sealing.WrongPassphrase):
            sealing.unseal(row.private_pem, "mauvaise phrase", row.kid)
        with pytest.raises(sealing.WrongPassphrase):  # bound to its kid
            sealing.unseal(row.private_pem, "phrase secrète", "autre-kid")
        pem = sealing.unseal(row.private_pem, "phrase secrète", row.kid)
        assert load_pem_private_key(pem, password=None)
        assert not {"d", "p", "q"} & set(row.public_jwk)


def test_the_jwks_publishes_kid_alg_and_use(app: Flask) -> None:
    keys.ensure_keys("phrase secrète", OPERATOR)
    db.session.commit()
    published = keys.jwks()["keys"]
    assert {(k["alg"], k["use"], k["kty"]) for k in published} == {
        ("RS256", "sig", "RSA"), ("ES256", "sig", "EC"),
    }
    assert {k["kid"] for k in published} == {row.kid for row in keys.all_keys()}
    assert all("d" not in k for k in published)
    assert len(keys.public_keyset().keys) == 2


def test_rotation_keeps_the_old_key_published_until_its_tokens_expire(app: Flask) -> None:
    old = keys.generate("RS256", "phrase secrète", OPERATOR)
    db.session.commit()
    new = keys.rotate("RS256", "phrase secrète", OPERATOR, retire_after=timedelta(hours=1))
    db.session.commit()

    assert keys.signing_key("RS256", "phrase secrète").kid == new.kid
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old.kid, new.kid}
    assert old.state == "retired (published)" and new.state == "active"
    (rotated,) = events("keys.rotate")
    assert rotated.details == {"alg": "RS256", "retired": old.kid}

    old.publish_until = old.retired_at  # the longest token lifetime has passed
    db.session.commit()
    assert [k["kid"] for k in keys.jwks()["keys"]] == [new.kid]
    assert old.state == "retired"


def test_a_second_generate_is_refused_rotate_is_the_way(app: Flask) -> None:
    keys.generate("ES256", "phrase secrète", OPERATOR)
    with pytest.raises(RuleViolation, match=r"Une clé ES256 active existe déjà \(kid .+\) : "
                                            r"utilisez `idp keys rotate` pour la remplacer"):
        keys.generate("ES256", "phrase secrète", OPERATOR)
    with pytest.raises(RuleViolation, match="Algorithme non pris en charge : HS256"):
        keys.generate("HS256", "phrase secrète", OPERATOR)


def test_the_signing_key_signs_what_the_jwks_verifies(app: Flask) -> None:
    from joserfc import jwt

    keys.ensure_keys("phrase secrète", OPERATOR)
    db.session.commit()
    for alg in keys.SUPPORTED_ALGORITHMS:
        key = keys.signing_key(alg, "phrase secrète")
        token = jwt.encode({"alg": alg, "kid": key.kid}, {"sub": "463471"}, key)
        decoded = jwt.decode(token, keys.public_keyset(), algorithms=[alg])
        assert decoded.claims["sub"] == "463471"
        assert decoded.header["kid"] == key.kid


def test_without_a_key_signing_says_which_command_to_run(app: Flask) -> None:
    with pytest.raises(keys.NoSigningKey, match="idp keys generate --alg RS256"):
        keys.signing_key("RS256", "phrase secrète")


def test_whom_to_contact_falls_back_to_the_level_that_appoints_the_ape(app) -> None:  # type: ignore[no-untyped-def]
    """EHPAD Le Verger has no administrator yet: its people are sent to the
    administrators of its managing OG, who appoint its APE (principle 4)."""
    from tests.support import directory as d

    world = d.ancre_world()
    og_director = d.account("Odile", "Gestionnaire")
    d.profile(og_director, world.og, "Direction de l'association", "ADMINISTRATION/APE")
    db.session.commit()

    with_admin = services.contacts_for(world.etab_x)
    assert [p.account.identifier for p in with_admin.administrators] == [world.ape.identifier]
    assert with_admin.appointers == []

    without_admin = services.contacts_for(world.etab_y)
    assert without_admin.administrators == []
    [(above, admins)] = without_admin.appointers
    assert above.id == world.og.id
    assert [p.account.identifier for p in admins] == [og_director.identifier]


def test_a_login_upgrades_a_hash_made_with_weaker_parameters(app) -> None:  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from idp.directory import passwords

    account = services.create_account(given_name="Anne", family_name="Ancienne",
                                      email="anne@example.test", password=PASSWORD,
                                      actor=OPERATOR,
        password_min_length=MIN_LENGTH)
    account.password_hash = PasswordHasher(time_cost=1, memory_cost=512,
                                           parallelism=1).hash(PASSWORD)
    db.session.commit()
    weak = account.password_hash
    assert passwords.needs_rehash(weak)

    assert services.authenticate(account.identifier, PASSWORD) is account
    assert account.password_hash != weak
    assert not passwords.needs_rehash(account.password_hash)
    assert services.authenticate(account.identifier, PASSWORD) is account
