"""The one fold of typed names: what the duplicate check of « Créer un compte » and the
entity search both compare, so that every keyboard's spelling of a name matches."""

from __future__ import annotations

import re
import unicodedata

# Ligatures have no decomposition: "Lœuillet" is typed "Loeuillet" on most keyboards.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})
_SEPARATORS = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """'Saint-Étienne' -> 'saint etienne'.

    Accents go, ligatures are spelt out, case is folded, and any punctuation (hyphens,
    straight or curly apostrophes) or run of spaces becomes one space.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.casefold().translate(_LIGATURES)
    return " ".join(_SEPARATORS.split(text)).strip()


def entity_search_text(finess: str | None, code: str, name: str, city: str | None) -> str:
    """The folded text the entity search looks into: what a person may type of an
    entity (its FINESS or code, its name, its city), one word after another."""
    return fold(" ".join(part for part in (finess, code, name, city) if part))


# More words than a name and a city hold add nothing to a search but cost: each is a
# LIKE of its own (and a hostile thousand of them overflow SQLite's expression tree).
SEARCH_WORDS_MAX = 8


def search_words(text: str) -> list[str]:
    """The words of an entity search, folded (`fold`), each once, the first few."""
    return list(dict.fromkeys(fold(text).split()))[:SEARCH_WORDS_MAX]
