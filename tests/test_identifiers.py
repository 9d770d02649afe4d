"""FINESS numbers and PLAGE account identifiers: the check digits the guides rely on."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.directory.identifiers import (
    InvalidFiness,
    finess_departement,
    is_valid_identifier,
    luhn_check_digit,
    luhn_checksum_ok,
    new_identifier,
    validate_finess,
)

# --- Luhn -----------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["0", "18", "79927398713", "4539578763621486", "463471"])
def test_luhn_accepts_well_keyed_numbers(number: str) -> None:
    assert luhn_checksum_ok(number)


@pytest.mark.parametrize("number", ["1", "79927398710", "463472", "250011815"])
def test_luhn_refuses_a_wrong_key(number: str) -> None:
    assert not luhn_checksum_ok(number)


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_the_check_digit_completes_any_body(body: str) -> None:
    digit = luhn_check_digit(body)
    assert len(digit) == 1 and digit.isdigit()
    assert luhn_checksum_ok(body + digit)
    # ...and it is the only digit that does.
    others = [d for d in "0123456789" if d != digit and luhn_checksum_ok(body + d)]
    assert others == []


@given(
    st.text(alphabet="0123456789", min_size=2, max_size=15),
    st.data(),
)
def test_luhn_catches_every_single_digit_error(body: str, data: st.DataObject) -> None:
    number = body + luhn_check_digit(body)
    position = data.draw(st.integers(0, len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    assert not luhn_checksum_ok(number[:position] + wrong + number[position + 1:])


# --- FINESS ---------------------------------------------------------------------------


def keyed(body: str) -> str:
    """A FINESS number with its Luhn key (Corsica's letter counts as 0)."""
    return body + luhn_check_digit(body.upper().replace("A", "0").replace("B", "0"))


@pytest.mark.parametrize("finess", ["250011814", "580000966"])
def test_the_guides_finess_numbers_are_valid(finess: str) -> None:
    assert validate_finess(finess) == finess


def test_a_single_digit_typo_is_refused_with_the_key_named() -> None:
    with pytest.raises(InvalidFiness, match="clé"):
        validate_finess("250011824")
    with pytest.raises(InvalidFiness, match="clé"):
        validate_finess("580000969")


@given(st.sampled_from(["250011814", "580000966"]), st.integers(2, 8), st.data())
def test_any_single_digit_change_after_the_departement_is_refused(
    finess: str, position: int, data: st.DataObject
) -> None:
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != finess[position]]))
    with pytest.raises(InvalidFiness):
        validate_finess(finess[:position] + wrong + finess[position + 1:])


@pytest.mark.parametrize("raw", ["25001181", "2500118140", "", "   "])
def test_a_finess_has_nine_characters(raw: str) -> None:
    with pytest.raises(InvalidFiness, match="9 caractères"):
        validate_finess(raw)


@pytest.mark.parametrize("raw", ["25001181X", "2C0011814", "25-011814", "A50011814"])
def test_only_digits_and_the_corsican_letters(raw: str) -> None:
    with pytest.raises(InvalidFiness, match="chiffres"):
        validate_finess(raw)


@pytest.mark.parametrize("raw", ["250 011 814", " 250011814 ", "25 00 11 81 4", "250011814\n"])
def test_spaces_typed_or_pasted_around_the_number_are_ignored(raw: str) -> None:
    assert validate_finess(raw) == "250011814"


def test_a_number_pasted_with_non_breaking_spaces_is_accepted() -> None:
    # French typography puts U+00A0 between digit groups; pasted from a letter, it stays.
    assert validate_finess("250\u00a0011\u00a0814") == "250011814"


def test_digits_from_other_scripts_are_not_digits() -> None:
    # Full-width digits pass str.isdigit(): they must not reach the database as a FINESS.
    with pytest.raises(InvalidFiness):
        validate_finess("２５００１１８１４")
    with pytest.raises(InvalidFiness):
        validate_finess("25001181٤")


@pytest.mark.parametrize("body", ["2A000001", "2B000001", "2A123456", "2B987654"])
def test_corsican_finess_numbers_are_valid(body: str) -> None:
    finess = keyed(body)
    assert validate_finess(finess) == finess
    assert finess_departement(finess) == body[:2]


