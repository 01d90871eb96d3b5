"""What each check of `ivr doctor` says: OK (nothing to do), WARN (works, needs attention), FAIL
(the line cannot work until fixed), with the fix. Its own module: the checks kept beside the
doctor's (`doctor_trunk`, `doctor_drift`) build on it without importing the doctor back."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Finding:
    check: str
    verdict: str  # OK, WARN, FAIL
    detail: str
    fix: str = ""
