"""No secret in the logs: the records of the libraries we run, cleaned where they are made.

Left alone, with DEBUG on (and INFO for the first), they would write:
- werkzeug's request log (`idp serve`): the request line with its query string, e.g.
  `GET /logout?id_token_hint=<an ID token>`;
- Authlib's "Issue token {...}", with the access, refresh and ID tokens;
- SQLAlchemy's result rows: sessions, interactions, mails waiting in the outbox (a reset
  link)... Their statements' parameters are hidden already (`hide_parameters`).

`install()` puts a filter on each logger that makes such records: it masks the value of
every secret parameter and anything shaped like a JWT, and drops SQL rows altogether. A
filter acts only on records of its own logger, not on those its children pass up, hence
one per logger, installed once the libraries are imported (at the end of the app
factory). gunicorn's access log is gunicorn's own: the README says how to keep query
strings out of it.
"""

from __future__ import annotations

import logging
import re

SECRET_NAMES = ("id_token_hint", "id_token", "access_token", "refresh_token", "logout_token",
                "token", "code", "client_secret", "client_assertion", "password")
MASK = "[masqué]"
# name=value in a query string, 'name': 'value' in a repr, "name": "value" in JSON.
_NAMES = "|".join(SECRET_NAMES)
_NAMED = re.compile(rf"""(\b(?:{_NAMES})['"]?\s*[=:]\s*['"]?)[^'"&\s,;)}}]+""")
_JWT = re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*")
_SQL_ROW = "Row %r"  # SQLAlchemy's message for each row it reads (echo="debug")
# The loggers, and their children, whose records may carry secrets.
_LIBRARIES = ("werkzeug", "authlib", "sqlalchemy.engine", "idp")


def redact(message: str) -> str:
    """`message` with the values of secret parameters and JWTs masked."""
    return _JWT.sub(MASK, _NAMED.sub(lambda m: m.group(1) + MASK, message))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _SQL_ROW and record.name.startswith("sqlalchemy.engine"):
            return False
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install() -> None:
    """Filter the records of every logger of `_LIBRARIES` known now (idempotent)."""
    names = [name for name in logging.Logger.manager.loggerDict
             if any(name == lib or name.startswith(lib + ".") for lib in _LIBRARIES)]
    for name in {*_LIBRARIES, *names}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
