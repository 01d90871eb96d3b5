"""The voicemail's scheduled job: fetch and transcribe messages still pending."""

from __future__ import annotations

import logging
from typing import Any

from ivr import jobs

log = logging.getLogger(__name__)


async def retry_transcriptions() -> None:
    service = jobs.running("voicemail")
    if service is None:
        return
    done = await service.retry_pending()
    if done:
        log.info("retry job: %d voicemail message(s) transcribed", done)


def schedule_transcription_retry(scheduler: Any, every_s: float) -> None:
    scheduler.add_job(
        retry_transcriptions, "interval", seconds=every_s, id="transcription-retry", replace_existing=True
    )
