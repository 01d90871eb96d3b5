"""The `dialout:` section: which numbers the engine may dial out through the carrier (the rule that
applies it is `ivr.dialout.guard`)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_RAW = re.compile(r"^\+?[0-9]+$")
E164_MAX_DIGITS = 15


class DialoutSettings(BaseModel):
    """The `dialout:` section: numbers the engine may call through the carrier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country_code: str = Field(
        "39", pattern=r"^[1-9][0-9]{0,2}$", description="the service's country: national numbers are in this plan"
    )
    allowed_prefixes: list[str] = Field(
        default_factory=lambda: ["0", "3"],
        description="numbers dialled out must start with one of these (national, or +CC/00CC for abroad); "
        "default: Italian geographic (0...) and mobile (3...) numbers",
    )
    refused_prefixes: list[str] = Field(
        default_factory=lambda: ["1", "4", "8"],
        description="refused even when allowed above: premium and shared-cost (89x, 84x, 178, 199, 144, 166), "
        "service codes (4xx), short codes (1xx)",
    )
    min_digits: int = Field(6, ge=3, le=15, description="shortest national number dialled (shorter: a short code)")
    max_digits: int = Field(11, ge=3, le=15, description="longest national number dialled")

    @field_validator("allowed_prefixes", "refused_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not _RAW.match(prefix.strip()):
                raise ValueError(f"prefix {prefix!r}: digits only, optionally a leading +")
        return [p.strip() for p in value]
