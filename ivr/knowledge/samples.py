"""The sample articles shipped with the line (`config/knowledge/esempi/`): on a fresh install the
desk's article list and the web reply suggestions are empty until someone writes articles, and an
operator's first calls find nothing. Each sample says it is one (its title, the keyword «esempio»,
a first line asking to check it) and is due for review from the day before it was added, so the
desk lists it as «da rivedere» until a supervisor has checked it and set its next review."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from ivr.knowledge.files import ImportReport, import_dir
from ivr.knowledge.repository import KnowledgeBase

SAMPLES_DIR = Path("knowledge/esempi")  # relative to the config folder
SAMPLE_KEYWORD = "esempio"


async def add_samples(kb: KnowledgeBase, folder: Path, *, by: str, at: datetime, today: date) -> ImportReport:
    """The samples whose slug the base does not have yet; one already there (perhaps edited by a
    supervisor since) is never replaced. `today` is the service's day at `at`."""
    return await import_dir(kb, folder, by=by, at=at, keep_existing=True, review_on=today - timedelta(days=1))
