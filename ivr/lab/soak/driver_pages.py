"""What the soak driver reads off the product's pages: the numbers a person would read (the
request's number on the form's answer, the calls still to file on the desk, the closure to lift,
the messages and recordings a supervisor can play). Pure functions, each tied to one template."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

# ivr/webrequests/templates/richiesta.html
RECEIVED = re.compile(r"Richiesta n\. <strong>(\d+)</strong> ricevuta")
RECEIPT_SENT = "le abbiamo inviato una conferma per e-mail"
RECEIPT_PERHAPS = "le abbiamo forse inviato una conferma per e-mail"
FORM_TOKEN = re.compile(r'name="request_token" value="([^"]+)"')
# ivr/console/templates/_call_card.html: a card to file is not `live`
CARD = re.compile(r'<article class="call-card( live)?" id="ticket-(\d+)"')
ARTICLE = re.compile(r'data-article="(\d+)"')
CALLER = re.compile(r'<dd class="caller">([^<]*)</dd>')
# ivr/console/templates/closures.html
CLOSURE_END = re.compile(r'action="/console/closures/(\d+)/end"')
# ivr/console/templates/voicemail.html, tickets.html, ticket.html
MESSAGE_LINK = re.compile(r'href="/console/voicemail/(\d+)"')
TICKET_LINK = re.compile(r'href="/console/tickets/(\d+)"')
RECORDING_AUDIO = re.compile(r'src="/console/recordings/(\d+)/audio"')
ERROR = re.compile(r'class="error"[^>]*>(.*?)</', re.DOTALL)
# ivr/console/templates/request.html
REPLY_BY = re.compile(r'id="reply-meta" data-by="([^"]*)"')
SENT_REPLY = re.compile(r'<blockquote id="sent-reply">(.*?)</blockquote>', re.DOTALL)
MAIL_STATE = re.compile(r'id="(reply-mail|notice-mail)" data-sent="(yes|no|perhaps|unknown)"')
SECOND_LEVEL = re.compile(r'<dd id="request-level">Secondo livello')


# An e-mail's fate as a page shows it: sent, not sent, "perhaps" (its send began and no outcome
# was written: the engine stopped between the two), None: nothing written yet.
Mailed = bool | Literal["perhaps"] | None
MAILED: dict[str, Mailed] = {"yes": True, "no": False, "perhaps": "perhaps"}


@dataclass(frozen=True)
class Card:
    ticket: int
    live: bool
    articles: tuple[int, ...]
    caller: str = ""  # as shown ("numero nascosto" when withheld)


@dataclass(frozen=True)
class RequestState:
    """A web request's page as the console shows it: its reply (by whom, the text), whether it
    is at the second level, and each e-mail's fate."""

    replied_by: str | None
    reply: str | None
    second_level: bool
    reply_mail: Mailed
    notice_mail: Mailed


def request_state(page: str) -> RequestState:
    by = REPLY_BY.search(page)
    text = SENT_REPLY.search(page)
    mails = {name: MAILED.get(state) for name, state in MAIL_STATE.findall(page)}
    return RequestState(
        html.unescape(by.group(1)) if by else None,
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text.group(1))).split()) if text else None,
        SECOND_LEVEL.search(page) is not None,
        mails.get("reply-mail"),
        mails.get("notice-mail"),
    )


def received(page: str) -> tuple[int, Mailed] | None:
    """The request's number on the form's answer, and whether a receipt was e-mailed."""
    found = RECEIVED.search(page)
    if found is None:
        return None
    return int(found.group(1)), True if RECEIPT_SENT in page else ("perhaps" if RECEIPT_PERHAPS in page else False)


def form_token(page: str) -> str | None:
    """The request form's one-time token, which the browser sends back with the form."""
    found = FORM_TOKEN.search(page)
    return None if found is None else html.unescape(found.group(1))


def cards(page: str) -> list[Card]:
    """The desk's call cards, each with the knowledge-base articles offered on it."""
    starts = list(CARD.finditer(page))
    out = []
    for n, m in enumerate(starts):
        end = starts[n + 1].start() if n + 1 < len(starts) else len(page)
        chunk = page[m.end() : end]
        caller = CALLER.search(chunk)
        articles = tuple(int(a) for a in ARTICLE.findall(chunk))
        out.append(Card(int(m.group(2)), bool(m.group(1)), articles, html.unescape(caller.group(1)) if caller else ""))
    return out


def closure_id(page: str, ref: str) -> int | None:
    """The closure whose reason names `ref`, from the list of closures in effect."""
    for line in page.splitlines():
        if f"[{ref}]" in html.unescape(line):
            found = CLOSURE_END.search(line)
            if found is not None:
                return int(found.group(1))
    # the reason and its form may be on two lines (the template's <li> spans two)
    text = html.unescape(page)
    at = text.find(f"[{ref}]")
    if at < 0:
        return None
    found = CLOSURE_END.search(text, at)
    return int(found.group(1)) if found else None


def ids(pattern: re.Pattern[str], page: str) -> list[int]:
    return sorted({int(x) for x in pattern.findall(page)})


def message(location: str) -> str:
    """The console's `msg` after a redirect (what the page would show)."""
    return parse_qs(urlsplit(location).query).get("msg", [""])[0]


def error(page: str) -> str:
    found = ERROR.search(page)
    text = found.group(1) if found else page
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())[:200]
