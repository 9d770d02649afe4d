"""« Export CSV » of a list page, as a French spreadsheet program opens it.

UTF-8 with a byte order mark (without it Excel reads the accents as Latin-1), `;`
between the fields (`,` is the decimal separator in French), CRLF line ends. The rows
are streamed as they are read: a long export neither waits nor holds the whole file in
memory. A cell that a spreadsheet would take for a formula (it begins with =, +, -, @,
a tab or a carriage return) is written as text, with a leading apostrophe: the names
and comments in these lists are typed by anyone, « Créer un compte » included, and an
administrator opening the file must not run what they hold (OWASP « CSV injection »).
The rows are read while the file streams, in a database session of its own:
give a generator that runs its query itself (what the view read before returning
belongs to a session that is closed by then); the view checks who may export first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from flask import current_app, stream_with_context
from werkzeug.wrappers import Response

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def _lines(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(columns)
    yield BOM + flush()
    for row in rows:
        writer.writerow([_as_text(cell) for cell in row])
        yield flush()


def csv_response(filename: str, columns: Sequence[str],
                 rows: Iterable[Sequence[str]]) -> Response:
    """A streamed CSV download named `filename`: the header line, then `rows`."""
    return current_app.response_class(
        stream_with_context(_lines(columns, rows)), mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}",
                 "Cache-Control": "no-store"})
