"""gunicorn settings for the provider: `gunicorn -c python:idp.ops.gunicorn 'idp:create_app()'`.

With `PROMETHEUS_MULTIPROC_DIR` set (a folder of its own, writable, on a local disk),
every worker writes its metrics there and a scrape answered by any worker adds up those
of all of them. The folder's sample files are deleted when gunicorn starts (those of an
earlier run would be added to this one's), and a worker that exits is marked dead.
gunicorn's own lines (workers booting and exiting, signals, timeouts) are written in the
provider's format (`logging.format`), so that a log collector reads one kind of line.
Other settings come from the command line or `GUNICORN_CMD_ARGS` as usual.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from idp.config import ConfigError, load_settings
from idp.ops import logs

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


class ProviderLogger(Logger):
    """gunicorn's logger, its error log (gunicorn's own lines) in the provider's format;
    set up again at each reload (SIGHUP), so the format holds after one too."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        try:
            line_format = load_settings()["logging"]["format"]
        except ConfigError:
            return  # the workers will say what is wrong, in gunicorn's plain lines
        for handler in self.error_log.handlers:
            logs.dress(handler, line_format)


logger_class = ProviderLogger
