"""``manage.py feed_worker``: the changes feed's worker. It looks at the records a change reaches
beyond what a write looks at itself (the groups of a renamed platform, ``PendingFanout``), in
batches, each in a transaction of its own, and flushes records a writer left pending."""

from __future__ import annotations

import logging
import signal
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from cryptogroups import feed
from cryptogroups.models import PendingChange

log = logging.getLogger("cryptogroups.feed")


class Command(BaseCommand):
    help = (
        "Bring the changes feed up to date with every committed change: look at the records a "
        "change reaches along large relations, batch after batch, and flush records a writer "
        "left pending. Runs until stopped (SIGTERM or SIGINT end it after the running batch); "
        "--once stops when the feed has caught up."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Stop when there is nothing left to look at."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds to wait, when there is nothing to do, before looking again (1).",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=None,
            help="Records of a relation looked at per transaction (FEED_FANOUT_BATCH).",
        )

    def handle(self, *args, once: bool, interval: float, batch: int | None, **options) -> None:
        stopping = []

        def stop(signum, frame) -> None:
            stopping.append(signum)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop)
        looked = 0
        while not stopping:
            try:
                started = time.monotonic()
                # Looked for first without a transaction: an idle worker takes no lock.
                done = feed.fan_out(batch=batch) if feed.catching_up() else None
                if done is None:
                    if PendingChange.objects.exists():
                        feed.flush()
                    if once and not feed.catching_up():
                        break
                else:
                    looked += done
                    log.info(
                        "feed fan-out: %d records looked at in %.2f s",
                        done,
                        time.monotonic() - started,
                        extra={"records": done},
                    )
                    continue
            except DatabaseError:
                # A lost connection or a statement timeout: the batch rolled back whole and
                # is taken again on the next try.
                log.exception("feed fan-out failed; trying again")
                close_old_connections()
            time.sleep(interval)
        self.stdout.write(f"Looked at {looked} related records.")
