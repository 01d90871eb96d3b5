"""The soak's independent checker: the line's promises held against the carrier's journal, the
store's raw rows, the audio folders and the side records of the run.

Independent of the code it checks: the store is read with the checker's own SQL on the models'
tables (ivr.lab.soak.store_view), and every figure is counted here from rows. One exception, said
in the result's notes: a dialled number is judged refused or not by the product's own dial-out
rule (ivr.dialout.guard.check), since that rule is the configuration the promise is about.

Each invariant is a named check (CHECKS, in the issue's order); the run fails if any check has a
violation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ivr.lab.soak.checks_actions import (
    check_action_mail,
    check_closures,
    check_listens_audited,
    check_outcomes_filed,
    check_presence,
    check_second_level,
    check_web_requests,
)
from ivr.lab.soak.checks_alerts import check_alerts
from ivr.lab.soak.checks_callbacks import (
    check_callback_dialled,
    check_callback_heard_operator,
    check_callback_number,
    check_callback_one_leg,
    check_callback_order,
    check_language,
)
from ivr.lab.soak.checks_calls import (
    check_answered,
    check_cap,
    check_one_ticket,
    check_order,
    check_outcome,
    check_survey_after_operator,
)
from ivr.lab.soak.checks_figures import check_figures, check_resources
from ivr.lab.soak.checks_menu import check_menu
from ivr.lab.soak.checks_notices import check_notices
from ivr.lab.soak.checks_operators import check_operator_time
from ivr.lab.soak.checks_reasons import check_reasons
from ivr.lab.soak.checks_reviews import check_reviews
from ivr.lab.soak.checks_store import (
    check_audio,
    check_callbacks,
    check_consent,
    check_drained,
    check_missed,
    check_web_and_mail,
)
from ivr.lab.soak.checks_supervision import check_supervision
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.store_view import StoreView, read_store
from ivr.lab.soak.verdict import CheckResult, Violation

Check = Callable[[SoakEvidence, StoreView], CheckResult]

CHECKS: tuple[Check, ...] = (
    check_one_ticket,  # 1
    check_outcome,  # 2
    check_cap,  # 3
    check_order,  # 4
    check_audio,  # 5
    check_consent,  # 6
    check_survey_after_operator,  # 7
    check_callbacks,  # 8
    check_web_and_mail,  # 9
    check_drained,  # 10
    check_figures,  # 11
    check_resources,  # 12
    # the driver's non-call actions (ivr.lab.soak.checks_actions)
    check_web_requests,  # 13
    check_action_mail,  # 14
    check_listens_audited,  # 15
    check_closures,  # 16
    check_presence,  # 17
    check_outcomes_filed,  # 18
    check_callback_dialled,  # 19: the citizen's phone as witness (checks_callbacks)
    check_callback_one_leg,  # 20
    check_callback_number,  # 21
    check_callback_order,  # 22
    check_callback_heard_operator,  # 23
    check_language,  # 24
    check_second_level,  # 25
    check_missed,  # 26
    check_answered,  # 27: the caller's phone as witness of the answer
    check_menu,  # 28: routed by the key, put through without one (checks_menu)
    check_operator_time,  # 29: the state history behind operator time (checks_operators)
    check_reasons,  # 30: reasons for the call kept as chosen and counted (checks_reasons)
    check_alerts,  # 31: the wallboard's wait alert against the store's waits (checks_alerts)
    check_reviews,  # 32: quality reviews stored as saved, of consented calls, scored right (checks_reviews)
    check_notices,  # 33: callers during a service notice hear it after the welcome (checks_notices)
    check_supervision,  # 34: supervisors on live calls audited, never past the call (checks_supervision)
)

__all__ = ["CHECKS", "CheckResult", "SoakEvidence", "Violation", "exit_status", "run_checks"]


def run_checks(evidence: SoakEvidence, view: StoreView | None = None) -> list[CheckResult]:
    """Every check, each on the same snapshot of the store. A check that raises is a finding too
    (the run is not judged sound when its judge could not look), reported as its violation."""
    snapshot = view if view is not None else read_store(evidence.db_url)
    results: list[CheckResult] = []
    for check in CHECKS:
        try:
            results.append(check(evidence, snapshot))
        except Exception as exc:  # reported as the check's violation, never dropped
            name = check.__name__.removeprefix("check_")
            result = CheckResult(name, name)
            result.fail(f"the check could not run: {type(exc).__name__}: {exc}")
            results.append(result)
    return results


def exit_status(results: Iterable[CheckResult]) -> int:
    return 0 if all(r.passed for r in results) else 1
