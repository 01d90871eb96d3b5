"""The soak driver's logic against a fake line: each action to the right page with the right form,
the answers read as a person reads them, faults written down (and a citizen's request tried again
once the line is back), presence and call controls on the right operator, outcomes filed in turn."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.soak import driver_pages as pages
from ivr.lab.soak.action_journal import OUTCOME, ActionJournal, ActionRecord, ActionResult
from ivr.lab.soak.actions import Action, ActionKind, DeskStep
from ivr.lab.soak.checks_reasons import reason_for
from ivr.lab.soak.driver import ActionDriver, Cast
from ivr.lab.soak.driver_http import Answer, LineDown
from ivr.lab.soak.driver_setup import jobs

K = ActionKind
RECEIVED = (
    "<p>Richiesta n. <strong>{n}</strong> ricevuta.</p>"
    "<p>Le risponderemo entro il 07/06; le abbiamo inviato una conferma per e-mail.</p>"
)
FORM_PAGE = '<form method="post" action="/richiesta"><input type="hidden" name="request_token" value="{token}">'
CLOSURES = """<ul>
    <li>Chiusura straordinaria (prova di carico) [soak-0-1] — dal 05/06/2028 10:00, finché non viene riaperta
      <form method="post" action="/console/closures/7/end" class="inline"><input type="hidden" name="_csrf"
       value="x"><button type="submit" class="primary">Riapri la linea</button></form></li>
    <li>Altro [soak-0-2] — dal 05/06/2028 11:00
      <form method="post" action="/console/closures/8/end" class="inline"></form></li>