def test_lower_case_corsican_letters_are_accepted_and_normalised() -> None:
    finess = keyed("2A000001")
    assert validate_finess(finess.lower()) == finess


@pytest.mark.parametrize("dep", ["971", "972", "973", "974", "975", "976"])
def test_overseas_finess_numbers_are_valid(dep: str) -> None:
    finess = keyed(dep + "00001")
    assert validate_finess(finess) == finess
    assert finess_departement(finess) == dep


@pytest.mark.parametrize("prefix", ["00", "20", "96", "98", "99", "977", "978", "970"])
def test_finess_numbers_of_unknown_departements_are_refused(prefix: str) -> None:
    finess = keyed(prefix + "0" * (8 - len(prefix)))
    assert luhn_checksum_ok(finess)  # the key is right: the département is what is wrong
    with pytest.raises(InvalidFiness, match="département inconnu"):
        validate_finess(finess)


def test_the_guides_test_entity_finess_is_refused_as_a_real_one() -> None:
    # `000000005` names test entities in the guides; it is no département's number.
    with pytest.raises(InvalidFiness):
        validate_finess("000000005")


@pytest.mark.parametrize("dep", ["01", "13", "19", "21", "59", "75", "95"])
def test_mainland_departements_are_valid_prefixes(dep: str) -> None:
    finess = keyed(dep + "123456")
    assert validate_finess(finess) == finess
    assert finess_departement(finess) == dep


def test_the_message_quotes_what_the_user_typed() -> None:
    with pytest.raises(InvalidFiness) as info:
        validate_finess("25001181")
    assert "« 25001181 »" in str(info.value)


@given(
    st.sampled_from([f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"]),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
)
def test_every_keyed_number_of_a_real_departement_is_valid(dep: str, digits: str) -> None:
    finess = keyed(dep + digits)
    assert validate_finess(finess) == finess


@given(st.text(max_size=12))
def test_validation_either_refuses_or_returns_nine_ascii_characters(raw: str) -> None:
    try:
        finess = validate_finess(raw)
    except InvalidFiness:
        return
    assert len(finess) == 9 and finess.isascii() and finess.isalnum()


# --- account identifiers --------------------------------------------------------------


def test_a_new_identifier_carries_a_valid_check_digit() -> None:
    identifier = new_identifier(lambda _: False)
    assert is_valid_identifier(identifier)
    assert len(identifier) == 8 and identifier[0] != "0"


def test_a_taken_identifier_is_drawn_again() -> None:
    asked: list[str] = []

    def taken(candidate: str) -> bool:
        asked.append(candidate)
        return len(asked) <= 3  # the first three draws collide with existing accounts

    identifier = new_identifier(taken)
    assert len(asked) == 4
    assert identifier == asked[-1]
    assert all(is_valid_identifier(candidate) for candidate in asked)


def test_drawing_gives_up_loudly_when_every_identifier_is_taken() -> None:
    with pytest.raises(RuntimeError):
        new_identifier(lambda _: True)


def test_identifiers_are_never_handed_out_in_sequence() -> None:
    drawn: set[str] = set()
    identifiers = [new_identifier(lambda c: c in drawn) for _ in range(200)]
    drawn.update(identifiers)
    bodies = [int(i[:-1]) for i in identifiers]
    assert len(set(identifiers)) == 200
    # Not in order, and neighbours are far apart: the next one cannot be guessed.
    assert bodies != sorted(bodies)
    steps = [abs(b - a) for a, b in itertools.pairwise(bodies)]
    assert sum(step <= 10 for step in steps) < 5


def test_the_identifier_length_follows_the_body_size() -> None:
    identifier = new_identifier(lambda _: False, body_digits=5)
    assert len(identifier) == 6 and is_valid_identifier(identifier)


@pytest.mark.parametrize("identifier", ["463471", "250011814", "12345674"])
def test_identifiers_keyed_with_luhn_are_valid(identifier: str) -> None:
    assert is_valid_identifier(identifier)


@pytest.mark.parametrize(
    "identifier",
    ["463472", "46347", "", "46347a", " 463471", "４６３４７１", "46347¹"],
)
def test_malformed_identifiers_are_not_valid(identifier: str) -> None:
    assert is_valid_identifier(identifier) is False
