"""gunicorn settings for the provider: `gunicorn -c python:idp.ops.gunicorn 'idp:create_app()'`.

With `PROMETHEUS_MULTIPROC_DIR` set (a folder of its own, writable, on a local disk),
every worker writes its metrics there and a scrape answered by any worker adds up those
of all of them. The folder's sample files are deleted when gunicorn starts (those of an
earlier run would be added to this one's), and a worker that exits is marked dead.
Other settings come from the command line or `GUNICORN_CMD_ARGS` as usual.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

# Read here rather than from idp.ops.metrics: the master imports no metric (its samples
# would be files of a process that never counts).
_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(server: Any) -> None:
    if os.environ.get(_DIRECTORY):
        directory = Path(os.environ[_DIRECTORY])
        directory.mkdir(parents=True, exist_ok=True)
        for samples in directory.glob("*.db"):
            samples.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get(_DIRECTORY):
        multiprocess.mark_process_dead(worker.pid)