</ul>"""


def card(ticket: int, *, live: bool = False, articles: tuple[int, ...] = (), caller: str = "+393331112222") -> str:
    items = "".join(f'<li class="kb-item" data-article="{a}">x</li>' for a in articles)
    return (
        f'<article class="call-card{" live" if live else ""}" id="ticket-{ticket}" data-ticket="{ticket}">'
        f'<dl class="facts"><dt>Chiamante</dt><dd class="caller">{caller}</dd></dl><ul>{items}</ul></article>'
    )


@dataclass
class FakeConsole:
    """Answers by (method, path): a list is served in turn (its last answer repeats); an
    exception in it is raised instead (LineDown: the line did not answer)."""

    routes: dict[tuple[str, str], list[Answer | Exception]] = field(default_factory=dict)
    sent: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)  # method, user, path, data
    operators: list[dict[str, Any]] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer | Exception) -> None:
        self.routes[(method, path)] = list(answers)

    def _serve(self, method: str, user: str, path: str, data: dict[str, str]) -> Answer:
        self.sent.append((method, user, path, data))
        queue = self.routes.get((method, path))
        if not queue:
            return Answer(404, "non trovato")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def get(self, user: str, path: str, *, as_json: bool = False) -> Answer:
        return self._serve("GET", user, path, {})

    async def post(self, user: str, path: str, data: dict[str, str], *, as_json: bool = False) -> Answer:
        return self._serve("POST", user, path, data)

    async def login(self, user: str) -> Answer:
        return self._serve("LOGIN", user, "", {})

    async def logout(self, user: str) -> Answer:
        return self._serve("LOGOUT", user, "", {})

    async def queue(self) -> Answer:
        return Answer(200, json={"operators": self.operators})

    async def citizen_page(self, source: str, path: str) -> Answer:
        if ("CITIZEN_PAGE", path) not in self.routes:  # the form, with a token of its own each time
            self.sent.append(("CITIZEN_PAGE", source, path, {}))
            return Answer(200, FORM_PAGE.format(token=f"tok-{len(self.sent):013d}"))
        return self._serve("CITIZEN_PAGE", source, path, {})

    async def citizen(self, source: str, path: str, data: dict[str, str]) -> Answer:
        return self._serve("CITIZEN", source, path, data)

    async def close(self) -> None:
        pass

    def posts(self, path: str) -> list[tuple[str, dict[str, str]]]:
        return [(user, data) for method, user, p, data in self.sent if method == "POST" and p == path]


def make(tmp_path: Path, console: FakeConsole, *actions: Action, desk: list[DeskStep] | None = None) -> ActionDriver:
    cast = Cast(("soak01", "soak02"), "soakcapo", frozenset({"soak02"}))
    driver = ActionDriver(
        list(actions), desk or [], console, ActionJournal(tmp_path / "actions.jsonl"), cast, jobs(),
        retry_for_s=60, retry_every_s=0, offset_s=lambda: 3600,
    )  # fmt: skip
    driver.state.logged_in.update(cast.operators)
    return driver


def act(kind: ActionKind, at_s: float = 0.0, **params: Any) -> Action:
    return Action(kind=kind, at_s=at_s, params=params)


def by_kind(driver: ActionDriver) -> dict[str, list[ActionRecord]]:
    out: dict[str, list[ActionRecord]] = {}
    for r in driver.records:
        out.setdefault(r.kind, []).append(r)
    return out


async def test_a_citizen_tries_again_until_the_line_is_back_then_the_reply_goes_to_that_ticket(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("CITIZEN", "/richiesta", LineDown("refused"), Answer(503, "momentaneamente non disponibile"),
               Answer(201, RECEIVED.format(n=41)))  # fmt: skip
    console.on("POST", "/console/requests/41/reply", Answer(303, location="/console/requests/41?msg=request_replied"))
    request = act(K.WEB_REQUEST, ref="web-0003", topic="employers", email=True)
    driver = make(tmp_path, console, request, act(K.WEB_REPLY, 1.0, ref="web-0003"))
    for a in driver.actions:
        await driver.carry_out(a)
    filed, reply = driver.records
    assert (filed.result, filed.attempts, filed.ticket, filed.status) == (ActionResult.DONE, 3, 41, 201)
    assert filed.params["mail_sent"] is True and filed.params["mail_to"] == "web-0003@cittadini.example.it"
    assert filed.user == "127.0.1.5"  # the citizen's own address
    [(_m, _u, _p, form)] = [s for s in console.sent if s[0] == "CITIZEN"][-1:]
    assert form["topic"] == "employers" and form["privacy"] == "on"
    # One form opened, sent three times: each time with its token, the line files it once.
    posts = [(m, data.get("request_token")) for m, _u, _p, data in console.sent if m.startswith("CITIZEN")]
    assert posts == [("CITIZEN_PAGE", None)] + [("CITIZEN", "tok-0000000000001")] * 3
    assert (reply.result, reply.ticket, reply.params["mail_sent"]) == (ActionResult.DONE, 41, True)
    assert console.posts("/console/requests/41/reply")[0][0] == "soakcapo"
    # the journal on disk reads back the same
    assert list(ActionJournal(tmp_path / "actions.jsonl").read()) == driver.records


async def test_a_form_sent_again_after_a_lost_answer_is_done_with_the_request_it_filed(tmp_path: Path) -> None:
    """The browser gave up on the first post (no answer in 20 s); the same form sent again is
    answered with the request the first post filed (200, "era già stata ricevuta")."""
    console = FakeConsole()
    again = (
        RECEIVED.format(n=41) + "<p>Questa richiesta era già stata ricevuta: non ne abbiamo registrata un'altra.</p>"
    )
    console.on("CITIZEN", "/richiesta", LineDown("TimeoutError: "), Answer(200, again))
    driver = make(tmp_path, console, act(K.WEB_REQUEST, ref="web-0050"))
    await driver.carry_out(driver.actions[0])
    (filed,) = driver.records
    assert (filed.result, filed.attempts, filed.ticket, filed.status) == (ActionResult.DONE, 2, 41, 200)
    assert filed.params["filed_before"] is True and filed.params["mail_sent"] is True
    tokens = {data["request_token"] for m, _u, _p, data in console.sent if m == "CITIZEN"}
    assert len(tokens) == 1


async def test_a_form_the_line_would_not_show_is_not_sent(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("CITIZEN_PAGE", "/richiesta", Answer(503, "momentaneamente non disponibile"))
    driver = make(tmp_path, console, act(K.WEB_REQUEST, ref="web-0007"))
    driver.retry_for_s = 0
    await driver.carry_out(driver.actions[0])
    (filed,) = driver.records
    assert filed.result is ActionResult.FAILED and filed.params["mail_to"] == "web-0007@cittadini.example.it"
    assert not [s for s in console.sent if s[0] == "CITIZEN"]


async def test_a_request_the_line_never_took_is_written_down_and_its_answers_skipped(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("CITIZEN", "/richiesta", LineDown("connection refused"))
    driver = make(tmp_path, console, act(K.WEB_REQUEST, ref="web-0001", topic="citizens", email=False))
    driver.retry_for_s = 0
    await driver.carry_out(driver.actions[0])
    for kind in (K.WEB_ESCALATE, K.WEB_SECOND_REPLY):
        await driver.carry_out(act(kind, ref="web-0001"))
    filed, escalated, second = driver.records
    assert filed.result is ActionResult.FAILED and "connection refused" in filed.answer and filed.status is None
    assert [escalated.result, second.result] == [ActionResult.SKIPPED] * 2
    assert escalated.answer == "the request was never filed"


async def test_a_second_reply_needs_the_escalation_done_and_an_unsent_mail_is_said(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("CITIZEN", "/richiesta", Answer(201, RECEIVED.format(n=5)))
    console.on("POST", "/console/requests/5/escalate",
               Answer(303, location="/console/requests/5?msg=request_escalated_unsent"))  # fmt: skip
    console.on("POST", "/console/requests/5/reply", Answer(303, location="/console/requests/5?msg=request_replied"))
    driver = make(tmp_path, console)
    for a in (
        act(K.WEB_REQUEST, ref="web-0005"),
        act(K.WEB_ESCALATE, ref="web-0005"),
        act(K.WEB_SECOND_REPLY, ref="web-0005"),
    ):
        await driver.carry_out(a)
    _filed, escalated, second = driver.records
    assert (escalated.result, escalated.params["mail_sent"], escalated.answer) == (
        ActionResult.DONE, False, "request_escalated_unsent",
    )  # fmt: skip
    assert second.result is ActionResult.DONE and console.posts("/console/requests/5/escalate")[0][1]["note"]


async def test_a_closure_switched_on_found_by_its_reference_and_lifted_at_the_end(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("POST", "/console/closures", Answer(303, location="/console/closures?msg=closure_saved"))
    console.on("GET", "/console/closures", Answer(200, CLOSURES))
    console.on("POST", "/console/closures/7/end", Answer(500, "errore"), Answer(303, location="/console/closures"))
    driver = make(tmp_path, console)
    driver.retry_for_s = 0  # the end fails once: not tried again now...
    await driver.carry_out(act(K.CLOSURE_ON, ref="soak-0-1", reason="Chiusura straordinaria (prova di carico)"))
    await driver.carry_out(act(K.CLOSURE_OFF, 9.0, ref="soak-0-1"))
    on, off = driver.records
    assert (on.result, on.object_id) == (ActionResult.DONE, "rt-7")
    assert console.posts("/console/closures")[0][1] == {
        "mode": "now", "reason": "Chiusura straordinaria (prova di carico) [soak-0-1]",
    }  # fmt: skip
    assert (off.result, off.status) == (ActionResult.FAILED, 500)
    await driver.stop()  # ...but no closure the soak switched on stays on
    assert (driver.records[-1].kind, driver.records[-1].result) == (K.CLOSURE_OFF, ActionResult.DONE)
    assert driver.state.closures == {}


async def test_presence_pause_logout_login_and_available_for_one_operator(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("POST", "/console/desk/presence", Answer(200, json={"state": "paused"}))
    console.on("LOGOUT", "", Answer(303, location="/console/login?msg=logged_out"))
    console.on("LOGIN", "", Answer(303, location="/console/"))
    driver = make(tmp_path, console)
    await driver.carry_out(act(K.PAUSE, operator="soak01", reason="Pranzo"))
    await driver.carry_out(act(K.LOGOUT, operator="soak01"))
    assert "soak01" not in driver.state.logged_in
    await driver.carry_out(act(K.PAUSE, operator="soak01", reason="Pausa"))  # logged out: nothing to press
    await driver.carry_out(act(K.LOGIN, operator="soak01"))
    await driver.carry_out(act(K.AVAILABLE, operator="soak01"))
    results = [(r.kind, r.result) for r in driver.records]
    assert results == [
        (K.PAUSE, ActionResult.DONE), (K.LOGOUT, ActionResult.DONE), (K.PAUSE, ActionResult.SKIPPED),
        (K.LOGIN, ActionResult.DONE), (K.AVAILABLE, ActionResult.DONE),
    ]  # fmt: skip
    forms = [data for _user, data in console.posts("/console/desk/presence")]
    assert forms == [{"presence": "paused", "reason": "Pranzo"}, {"presence": "logged_out"}, {"presence": "available"}]
    assert all(r.operator == "soak01" for r in driver.records)


async def test_wrap_up_ended_only_for_an_operator_in_it(tmp_path: Path) -> None:
    console = FakeConsole(operators=[{"login": "soak01", "state": "wrap_up"}, {"login": "soak02", "state": "busy"}])
    console.on("POST", "/console/desk/presence", Answer(200, json={"state": "available"}))
    driver = make(tmp_path, console)
    await driver.carry_out(act(K.END_WRAP_UP, operator="soak01"))
    await driver.carry_out(act(K.END_WRAP_UP, operator="soak02"))
    done, skipped = driver.records
    assert done.result is ActionResult.DONE and console.posts("/console/desk/presence") == [
        ("soak01", {"presence": "available"})
    ]
    assert (skipped.result, skipped.answer) == (ActionResult.SKIPPED, "not in wrap-up (busy)")


async def test_call_controls_on_the_conversation_up_longest(tmp_path: Path) -> None:
    console = FakeConsole(
        operators=[
            {"login": "soak01", "state": "busy", "since_s": 40.0, "ticket": 11},
            {"login": "soak02", "state": "busy", "since_s": 7.0, "ticket": 12},
        ]
    )
    for command in ("hold", "resume", "transfer"):
        console.on("POST", f"/console/desk/call/{command}", Answer(200, json={"ticket": 11}))
    driver = make(tmp_path, console)
    await driver.carry_out(act(K.HOLD, hold_s=0.01))
    await driver.carry_out(act(K.TRANSFER, topic="employers"))
    await driver.carry_out(act(K.CONSULT, complete=True))  # nobody free to consult
    hold, transfer, consult = driver.records
    assert (hold.operator, hold.ticket, hold.params["resumed"]) == ("soak01", 11, 200)
    assert console.posts("/console/desk/call/transfer") == [("soak01", {"topic": "employers"})]
    assert transfer.result is ActionResult.DONE
    assert (consult.result, consult.answer) == (ActionResult.SKIPPED, "no colleague free to ring")
    # a conference is added by an operator whose role allows it (soak02), to a colleague free
    console.operators.append({"login": "soak03", "state": "paused"})
    console.on("POST", "/console/desk/call/conference", Answer(200, json={"ticket": 12}))
    await driver.carry_out(act(K.CONFERENCE))
    assert console.posts("/console/desk/call/conference") == [("soak02", {"operator": "soak03"})]
    # a conversation whose operator has not spoken yet is left alone (the caller's ear needs the voice)
    console.operators[:] = [{"login": "soak01", "state": "busy", "since_s": 3.0, "ticket": 13}]
    await driver.carry_out(act(K.HOLD, hold_s=0.01))
    assert driver.records[-1].result is ActionResult.SKIPPED
    assert len(console.posts("/console/desk/call/hold")) == 1


async def test_a_consultation_completed_once_the_colleague_answers(tmp_path: Path) -> None:
    console = FakeConsole(
        operators=[
            {"login": "soak01", "state": "busy", "since_s": 40.0, "ticket": 11},
            {"login": "soak02", "state": "available"},
        ]
    )
    console.on("POST", "/console/desk/call/consult", Answer(200, json={}))
    console.on(
        "POST", "/console/desk/call/complete", Answer(409, "nessun collega ha ancora risposto"), Answer(200, json={})
    )
    driver = make(tmp_path, console)
    await driver.carry_out(act(K.CONSULT, complete=True))
    [consult] = driver.records
    assert (consult.result, consult.params["colleague"], consult.params["ended"]) == (
        ActionResult.DONE,
        "soak02",
        "complete",
    )
    assert not console.posts("/console/desk/call/cancel")


async def test_outcomes_filed_from_the_desk_cards_in_turn_never_twice(tmp_path: Path) -> None:
    console = FakeConsole()
    desk = "".join((card(30, live=True), card(21, articles=(4, 9)), card(20, caller="numero nascosto")))
    console.on("GET", "/console/desk", Answer(200, desk))
    console.on("POST", "/console/desk/tickets/21/article", Answer(200, json={"status": "resolved"}))
    console.on("POST", "/console/desk/tickets/20/outcome", Answer(200, json={"status": "new", "level": 2}))
    steps = [
        DeskStep(talk_s=10, outcome="resolved", article=True),
        DeskStep(talk_s=10, outcome="escalated", article=True),
    ]
    driver = make(tmp_path, console, desk=steps)
    driver.state.logged_in = {"soak01"}
    from ivr.lab.soak.driver_desk import file_outcomes

    await file_outcomes(driver)
    await file_outcomes(driver)  # the same cards again: nothing filed twice
    first, second = driver.records
    assert (first.kind, first.ticket, first.params["article"], first.result) == (OUTCOME, 21, 4, ActionResult.DONE)
    assert (second.ticket, second.params["outcome"], second.params["article"]) == (20, "escalated", None)
    escalated = console.posts("/console/desk/tickets/20/outcome")[0][1]
    assert escalated["contact_phone"] and escalated["answer_by"] == "phone" and "caller_id_confirmed" not in escalated
    assert not [s for s in console.sent if "/tickets/30/" in s[2]]  # the live call is not filed
    # The reason first, on each card (check 30); refused (here: no such page), the call is filed without.
    assert console.posts("/console/desk/tickets/21/reason") == [("soak01", {"reason": reason_for(21)})]
    assert first.params["reason"] is None and second.params["reason"] is None


async def test_the_reason_chosen_is_written_with_the_outcome(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("GET", "/console/desk", Answer(200, card(22)))
    console.on("POST", "/console/desk/tickets/22/reason", Answer(200, json={"reason": reason_for(22)}))
    console.on("POST", "/console/desk/tickets/22/outcome", Answer(200, json={"status": "resolved"}))
    driver = make(tmp_path, console, desk=[DeskStep(talk_s=10, outcome="resolved", article=False)])
    driver.state.logged_in = {"soak01"}
    from ivr.lab.soak.driver_desk import file_outcomes

    await file_outcomes(driver)
    (filed,) = driver.records
    assert filed.params["reason"] == reason_for(22) and filed.result is ActionResult.DONE
    assert [s[2] for s in console.sent if s[0] == "POST"] == [
        "/console/desk/tickets/22/reason",
        "/console/desk/tickets/22/outcome",
    ]


async def test_the_browser_desks_cards_are_left_to_the_desk(tmp_path: Path) -> None:
    """The short soak: the driver and the browser desk both filed ticket 1 (the desk files its own)."""
    console = FakeConsole()
    console.on("GET", "/console/desk", Answer(200, card(20)))
    console.on("POST", "/console/desk/tickets/20/outcome", Answer(200, json={}))
    driver = make(tmp_path, console, desk=[DeskStep(talk_s=10, outcome="resolved", article=False)])
    driver.cast = dataclasses.replace(driver.cast, browser_desk="soak01")
    driver.state.logged_in = {"soak01", "soak02"}
    from ivr.lab.soak.driver_desk import file_outcomes

    await file_outcomes(driver)
    assert [(r.operator, r.ticket) for r in driver.records] == [("soak02", 20)]
    assert {user for method, user, _, _ in console.sent if method == "GET"} == {"soak02"}


async def test_a_fault_during_an_outcome_is_written_down_and_tried_again(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("GET", "/console/desk", Answer(200, card(20)))
    console.on("POST", "/console/desk/tickets/20/outcome", LineDown("reset"), Answer(200, json={}))
    driver = make(tmp_path, console, desk=[DeskStep(talk_s=10, outcome="resolved", article=False)])
    driver.state.logged_in = {"soak01"}
    from ivr.lab.soak.driver_desk import file_outcomes

    await file_outcomes(driver)
    await file_outcomes(driver)
    assert [r.result for r in driver.records] == [ActionResult.FAILED, ActionResult.DONE]


async def test_a_handler_error_is_written_down_not_dropped(tmp_path: Path) -> None:
    console = FakeConsole()
    driver = make(tmp_path, console)
    await driver.carry_out(act(K.PAUSE, operator="soak01"))  # the fake answers 404 with no json
    await driver.carry_out(Action(kind=K.WEB_REPLY, at_s=0, params={}))  # no ref: the driver's own error
    refused, broken = driver.records
    assert refused.result is ActionResult.REFUSED and refused.status == 404
    assert broken.result is ActionResult.FAILED and broken.answer.startswith("driver error: KeyError")


def test_pages_read_as_a_person_reads_them() -> None:
    assert pages.received(RECEIVED.format(n=12)) == (12, True)
    assert pages.received("<p>Richiesta n. <strong>3</strong> ricevuta.</p>") == (3, False)
    assert pages.received("<div class='error'>Troppe richieste</div>") is None
    cards = pages.cards(card(5, live=True) + card(4, articles=(2,), caller="numero nascosto"))
    assert [(c.ticket, c.live, c.articles, c.caller) for c in cards] == [
        (5, True, (), "+393331112222"),
        (4, False, (2,), "numero nascosto"),
    ]
    assert pages.closure_id(CLOSURES, "soak-0-2") == 8 and pages.closure_id(CLOSURES, "soak-9-9") is None
    assert pages.message("/console/requests/4?msg=request_replied_unsent") == "request_replied_unsent"
    assert pages.ids(pages.MESSAGE_LINK, '<a href="/console/voicemail/3">#3</a><a href="/console/voicemail/12">') == [
        3,
        12,
    ]
    assert pages.error('<p class="error" role="alert">Scriva la risposta prima di inviarla.</p>') == (
        "Scriva la risposta prima di inviarla."
    )


@pytest.mark.parametrize("line", ["", '{"kind": "pause"'])
def test_the_journal_skips_a_last_line_cut_by_a_kill(tmp_path: Path, line: str) -> None:
    path = tmp_path / "actions.jsonl"
    record = {"kind": "pause", "sent_at": "2028-06-05T08:00:00Z", "done_at": "2028-06-05T08:00:01Z", "result": "done"}
    path.write_text(json.dumps(record) + "\n" + line)
    assert [r.kind for r in ActionJournal(path).read()] == ["pause"]


async def test_a_supervisor_plays_the_latest_recording_and_message_not_yet_heard(tmp_path: Path) -> None:
    console = FakeConsole()
    links = '<a href="/console/tickets/8">#8</a><a href="/console/tickets/9">#9</a>'
    console.on("GET", "/console/tickets?channel=phone", Answer(200, links))
    console.on("GET", "/console/tickets/9", Answer(200, "<p>nessuna registrazione</p>"))  # the newest, still up
    console.on("GET", "/console/tickets/8", Answer(200, '<audio src="/console/recordings/7/audio"></audio>'))
    console.on("GET", "/console/recordings/7/audio", Answer(200))
    form = '<input type="radio" name="c_cortesia" value="1"><input type="radio" name="c_cortesia" value="2">' \
           '<input type="radio" name="c_chiusura" value="1">'  # fmt: skip
    console.on("GET", "/console/reviews/7", Answer(200, form))
    console.on("POST", "/console/reviews/7", Answer(303, location="/console/reviews?msg=review_saved"))
    console.on("GET", "/console/voicemail", Answer(200, '<a href="/console/voicemail/3">#3</a>'))
    console.on("GET", "/console/voicemail/3/audio", Answer(404, "l'audio non è ancora disponibile"))
    driver = make(tmp_path, console)
    for _ in range(2):
        await driver.carry_out(act(K.LISTEN_RECORDING))
    await driver.carry_out(act(K.LISTEN_VOICEMAIL))
    review, played, again, message = driver.records
    assert (played.result, played.ticket, played.object_id, played.user) == (ActionResult.DONE, 8, "7", "soakcapo")
    # then scored: a mark per criterion the form offers, the same the checker is told of
    assert (review.kind, review.result, review.object_id, review.user) == ("review", ActionResult.DONE, "7", "soakcapo")
    assert review.params == {"c_cortesia": 3, "c_chiusura": 4}
    posted = [data for method, _u, path, data in console.sent if method == "POST" and path == "/console/reviews/7"]
    assert posted == [{"c_cortesia": "3", "c_chiusura": "4", "comment": "soak 7"}]
    assert again.result is ActionResult.SKIPPED  # heard already
    assert (message.result, message.status, message.object_id) == (ActionResult.REFUSED, 404, "3")


async def test_each_record_carries_the_engines_clock_offset_of_its_moment(tmp_path: Path) -> None:
    """The soak moves the engines' clock to the next service day while the driver runs; a record
    written after the jump turns its times into that day, not the first one."""
    console = FakeConsole()
    console.on("CITIZEN", "/richiesta", Answer(201, RECEIVED.format(n=41)), Answer(201, RECEIVED.format(n=42)))
    driver = make(tmp_path, console, act(K.WEB_REQUEST, ref="web-0001"), act(K.WEB_REQUEST, 1.0, ref="web-0002"))
    offsets = iter([3600.0, 3600.0 + 11 * 86400])
    current = next(offsets)
    driver.offset_s = lambda: current
    await driver.carry_out(driver.actions[0])
    current = next(offsets)
    await driver.carry_out(driver.actions[1])
    assert [r.offset_s for r in driver.records] == [3600.0, 3600.0 + 11 * 86400]


async def test_the_second_level_round_assigns_each_open_callback_and_records_the_call(tmp_path: Path) -> None:
    page0 = "".join(f'<a href="/console/tickets/{n}">#{n}</a>' for n in range(1, 101))
    listing = "/console/tickets?channel=phone&level=2&kind=phone_callback&sla=open&page={}"
    console = FakeConsole()
    console.on("GET", listing.format(0), Answer(200, page0))
    console.on("GET", listing.format(1), Answer(200, '<a href="/console/tickets/101">#101</a>'))
    for n in range(1, 102):
        console.on("POST", f"/console/tickets/{n}/assign", Answer(303, location=f"/console/tickets/{n}?msg=assigned"))
        ok = Answer(303, location=f"/console/tickets/{n}?msg=attempt")
        console.on("POST", f"/console/tickets/{n}/callback-result", ok if n != 5 else Answer(400, "chiusa"))
    driver = make(tmp_path, console, act(K.SECOND_LEVEL_ROUND))
    await driver.carry_out(driver.actions[0])
    worked = by_kind(driver)["second_level_round"]
    assert [r.ticket for r in worked] == list(range(1, 102))  # both pages, oldest first
    assert [r.operator for r in worked[:3]] == ["soak01", "soak02", "soak01"]
    assert console.posts("/console/tickets/1/assign") == [("soakcapo", {"operator": "soak01"})]
    assert console.posts("/console/tickets/3/callback-result") == [
        ("soak01", {"result": "no_answer", "note": "richiamata dal secondo livello"})
    ]
    assert worked[0].params["result"] == "answered" and worked[0].result is ActionResult.DONE
    assert worked[4].result is ActionResult.REFUSED and worked[4].status == 400


async def test_a_second_level_round_with_nothing_open_is_skipped(tmp_path: Path) -> None:
    console = FakeConsole()
    listing = "/console/tickets?channel=phone&level=2&kind=phone_callback&sla=open&page=0"
    console.on("GET", listing, Answer(200, "<p>Nessuna pratica</p>"))
    driver = make(tmp_path, console, act(K.SECOND_LEVEL_ROUND))
    await driver.carry_out(driver.actions[0])
    (only,) = driver.records
    assert only.result is ActionResult.SKIPPED and only.answer == "no phone callback open"


async def test_the_second_level_round_is_worked_by_operators_logged_in_to_the_console(tmp_path: Path) -> None:
    """soak02, logged out by the soak, found the login page: 34 calls "recorded" on no ticket."""
    listing = "/console/tickets?channel=phone&level=2&kind=phone_callback&sla=open&page={}"
    console = FakeConsole()
    two = '<a href="/console/tickets/1">1</a><a href="/console/tickets/2">2</a>'
    console.on("GET", listing.format(0), Answer(200, two))
    for n in (1, 2):
        console.on("POST", f"/console/tickets/{n}/assign", Answer(303, location=f"/console/tickets/{n}?msg=assigned"))
        console.on("POST", f"/console/tickets/{n}/callback-result", Answer(303, location=f"/console/tickets/{n}?msg=a"))
    driver = make(tmp_path, console, act(K.SECOND_LEVEL_ROUND))
    driver.state.logged_in.discard("soak02")
    await driver.carry_out(driver.actions[0])
    assert [r.operator for r in by_kind(driver)["second_level_round"]] == ["soak01", "soak01"]
    driver.state.logged_in.clear()  # nobody at the desks: the supervisor records the calls
    await driver.carry_out(driver.actions[0])
    assert [r.operator for r in by_kind(driver)["second_level_round"]][2:] == ["soakcapo", "soakcapo"]


async def test_an_operator_logged_out_mid_round_hands_their_callbacks_to_the_supervisor(tmp_path: Path) -> None:
    """Run 11: soak06 logged out at 13:58 while a round was under way, and the round went on
    giving them callbacks: 17 answered by the login page, judged as the console refusing."""
    listing = "/console/tickets?channel=phone&level=2&kind=phone_callback&sla=open&page={}"
    console = FakeConsole()
    three = "".join(f'<a href="/console/tickets/{n}">{n}</a>' for n in (1, 2, 3))
    console.on("GET", listing.format(0), Answer(200, three))
    for n in (1, 2, 3):
        console.on("POST", f"/console/tickets/{n}/assign", Answer(303, location=f"/console/tickets/{n}?msg=assigned"))
        console.on("POST", f"/console/tickets/{n}/callback-result", Answer(303, location=f"/console/tickets/{n}?msg=a"))
    done = Answer(303, location="/console/tickets/2?msg=a")
    login_page = Answer(401, "the console answered with its login page")
    console.on("POST", "/console/tickets/2/callback-result", login_page, done)
    driver = make(tmp_path, console, act(K.SECOND_LEVEL_ROUND))
    served = console.post

    async def post(user: str, path: str, data: dict[str, str], *, as_json: bool = False) -> Answer:
        if (user, path) == ("soak02", "/console/tickets/2/callback-result"):
            driver.state.logged_in.discard("soak02")  # the logout came while the round went on
        return await served(user, path, data, as_json=as_json)

    console.post = post  # type: ignore[method-assign]
    await driver.carry_out(driver.actions[0])
    worked = [(r.ticket, r.operator, r.result) for r in by_kind(driver)["second_level_round"]]
    done_by = [(1, "soak01"), (2, "soakcapo"), (3, "soak01")]
    assert worked == [(n, login, ActionResult.DONE) for n, login in done_by]
    assert console.posts("/console/tickets/2/assign") == [
        ("soakcapo", {"operator": "soak02"}),
        ("soakcapo", {"operator": "soakcapo"}),
    ]
