"""The directory's rules as the guides tell them, on plain objects (no database, no Flask)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pytest

from idp.core.errors import RuleViolation
from idp.directory import rules
from idp.directory.enums import AccountState, EntityLevel, EntityType, ProfileState

# --- small doubles with the attributes the rules read ---------------------------------

_ids = itertools.count(1)


@dataclass(frozen=True)
class FakeRole:
    domain_code: str
    code: str
    label: str
    exclusive_group: str | None = None


@dataclass
class FakeEntity:
    type: EntityType
    name: str
    region: str | None = None
    departement: str | None = None
    managing_og_id: int | None = None
    id: int = field(default_factory=lambda: next(_ids))


@dataclass
class FakeAccount:
    state: AccountState = AccountState.ACTIVE


@dataclass
class FakeHabilitation:
    role: FakeRole


@dataclass
class FakeProfile:
    entity_id: int
    roles: list[FakeRole] = field(default_factory=list)
    state: ProfileState = ProfileState.ACTIVE
    account: FakeAccount = field(default_factory=FakeAccount)
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def habilitations(self) -> list[FakeHabilitation]:
        return [FakeHabilitation(role) for role in self.roles]


# The catalogue as shipped (idp/directory/data/catalogue.toml), the parts the scenarios use.
APE = FakeRole("ADMINISTRATION", "APE", "Administrateur principal d'établissement (APE)")
ADMINISTRATEUR = FakeRole("ADMINISTRATION", "ADMINISTRATEUR", "Administrateur")
ANCRE_GESTIONNAIRE = FakeRole("ANCRE", "GESTIONNAIRE_FICHIERS", "Gestionnaire de fichiers",
                              "acces")
ANCRE_LECTEUR = FakeRole("ANCRE", "LECTEUR", "Lecteur", "acces")
TDB_GESTIONNAIRE = FakeRole("TDBESMS", "GESTIONNAIRE_FICHIERS", "Gestionnaire de fichiers",
                            "acces")
TDB_LECTEUR = FakeRole("TDBESMS", "LECTEUR", "Lecteur", "acces")
ECDS_OPERATEUR = FakeRole("ECDS", "OPERATEUR_SAISIE", "Opérateur de saisie")
ECDS_VALIDEUR = FakeRole("ECDS", "VALIDEUR", "Valideur")
ECDS_LECTEUR = FakeRole("ECDS", "LECTEUR", "Lecteur")
SAGA_DIRECTEUR = FakeRole("SAGA", "DIRECTEUR", "Directeur")


class FakeDirectory:
    """The entities a scenario knows, answering like `services.authority_lookup()`."""

    def __init__(self, *entities: FakeEntity) -> None:
        self.entities = {e.id: e for e in entities}

    def lookup(self) -> rules.AuthorityLookup:
        def ars_of_region(region: str) -> FakeEntity | None:
            return next((e for e in self.entities.values()
                         if e.type == EntityType.ARS and e.region == region), None)

        def cds_of_departement(dep: str) -> list[FakeEntity]:
            return [e for e in self.entities.values()
                    if e.type == EntityType.CD and e.departement == dep]

        def national_entities() -> list[FakeEntity]:
            return [e for e in self.entities.values() if e.type == EntityType.NAT]

        return rules.AuthorityLookup(
            entity_by_id=self.entities.get,
            ars_of_region=ars_of_region,
            cds_of_departement=cds_of_departement,
            national_entities=national_entities,
        )


def names(entities: Iterable[FakeEntity]) -> list[str]:
    return [e.name for e in entities]


# A small piece of France: Bourgogne-Franche-Comté (27), Nièvre (58) and Doubs (25).
ATIH = FakeEntity(EntityType.NAT, "ATIH")
CNG = FakeEntity(EntityType.NAT, "CNG")
ARS_BFC = FakeEntity(EntityType.ARS, "ARS Bourgogne-Franche-Comté", region="27")
CD_NIEVRE = FakeEntity(EntityType.CD, "Conseil départemental de la Nièvre", region="27",
                       departement="58")
CD_DOUBS = FakeEntity(EntityType.CD, "Conseil départemental du Doubs", region="27",
                      departement="25")
OG_NIEVRE = FakeEntity(EntityType.EJ, "Association gestionnaire nivernaise", region="27",
                       departement="58")
EHPAD_NEVERS = FakeEntity(EntityType.ET, "EHPAD de Nevers", region="27", departement="58",
                          managing_og_id=OG_NIEVRE.id)
IME_COSNE = FakeEntity(EntityType.ET, "IME de Cosne", region="27", departement="58",
                       managing_og_id=OG_NIEVRE.id)
CH_BESANCON = FakeEntity(EntityType.ET, "Centre hospitalier de Besançon", region="27",
                         departement="25")
FRANCE = FakeDirectory(ATIH, CNG, ARS_BFC, CD_NIEVRE, CD_DOUBS, OG_NIEVRE, EHPAD_NEVERS,
                       IME_COSNE, CH_BESANCON)


# --- entities -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_type", "level"),
    [
        (EntityType.ET, EntityLevel.ETABLISSEMENT),
        (EntityType.EJ, EntityLevel.ETABLISSEMENT),
        (EntityType.ARS, EntityLevel.REGIONAL),
        (EntityType.CD, EntityLevel.REGIONAL),
        (EntityType.NAT, EntityLevel.NATIONAL),
    ],
)
def test_entities_sit_at_three_levels(entity_type: EntityType, level: EntityLevel) -> None:
    assert rules.entity_level(entity_type) == level
    assert rules.entity_level(str(entity_type)) == level  # type: ignore[arg-type]


@pytest.mark.parametrize(("managed", "claimed"), [(0, "EJ"), (1, "EJ"), (2, "OG"), (40, "OG")])
def test_a_legal_entity_managing_two_finess_or_more_is_an_og(managed: int, claimed: str) -> None:
    assert rules.claimed_entity_type(EntityType.EJ, managed) == claimed


@pytest.mark.parametrize("entity_type", [EntityType.ET, EntityType.ARS, EntityType.CD,
                                         EntityType.NAT])
def test_only_a_legal_entity_can_be_claimed_as_an_og(entity_type: EntityType) -> None:
    assert rules.claimed_entity_type(entity_type, 5) == str(entity_type)
    assert rules.claimed_entity_type(entity_type, 5) == entity_type.value


# --- exclusive roles ------------------------------------------------------------------


def test_gestionnaire_and_lecteur_of_ancre_held_together_are_a_conflict() -> None:
    conflicts = rules.exclusive_conflicts([ANCRE_GESTIONNAIRE, ANCRE_LECTEUR, SAGA_DIRECTEUR])
    assert conflicts == [(ANCRE_GESTIONNAIRE, ANCRE_LECTEUR)]


def test_conflicts_are_reported_per_domain() -> None:
    conflicts = rules.exclusive_conflicts(
        [ANCRE_GESTIONNAIRE, TDB_LECTEUR, ANCRE_LECTEUR, TDB_GESTIONNAIRE]
    )
    assert sorted(conflicts, key=lambda group: group[0].domain_code) == [
        (ANCRE_GESTIONNAIRE, ANCRE_LECTEUR),
        (TDB_LECTEUR, TDB_GESTIONNAIRE),
    ]


def test_gestionnaire_in_ancre_and_lecteur_in_tdbesms_is_no_conflict() -> None:
    assert rules.exclusive_conflicts([ANCRE_GESTIONNAIRE, TDB_LECTEUR]) == []


def test_roles_without_an_exclusive_group_never_conflict() -> None:
    assert rules.exclusive_conflicts([ECDS_OPERATEUR, ECDS_VALIDEUR, ECDS_LECTEUR]) == []
    assert rules.exclusive_conflicts([]) == []


def test_the_same_role_counted_twice_is_no_conflict() -> None:
    twin = replace(ANCRE_LECTEUR)
    assert rules.exclusive_conflicts([ANCRE_LECTEUR, twin]) == []


def test_an_administrator_cannot_make_an_ancre_gestionnaire_also_lecteur() -> None:
    with pytest.raises(rules.ExclusiveRoleConflict) as refused:
        rules.check_can_grant([ANCRE_GESTIONNAIRE], ANCRE_LECTEUR)
    message = str(refused.value)
    assert "« Gestionnaire de fichiers »" in message
    assert "« Lecteur »" in message
    assert "ANCRE" in message
    assert "exclusifs" in message
    assert "Retirez d'abord le rôle « Gestionnaire de fichiers »" in message


def test_the_refusal_is_a_rule_violation_shown_as_is() -> None:
    with pytest.raises(RuleViolation):
        rules.check_can_grant([TDB_LECTEUR], TDB_GESTIONNAIRE)


def test_granting_a_role_the_profile_already_holds_is_no_exclusive_conflict() -> None:
    rules.check_can_grant([ANCRE_LECTEUR], ANCRE_LECTEUR)


def test_lecteur_of_tdbesms_is_fine_beside_gestionnaire_of_ancre() -> None:
    rules.check_can_grant([ANCRE_GESTIONNAIRE, SAGA_DIRECTEUR], TDB_LECTEUR)


def test_non_exclusive_roles_can_be_added_freely() -> None:
    rules.check_can_grant([ECDS_OPERATEUR, ECDS_LECTEUR], ECDS_VALIDEUR)
    rules.check_can_grant([ANCRE_GESTIONNAIRE], APE)


def test_a_same_named_group_in_another_domain_is_another_group() -> None:
    pmsi_private = FakeRole("PMSI", "LECTEUR", "Lecteur", "acces")
    rules.check_can_grant([ANCRE_GESTIONNAIRE], pmsi_private)


# --- one APE per entity ---------------------------------------------------------------


def test_an_entity_without_ape_can_receive_one() -> None:
    rules.check_single_ape([], profile_id=7)


def test_the_current_ape_keeps_the_role_without_conflict() -> None:
    rules.check_single_ape([7], profile_id=7)


def test_a_second_ape_on_the_same_entity_is_refused() -> None:
    with pytest.raises(rules.ApeAlreadyAppointed, match="qu'un par entité"):
        rules.check_single_ape([7], profile_id=8)


# --- who appoints the APE (principle 4) -----------------------------------------------


def test_the_og_appoints_the_ape_of_one_of_its_esms() -> None:
    assert names(rules.appointing_entities(EHPAD_NEVERS, FRANCE.lookup())) == [
        "Association gestionnaire nivernaise"
    ]


def test_an_establishment_without_og_answers_to_its_ars_and_cd() -> None:
    assert names(rules.appointing_entities(CH_BESANCON, FRANCE.lookup())) == [
        "ARS Bourgogne-Franche-Comté",
        "Conseil départemental du Doubs",
    ]


def test_the_og_itself_answers_to_its_ars_and_cd() -> None:
    assert names(rules.appointing_entities(OG_NIEVRE, FRANCE.lookup())) == [
        "ARS Bourgogne-Franche-Comté",
        "Conseil départemental de la Nièvre",
    ]


def test_an_entity_naming_itself_as_its_og_does_not_appoint_itself() -> None:
    self_managed = FakeEntity(EntityType.EJ, "EJ autogérée", region="27", departement="25")
    self_managed.managing_og_id = self_managed.id
    directory = FakeDirectory(ARS_BFC, CD_DOUBS, ATIH, self_managed)
    assert names(rules.appointing_entities(self_managed, directory.lookup())) == [
        "ARS Bourgogne-Franche-Comté",
        "Conseil départemental du Doubs",
    ]


def test_an_establishment_whose_og_is_unknown_answers_to_its_ars_and_cd() -> None:
    orphan = FakeEntity(EntityType.ET, "SSIAD de Clamecy", region="27", departement="58",
                        managing_og_id=999_999)
    assert names(rules.appointing_entities(orphan, FRANCE.lookup())) == [
        "ARS Bourgogne-Franche-Comté",
        "Conseil départemental de la Nièvre",
    ]


def test_an_establishment_with_only_an_ars_known_answers_to_the_ars() -> None:
    in_jura = FakeEntity(EntityType.ET, "EHPAD de Dole", region="27", departement="39")
    assert names(rules.appointing_entities(in_jura, FRANCE.lookup())) == [
        "ARS Bourgogne-Franche-Comté"
    ]


@pytest.mark.parametrize("regional", [ARS_BFC, CD_NIEVRE], ids=["ARS", "CD"])
def test_the_national_level_appoints_the_ape_of_an_ars_or_a_cd(regional: FakeEntity) -> None:
    assert names(rules.appointing_entities(regional, FRANCE.lookup())) == ["ATIH", "CNG"]


def test_the_national_level_appoints_its_own_apes() -> None:
    assert names(rules.appointing_entities(CNG, FRANCE.lookup())) == ["ATIH", "CNG"]


def test_an_establishment_with_no_ars_or_cd_known_falls_back_to_the_national_level() -> None:
    in_guyane = FakeEntity(EntityType.ET, "Centre hospitalier de Cayenne", region="03",
                           departement="973")
    nowhere = FakeEntity(EntityType.ET, "Entité de test 000000005")
    assert names(rules.appointing_entities(in_guyane, FRANCE.lookup())) == ["ATIH", "CNG"]
    assert names(rules.appointing_entities(nowhere, FRANCE.lookup())) == ["ATIH", "CNG"]


# --- who administers (principles 3 and 4) ---------------------------------------------


def test_the_ape_of_an_entity_administers_its_profiles() -> None:
    ape = FakeProfile(CH_BESANCON.id, [APE])
    assert rules.may_administer([ape], CH_BESANCON.id)


def test_an_administrateur_helping_the_ape_administers_too() -> None:
    helper = FakeProfile(CH_BESANCON.id, [ADMINISTRATEUR])
    assert rules.may_administer([helper], CH_BESANCON.id)


def test_administering_one_entity_gives_nothing_on_another() -> None:
    ape_of_nevers = FakeProfile(EHPAD_NEVERS.id, [APE])
    assert not rules.may_administer([ape_of_nevers], CH_BESANCON.id)


def test_an_application_role_is_no_administration_right() -> None:
    gestionnaire = FakeProfile(CH_BESANCON.id, [ANCRE_GESTIONNAIRE, TDB_GESTIONNAIRE])
    assert not rules.may_administer([gestionnaire], CH_BESANCON.id)


def test_an_administrateur_role_of_another_domain_is_no_administration_right() -> None:
    lookalike = FakeRole("AGORA", "ADMINISTRATEUR", "Administrateur AGORA")
    assert not rules.may_administer([FakeProfile(CH_BESANCON.id, [lookalike])], CH_BESANCON.id)


@pytest.mark.parametrize("state", [ProfileState.PENDING, ProfileState.INACTIVE])
def test_an_ape_profile_that_is_not_active_does_not_count(state: ProfileState) -> None:
    ape = FakeProfile(CH_BESANCON.id, [APE], state=state)
    assert not rules.may_administer([ape], CH_BESANCON.id)


def test_the_ape_profile_of_a_deactivated_account_does_not_count() -> None:
    ape = FakeProfile(CH_BESANCON.id, [APE], account=FakeAccount(AccountState.INACTIVE))
    assert not rules.may_administer([ape], CH_BESANCON.id)


def test_one_usable_admin_profile_among_several_is_enough() -> None:
    profiles = [
        FakeProfile(CH_BESANCON.id, [APE], state=ProfileState.INACTIVE),
        FakeProfile(EHPAD_NEVERS.id, [APE]),
        FakeProfile(CH_BESANCON.id, [ADMINISTRATEUR]),
    ]
    assert rules.may_administer(profiles, CH_BESANCON.id)
    assert rules.may_administer(iter(profiles), CH_BESANCON.id)


def test_an_og_administrator_appoints_the_ape_of_one_of_its_esms() -> None:
    og_ape = FakeProfile(OG_NIEVRE.id, [APE])
    og_helper = FakeProfile(OG_NIEVRE.id, [ADMINISTRATEUR])
    assert rules.may_appoint_ape([og_ape], EHPAD_NEVERS, FRANCE.lookup())
    assert rules.may_appoint_ape([og_helper], IME_COSNE, FRANCE.lookup())


def test_the_ars_does_not_appoint_the_ape_of_an_esms_managed_by_an_og() -> None:
    ars_admin = FakeProfile(ARS_BFC.id, [APE])
    assert not rules.may_appoint_ape([ars_admin], EHPAD_NEVERS, FRANCE.lookup())


def test_the_ape_of_an_establishment_does_not_appoint_its_own_successor() -> None:
    ape = FakeProfile(CH_BESANCON.id, [APE])
    assert not rules.may_appoint_ape([ape], CH_BESANCON, FRANCE.lookup())


@pytest.mark.parametrize("authority", [ARS_BFC, CD_DOUBS], ids=["ARS", "CD"])
def test_the_ars_or_the_cd_appoints_the_ape_of_an_independent_hospital(
    authority: FakeEntity,
) -> None:
    admin = FakeProfile(authority.id, [ADMINISTRATEUR])
    assert rules.may_appoint_ape([admin], CH_BESANCON, FRANCE.lookup())


def test_the_cd_of_another_departement_appoints_nothing_here() -> None:
    nievre_admin = FakeProfile(CD_NIEVRE.id, [APE])
    assert not rules.may_appoint_ape([nievre_admin], CH_BESANCON, FRANCE.lookup())


def test_a_national_administrator_appoints_the_ape_of_an_ars() -> None:
    atih_admin = FakeProfile(ATIH.id, [ADMINISTRATEUR])
    assert rules.may_appoint_ape([atih_admin], ARS_BFC, FRANCE.lookup())
    assert not rules.may_appoint_ape([atih_admin], EHPAD_NEVERS, FRANCE.lookup())


def test_an_inactive_og_administrator_cannot_appoint() -> None:
    lookup = FRANCE.lookup()
    pending = FakeProfile(OG_NIEVRE.id, [APE], state=ProfileState.PENDING)
    refused = FakeProfile(OG_NIEVRE.id, [APE], state=ProfileState.INACTIVE)
    closed = FakeProfile(OG_NIEVRE.id, [APE], account=FakeAccount(AccountState.INACTIVE))
    for profile in (pending, refused, closed):
        assert not rules.may_appoint_ape([profile], EHPAD_NEVERS, lookup)


def test_a_lecteur_of_the_og_cannot_appoint() -> None:
    lecteur = FakeProfile(OG_NIEVRE.id, [TDB_LECTEUR])
    assert not rules.may_appoint_ape([lecteur], EHPAD_NEVERS, FRANCE.lookup())


# --- login ----------------------------------------------------------------------------


def test_the_claims_show_only_the_roles_of_the_clients_domains() -> None:
    profile = FakeProfile(CH_BESANCON.id, [SAGA_DIRECTEUR, TDB_LECTEUR, ECDS_VALIDEUR,
                                           ECDS_LECTEUR, APE])
    assert rules.roles_in_domains(profile, ["TDBESMS", "ECDS"]) == {
        "ECDS": ["LECTEUR", "VALIDEUR"],
        "TDBESMS": ["LECTEUR"],
    }
    assert list(rules.roles_in_domains(profile, ["TDBESMS", "ECDS"])) == ["ECDS", "TDBESMS"]


def test_a_domain_where_the_profile_has_no_role_is_left_out() -> None:
    profile = FakeProfile(CH_BESANCON.id, [SAGA_DIRECTEUR])
    assert rules.roles_in_domains(profile, ["SAGA", "ANCRE"]) == {"SAGA": ["DIRECTEUR"]}
    assert rules.roles_in_domains(profile, []) == {}
    assert rules.roles_in_domains(profile, iter(["SAGA"])) == {"SAGA": ["DIRECTEUR"]}


def test_a_person_with_one_ancre_profile_is_logged_in_with_it() -> None:
    nevers = FakeProfile(EHPAD_NEVERS.id, [ANCRE_GESTIONNAIRE])
    besancon = FakeProfile(CH_BESANCON.id, [SAGA_DIRECTEUR])
    assert rules.eligible_profiles([nevers, besancon], ["ANCRE"]) == [nevers]


def test_a_person_with_two_ancre_profiles_chooses_between_them() -> None:
    gestionnaire = FakeProfile(EHPAD_NEVERS.id, [ANCRE_GESTIONNAIRE])
    lecteur = FakeProfile(IME_COSNE.id, [ANCRE_LECTEUR])
    assert rules.eligible_profiles([gestionnaire, lecteur], iter(["ANCRE"])) == [
        gestionnaire, lecteur,
    ]


def test_pending_and_refused_profiles_cannot_log_in() -> None:
    pending = FakeProfile(EHPAD_NEVERS.id, [ANCRE_LECTEUR], state=ProfileState.PENDING)
    refused = FakeProfile(IME_COSNE.id, [ANCRE_LECTEUR], state=ProfileState.INACTIVE)
    active = FakeProfile(CH_BESANCON.id, [ANCRE_LECTEUR])
    assert rules.eligible_profiles([pending, refused, active], ["ANCRE"]) == [active]


def test_a_deactivated_account_has_no_eligible_profile() -> None:
    closed = FakeAccount(AccountState.INACTIVE)
    profiles = [FakeProfile(EHPAD_NEVERS.id, [ANCRE_LECTEUR], account=closed),
                FakeProfile(CH_BESANCON.id, [ANCRE_GESTIONNAIRE], account=closed)]
    assert rules.eligible_profiles(profiles, ["ANCRE"]) == []


def test_a_profile_with_roles_only_in_other_domains_is_not_eligible() -> None:
    saga_only = FakeProfile(CH_BESANCON.id, [SAGA_DIRECTEUR, APE])
    no_role = FakeProfile(EHPAD_NEVERS.id, [])
    assert rules.eligible_profiles([saga_only, no_role], ["TDBESMS", "ANCRE"]) == []


def test_a_client_of_several_domains_accepts_a_profile_holding_any_of_them() -> None:
    tdb = FakeProfile(EHPAD_NEVERS.id, [TDB_LECTEUR])
    ecds = FakeProfile(IME_COSNE.id, [ECDS_OPERATEUR])
    assert rules.eligible_profiles([tdb, ecds], ("TDBESMS", "ECDS")) == [tdb, ecds]


def test_an_administration_client_accepts_the_apes() -> None:
    ape = FakeProfile(CH_BESANCON.id, [APE])
    assert rules.is_admin_profile(ape)
    assert rules.eligible_profiles([ape], [rules.ADMINISTRATION]) == [ape]


def test_a_profile_holding_two_exclusive_roles_of_the_clients_domain_cannot_be_used() -> None:
    """Legacy data still holding Gestionnaire de fichiers and Lecteur in ANCRE: the
    profile is set apart (the login explains it) for ANCRE, not for SAGA."""
    both = FakeProfile(EHPAD_NEVERS.id, [ANCRE_GESTIONNAIRE, ANCRE_LECTEUR, SAGA_DIRECTEUR])
    clean = FakeProfile(IME_COSNE.id, [ANCRE_LECTEUR])
    sorted_out = rules.profiles_for_client([both, clean], ["ANCRE"])
    assert sorted_out.usable == [clean] and sorted_out.conflicted == [both]
    assert not rules.may_use_for_client(both, ["ANCRE"])
    assert rules.may_use_for_client(both, ["SAGA"])
    assert rules.may_use_for_client(clean, iter(["ANCRE"]))
