"""Flow files (config/callflows/*.yaml): nodes of a few types, wired by name.

Validated when loaded: every target exists, every prompt exists, every move is one the state
table allows, and no node is unreachable, so a broken flow never reaches a caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ivr.callflows.states import TRANSITIONS, CallState
from ivr.configfile import ConfigError, Layered, load_mapping, validate
from ivr.tickets.status import VoicemailReason

NodeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def targets(self) -> list[str]:
        return []

    def prompts(self) -> list[str]:
        return []


class PlayNode(_Node):
    type: Literal["play"]
    prompt: str
    next: NodeName
    interruptible: bool = False
    languages: bool = False  # then offer the other languages (`prompts.languages`) by key
    notices: bool = False  # then say the service notices in force (set from the console)

    def targets(self) -> list[str]:
        return [self.next]

    def prompts(self) -> list[str]:
        return [self.prompt]


class HangupNode(_Node):
    type: Literal["hangup"]
    prompt: str | None = None

    def prompts(self) -> list[str]:
        return [self.prompt] if self.prompt else []


class StubNode(_Node):
    """A destination that is not built yet; the caller hears `prompt`, the ticket says stub."""

    type: Literal["stub"]
    destination: str
    prompt: str | None = None
    next: NodeName | None = None

    def targets(self) -> list[str]:
        return [self.next] if self.next else []

    def prompts(self) -> list[str]:
        return [self.prompt] if self.prompt else []


class HoursNode(_Node):
    """Open now? If not, the caller hears why (closure, holiday, hours) and goes to `closed`."""

    type: Literal["hours"]
    open: NodeName
    closed: NodeName
    outside_hours_prompt: str = "closed_hours"
    holiday_prompt: str = "closed_holiday"
    closure_prompt: str = "closed_special"

    def targets(self) -> list[str]:
        return [self.open, self.closed]

    def prompts(self) -> list[str]:
        return [self.outside_hours_prompt, self.holiday_prompt, self.closure_prompt]


Key = Annotated[str, Field(pattern=r"^[0-9*#]$")]


class ConsentNode(_Node):
    """The recording notice, only while a quality campaign is active: accept, refuse, or no
    answer (which counts as a refusal). Skipped entirely when no campaign runs."""

    type: Literal["consent"]
    next: NodeName
    accept_key: Key = "1"
    refuse_key: Key = "2"
    timeout_s: float = Field(6.0, gt=0, le=30)
    attempts: int = Field(2, ge=1, le=5)
    accepted_prompt: str | None = "consent_accepted"
    refused_prompt: str | None = "consent_refused"
    invalid_prompt: str | None = "menu_invalid"

    @model_validator(mode="after")
    def _keys(self) -> ConsentNode:
        if self.accept_key == self.refuse_key:
            raise ValueError("accept_key and refuse_key must differ")
        return self

    def targets(self) -> list[str]:
        return [self.next]

    def prompts(self) -> list[str]:
        return [p for p in (self.accepted_prompt, self.refused_prompt, self.invalid_prompt) if p]


class MenuOption(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    next: NodeName
    topic: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")


class MenuNode(_Node):
    type: Literal["menu"]
    prompt: str
    options: dict[Annotated[str, Field(pattern=r"^[0-9*]{1,4}$")], MenuOption]
    default: MenuOption
    repeat_key: Key | None = "0"
    max_attempts: int = Field(3, ge=1, le=10, description="wrong or missing answers before the default route")
    max_repeats: int = Field(5, ge=0, le=20)
    first_digit_timeout_s: float = Field(6.0, gt=0, le=60)
    inter_digit_timeout_s: float = Field(3.0, gt=0, le=30)
    total_timeout_s: float = Field(15.0, gt=0, le=120)
    invalid_prompt: str = "menu_invalid"
    timeout_prompt: str = "menu_timeout"
    type_ahead: bool = Field(False, description="keep keys pressed before the menu started")
    silent_attempts: int | None = Field(
        None,
        ge=1,
        le=10,
        description="rounds with no key at all before the default route: a caller on a phone whose keys "
        "never arrive (rotary, broken DTMF) is put through after this many; none: as max_attempts",
    )
    default_prompt: str | None = Field(
        None, description="said as the default route is taken for want of a choice (that the caller is put through)"
    )
    operator_key: Key | None = Field(None, description="a key that reaches an operator from this menu")
    operator: MenuOption | None = Field(None, description="where operator_key leads (default: the default route)")

    @model_validator(mode="after")
    def _consistent(self) -> MenuNode:
        if not self.options:
            raise ValueError("a menu needs at least one option")
        for name in ("repeat_key", "operator_key"):
            key = getattr(self, name)
            if key is not None and any(k.startswith(key) for k in self.options):
                raise ValueError(f"{name} {key!r} clashes with an option")
        if self.operator_key is not None and self.operator_key == self.repeat_key:
            raise ValueError(f"operator_key and repeat_key are both {self.operator_key!r}")
        return self

    def targets(self) -> list[str]:
        extra = [self.operator.next] if self.operator else []
        return [o.next for o in self.options.values()] + [self.default.next] + extra

    def prompts(self) -> list[str]:
        return [self.prompt, self.invalid_prompt, self.timeout_prompt] + (
            [self.default_prompt] if self.default_prompt else []
        )


class QueueNode(_Node):
    """The operator queue; callers who cannot be served (cap, nobody logged in, too long a wait,
    or their own choice) go on to `fallback`."""

    type: Literal["queue"]
    fallback: NodeName
    next: NodeName | None = Field(None, description="after the conversation, if the operator hung up first")
    topic: str | None = None
    after_call_prompt: str | None = "queue_after_call"

    def targets(self) -> list[str]:
        return [self.fallback] + ([self.next] if self.next else [])

    def prompts(self) -> list[str]:
        return ["queue_enter", "queue_leave_offer", "queue_cap", "queue_no_operators", "queue_max_wait"] + (
            [self.after_call_prompt] if self.after_call_prompt else []
        )


class VoicemailNode(_Node):
    """Leave a message; `reason` picks the greeting unless the queue says why (cap, max_wait...)."""

    type: Literal["voicemail"]
    reason: VoicemailReason = VoicemailReason.BUSY
    next: NodeName | None = None

    def targets(self) -> list[str]:
        return [self.next] if self.next else []

    def prompts(self) -> list[str]:
        return [
            "vm_greeting_closed",
            "vm_greeting_cap",
            "vm_greeting_caller_choice",
            "vm_greeting_busy",
            "vm_record_instructions",
            "vm_saved",
            "vm_thanks",
            "vm_callback_is",
            "vm_callback_confirm",
            "vm_callback_enter",
            "vm_callback_invalid",
            "call_interrupted",
        ]


class SurveyQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: NodeName = Field(description="stored with each answer, e.g. satisfaction")
    prompt: str
    keys: str = Field(pattern=r"^[0-9]{2,10}$", description="the valid answers, e.g. 12345; the key is the score")


class SurveyNode(_Node):
    """The post-call questionnaire: the caller stays on after the operator hangs up and answers
    each question with one key; a bad key is re-prompted, silence skips the question."""

    type: Literal["survey"]
    questions: list[SurveyQuestion] = Field(min_length=1, max_length=10)
    intro_prompt: str | None = "survey_intro"
    invalid_prompt: str | None = "survey_invalid"
    thanks_prompt: str | None = "survey_thanks"
    timeout_s: float = Field(6.0, gt=0, le=30)
    attempts: int = Field(2, ge=1, le=5)
    only_after_operator: bool = Field(True, description="ask only callers who talked with an operator")
    next: NodeName | None = None

    @model_validator(mode="after")
    def _unique(self) -> SurveyNode:
        ids = [q.id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError(f"question ids must be unique: {ids}")
        return self

    def targets(self) -> list[str]:
        return [self.next] if self.next else []

    def prompts(self) -> list[str]:
        fixed = [self.intro_prompt, self.invalid_prompt, self.thanks_prompt]
        return [p for p in fixed if p] + [q.prompt for q in self.questions]


Node = Annotated[
    PlayNode | HangupNode | StubNode | HoursNode | ConsentNode | MenuNode | QueueNode | VoicemailNode | SurveyNode,
    Field(discriminator="type"),
]

STATE_OF: dict[str, CallState] = {
    "play": CallState.PLAY,
    "hangup": CallState.HANGUP,
    "stub": CallState.STUB,
    "hours": CallState.HOURS,
    "consent": CallState.CONSENT,
    "menu": CallState.MENU,
    "queue": CallState.QUEUE,
    "voicemail": CallState.VOICEMAIL,
    "survey": CallState.SURVEY,
}


class Flow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    did: str | None = None
    start: NodeName
    nodes: dict[NodeName, Node]

    @model_validator(mode="after")
    def _wired(self) -> Flow:
        problems: list[str] = []
        if self.start not in self.nodes:
            problems.append(f"start: no node named {self.start!r}")
        for name, node in self.nodes.items():
            for target in node.targets():
                if target not in self.nodes:
                    problems.append(f"nodes.{name}: goes to {target!r}, which is not a node")
                    continue
                here, there = STATE_OF[node.type], STATE_OF[self.nodes[target].type]
                if there not in TRANSITIONS[here]:
                    problems.append(f"nodes.{name}: a {node.type} node cannot go on to a {there} node")
        if not problems:
            unreachable = set(self.nodes) - self._reachable()
            if unreachable:
                problems.append(f"nodes not reachable from start: {', '.join(sorted(unreachable))}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _reachable(self) -> set[str]:
        seen: set[str] = set()
        todo = [self.start]
        while todo:
            name = todo.pop()
            if name in seen or name not in self.nodes:
                continue
            seen.add(name)
            todo.extend(self.nodes[name].targets())
        return seen

    def prompts(self) -> set[str]:
        return {p for node in self.nodes.values() for p in node.prompts()}


def load_flow(path: Path, known_prompts: set[str] | None = None) -> Flow:
    data, origins = load_mapping(path)
    flow = validate(Flow, Layered(data, origins))
    if known_prompts is not None:
        missing = sorted(flow.prompts() - known_prompts)
        if missing:
            raise ConfigError([f"{path}: prompts not in the prompt texts: {', '.join(missing)}"])
    return flow
