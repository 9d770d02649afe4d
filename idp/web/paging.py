"""The pages' side of keyset paging (`idp.core.paging`): the cursor a request asks for,
and the filters its pager's links keep (`templates/_pager.html`)."""

from __future__ import annotations

from flask import request

from idp.core.paging import AFTER, BEFORE, Cursor


def cursor() -> Cursor:
    return Cursor.from_args(request.args)


def filters() -> dict[str, str]:
    """The request's arguments but the cursor: what « Suivant » and « Précédent » keep."""
    return {k: v for k, v in request.args.items() if k not in (AFTER, BEFORE)}
