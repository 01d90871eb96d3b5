"""The `knowledge:` section of nul.yaml."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class KnowledgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_gulpease: float = Field(
        60.0, ge=0, le=100, description="the editor warns when an article's Gulpease index is below this"
    )
    families: Path = Field(
        Path("knowledge/famiglie.yaml"),
        description="word families and synonyms the search treats as one word (relative to the config folder)",
    )
    stopwords: Path = Field(
        Path("knowledge/stopwords.txt"), description="words never indexed nor searched (relative to the config folder)"
    )
    desk_articles: int = Field(30, ge=1, le=200, description="articles of the call's topic listed on the desk")
