"""The outbox backlog as gauges, read from the database at each scrape (every worker
and host sees the same table, so any of them answers for all)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from idp.core.clock import utcnow
from idp.extensions import db
from idp.outbox.channels import installed
from idp.outbox.delivery import backlog

logger = logging.getLogger(__name__)


class OutboxBacklog:
    """Collector of `idp_outbox_backlog` and `idp_outbox_oldest_item_age_seconds`; with
    the database down the scrape goes on without them (the other metrics matter most
    then)."""

    def collect(self) -> Iterator[Metric]:
        try:
            found = backlog()
        except SQLAlchemyError as exc:
            db.session.rollback()
            logger.warning("outbox backlog not measured: %s", type(exc).__name__)
            return
        waiting = GaugeMetricFamily("idp_outbox_backlog",
                                    "Outbox items still to deliver, by channel.",
                                    labels=["channel"])
        oldest = GaugeMetricFamily("idp_outbox_oldest_item_age_seconds",
                                   "Age of the oldest item still to deliver (0: none).",
                                   labels=["channel"])
        now = utcnow()
        for channel in sorted(set(installed()) | set(found)):
            count, queued = found.get(channel, (0, now))
            waiting.add_metric([channel], count)
            oldest.add_metric([channel], max(0.0, (now - queued).total_seconds()))
        yield waiting
        yield oldest
