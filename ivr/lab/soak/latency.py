"""How long the line took at each step of its calls, from the store's own timeline: the figures
of the soak report's latency table (p50/p99 per step).

Read from the ticket events the engine wrote as things happened, the same rows the checker
judges; a step counts once per ticket, from its first starting event to the first ending event
after it. Waiting for a free operator is a step of its own, so the line's work and the callers'
wait are not mixed in one figure.
"""

from __future__ import annotations

from ivr.lab.soak.store_view import StoreView

# (step, the event it starts at, the event it ends at)
STEPS: tuple[tuple[str, str, str], ...] = (
    ("menu key -> in the queue", "menu_choice", "queue_admitted"),
    ("in the queue -> first offer (waiting for a free operator)", "queue_admitted", "offer"),
    ("offer -> operator connected (ring and confirm)", "offer", "operator_answered"),
    ("operator hung up -> survey offered", "operator_call_ended", "survey_offered"),
)
ANSWER = "call placed -> answered"


def latency_from_store(view: StoreView) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name, _, _ in STEPS}
    out[ANSWER] = []
    for ticket_id, ticket in view.tickets.items():
        if ticket.channel != "phone":
            continue
        if ticket.answered_at is not None:
            out[ANSWER].append((ticket.answered_at - ticket.started_at).total_seconds())
        timeline = view.events.get(ticket_id, [])
        for name, begins, ends in STEPS:
            start = next((e.at for e in timeline if e.kind == begins), None)
            if start is None:
                continue
            end = next((e.at for e in timeline if e.kind == ends and e.at >= start), None)
            if end is not None:
                out[name].append((end - start).total_seconds())
    return {name: values for name, values in out.items() if values}
