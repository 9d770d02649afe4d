"""« Importer un extrait FINESS » on the web: the file is checked whole in the request
(a bad line rejects it all, nothing written), then imported in the background by the
outbox's `deferred` channel, in one transaction, while a page shows its progress.

The job's state lives in the short-lived store under a random id, for a day: queued,
then the importer's phases (« checking », « writing ») with their counts, then done
(the counts of the result) or rejected (the directory changed since the check).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import current_app

from idp.core.audit import Actor
from idp.directory import importer
from idp.extensions import db
from idp.outbox import service as outbox
from idp.store import ShortLivedStore
from idp.web import deferred

KIND = "entities.import"
_JOB = re.compile(r"[0-9a-f]{32}")  # secrets.token_hex(16)
JOB_TTL = 24 * 3600
# The problems a rejected file lists on the page (all of them are counted).
SHOWN_PROBLEMS = 50


def _store() -> ShortLivedStore:
    return current_app.extensions["idp.store"]


def _key(job: str) -> str:
    return f"entities-import:{job}"


def status(job: str) -> dict[str, Any] | None:
    """The job's state, or None for an unknown or expired job."""
    found = _store().get(_key(job)) if _JOB.fullmatch(job) else None
    return found if isinstance(found, dict) else None


def _set(job: str, **state: Any) -> None:
    _store().put(_key(job), state, JOB_TTL)


def problems_shown(rejected: importer.ImportRejected) -> list[str]:
    """The first problems of a rejected file, « ligne N : ... »."""
    return [f"ligne {p.line} : {p.message}" for p in rejected.problems[:SHOWN_PROBLEMS]]


def start(data: bytes, source: str, actor: Actor) -> str:
    """Queue the import of a file already checked (`importer.check_file`); returns the
    job id. The caller commits, then calls `outbox.send_after_commit()`."""
    job = secrets.token_hex(16)
    _set(job, state="queued", source=source, done=0, total=0)
    deferred.queue(KIND, actor=actor, job=job, source=source,
                   data=data.decode("utf-8-sig"))
    return job


@deferred.handler(KIND)
def _run(actor: Actor, typed: dict[str, Any]) -> None:
    job, source = typed["job"], typed["source"]
    if (status(job) or {}).get("state") in ("done", "rejected"):
        return  # delivered again after it ended (at least once): nothing more to do

    def progress(phase: str, done: int, total: int) -> None:
        _set(job, state=phase, source=source, done=done, total=total)

    try:
        result = importer.import_entities(typed["data"].encode(), actor, source=source,
                                          progress=progress)
    except importer.ImportRejected as exc:
        db.session.rollback()
        _set(job, state="rejected", source=source, count=len(exc.problems),
             problems=problems_shown(exc))
        return
    db.session.commit()
    outbox.send_after_commit()
    _set(job, state="done", source=source, **result.as_dict())
