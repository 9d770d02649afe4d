"""Keyset paging of the long lists (the requests queue, the profiles search, Mon
historique): « Suivant » and « Précédent » carry the id of the row at the edge of the
page, and the next page is read from that row's sort key on, through the list's index,
however far the list goes (an OFFSET reads and throws away every row before the page).

A cursor names a row by its id only: its sort key is read again through the list's own
query, so a forged or stale id (a row of another entity, a request since decided) finds
nothing and gives the first page instead of an error or a leak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

T = TypeVar("T")

# The query arguments of the pager's links (the other arguments are the list's filters).
AFTER, BEFORE = "apres", "avant"
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row `after`, or ends: before the row `before`;
    neither for the first page."""

    after: int | None = None
    before: int | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Cursor:
        """The cursor of a page's query arguments; a malformed one is the first page."""
        def row_id(name: str) -> int | None:
            value = args.get(name, "")
            return int(value) if value.isdigit() and 0 < int(value) <= _MAX_ID else None

        after = row_id(AFTER)
        return cls(after=after, before=None if after else row_id(BEFORE))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and the cursors of its neighbours: `after` (« Suivant ») is
    the id of its last row when more rows follow, `before` (« Précédent ») the id of
    its first row when rows precede; None where there is no such page."""

    rows: list[T]
    after: int | None
    before: int | None


def keyset_page(session: Session, query: Select, order: Sequence[ColumnElement[Any]],
                cursor: Cursor, size: int, *, descending: bool = False,
                options: Sequence[ORMOption] = ()) -> Page[Any]:
    """One page of `query` (one ORM entity, no ORDER BY), sorted by `order` whose last
    column is the entity's id (unique, so that the order is total), all ascending or
    all `descending`. `options` are loader options for the page's rows."""
    id_column = order[-1]
    anchor = cursor.after or cursor.before
    key = None
    if anchor is not None:
        key = session.execute(query.with_only_columns(*order).where(id_column == anchor)
                              ).first()
    forward = key is None or cursor.after is not None
    # Rows past the anchor in the direction of reading, nearest first.
    upward = forward != descending
    page = query.options(*options).order_by(*(c.asc() if upward else c.desc() for c in order))
    if key is not None:
        edge = tuple_(*(literal(value, column.type)
                        for column, value in zip(order, key, strict=True)))
        page = page.where(tuple_(*order) > edge if upward else tuple_(*order) < edge)
    rows = list(session.scalars(page.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if key is not None and not rows:  # nothing on that side any more: the first page
        return keyset_page(session, query, order, Cursor(), size, descending=descending,
                           options=options)
    if not forward:
        rows.reverse()
    ids = [getattr(row, id_column.key) for row in rows]  # type: ignore[attr-defined]
    if forward:
        return Page(rows, after=ids[-1] if more else None,
                    before=ids[0] if key is not None else None)
    return Page(rows, after=ids[-1], before=ids[0] if more else None)
