"""An engine's outbox replayed by the engine's next run while it waits as a standby.

An engine fenced while it served calls on its outbox exits and starts again as a standby, which may
wait for months: the outbox holds the only record of the calls it served last (their tickets,
their messages, their admissions), so the standby replays it at once rather than on its next turn
as the active engine. It holds no lease for this: the replay of an earlier run's writes adds what
the store lacks and overwrites nothing the active engine wrote (ivr.tickets.replay), so it can run
beside it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from ivr.tickets.outbox import Outbox
from ivr.tickets.replay import Replayer
from ivr.tickets.writer import unavailable

log = logging.getLogger(__name__)


def replay_earlier_run(db: Engine, path: Path) -> int:
    """Replay what waits in the outbox at `path`, group by group; returns the writes set aside
    (ivr.tickets.replay). A connection fault propagates: the standby tries again at its next poll."""
    if not path.exists():
        return 0
    outbox = Outbox(path)
    try:
        waiting = outbox.count()
        if not waiting:
            return 0
        log.warning("outbox of an earlier run: %d write(s) waiting in %s, replayed now", waiting, path)
        replayer = Replayer(sessionmaker(db, expire_on_commit=False), outbox, outbox.refs(), unavailable)
        while replayer.next_group(None):
            pass
        rejected = outbox.rejected_count()
        log.info("outbox of an earlier run replayed (%d write(s) set aside in all)", rejected)
        return rejected
    finally:
        outbox.close()
