"""The `reviews:` section of nul.yaml: the quality review form."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,39}$", description="kept with each review; never reuse one")
    label: str = Field(min_length=1, max_length=120, description="what the reviewer judges")
    weight: float = Field(1.0, gt=0, le=100, description="its share of the review's score")


DEFAULT_CRITERIA = [
    Criterion(key="accoglienza", label="Accoglienza e cortesia", weight=1),
    Criterion(key="ascolto", label="Ascolto e comprensione della richiesta", weight=2),
    Criterion(key="correttezza", label="Correttezza e completezza dell'informazione", weight=3),
    Criterion(key="chiarezza", label="Chiarezza del linguaggio", weight=2),
    Criterion(key="chiusura", label="Chiusura: indicazioni date, eventuale secondo livello", weight=2),
]


class ReviewSettings(BaseModel):
    """A review scores each criterion from 1 to `scale`; its score is the weighted mean on 0-100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    criteria: list[Criterion] = Field(
        default_factory=lambda: list(DEFAULT_CRITERIA), min_length=1, description="the review form, in its order"
    )
    scale: int = Field(5, ge=2, le=10, description="each criterion is scored from 1 to this")

    @model_validator(mode="after")
    def _unique(self) -> ReviewSettings:
        keys = [c.key for c in self.criteria]
        doubled = sorted({k for k in keys if keys.count(k) > 1})
        if doubled:
            raise ValueError(f"criteria: key {', '.join(doubled)} given twice")
        return self
