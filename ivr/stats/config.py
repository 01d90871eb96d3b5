"""The `stats:` section of nul.yaml."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StatsSettings(BaseModel):
    """Statistics for internal and external use: the service-level threshold and the open data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_level_s: float = Field(
        60.0, gt=0, le=3600, description="service level: share of admitted calls answered within this many seconds"
    )
    export_hour: int = Field(
        2, ge=0, le=23, description="local hour when yesterday's open data is written (quiet time for the line)"
    )
    opendata_dir: Path | None = Field(
        None, description="where the open-data CSV and JSON files go (default: data_dir/opendata)"
    )
    public_since: date | None = Field(
        None, description="first day the public page shows (default: the day of the first ticket)"
    )
    public_requests_per_min: int = Field(
        60, ge=1, description="requests per minute one client address may make to /statistiche (.json, .csv)"
    )

    def opendata_path(self, data_dir: Path) -> Path:
        return self.opendata_dir or data_dir / "opendata"
