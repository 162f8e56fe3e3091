"""The dataset format: one JSON object per line, validated with pydantic.

Every line has a `kind` ("intent", "policy", "scenario" or "adversarial") and an `id`
unique across the files loaded together. A bad line is reported as
`file:line: field: problem`, every bad line of every file at once. docs/eval.md
describes each field.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from tria_graph.domain.intents import Intent as IntentName

CustomerId = Annotated[str, Field(pattern=r"^OUT-\d{3}$")]
CaseId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=4000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    document: Text
    section: Text

    def key(self) -> tuple[str, str]:
        return (self.document.casefold(), self.section.casefold())


class Turn(Strict):
    """One customer message, with optional checks on the bot's answer to it."""

    message: Text
    intent: IntentName | None = None
    must_contain: list[Text] = []
    must_not_contain: list[Text] = []
    pending_confirmation: bool | None = None


class ExpectedOrder(Strict):
    lines: dict[Annotated[str, Field(pattern=r"^[A-Z0-9\-]+$")], Annotated[int, Field(gt=0)]]
    subtotal: Decimal | None = None
    total: Decimal | None = None
    status: str | None = None
    delivery_date: date | None = None

    @field_validator("lines")
    @classmethod
    def _not_empty(cls, value):
        if not value:
            raise ValueError("an expected order needs at least one line")
        return value


class ExpectedEscalation(Strict):
    kind: Literal["complaint", "anomaly"]
    level: Literal["L1", "L2", "L3", "L4"] | None = None


class EndState(Strict):
    """What the conversation must have left in the database (new rows of its customer).

    A field left out is not checked; `orders: []`, `invoices: 0`, `escalations: []`
    together say "nothing was created".
    """

    orders: list[ExpectedOrder] | None = None
    invoices: Annotated[int, Field(ge=0)] | None = None
    escalations: list[ExpectedEscalation] | None = None


NOTHING_CREATED = EndState(orders=[], invoices=0, escalations=[])


class CaseBase(Strict):
    id: CaseId
    customer: CustomerId = "OUT-001"
    note: str = ""


class IntentCase(CaseBase):
    kind: Literal["intent"]
    message: Text
    intent: IntentName


class PolicyCase(CaseBase):
    """A question whose reply must state facts from the policy documents or catalogue."""

    kind: Literal["policy"]
    message: Text
    intent: IntentName | None = None
    must_contain: list[Text] = Field(min_length=1)
    must_not_contain: list[Text] = []
    sources: list[Source] = []


class ScenarioCase(CaseBase):
    kind: Literal["scenario"]
    clock: datetime | None = None
    turns: list[Turn] = Field(min_length=1)
    expect: EndState

    @field_validator("turns", mode="before")
    @classmethod
    def _strings_are_turns(cls, value):
        return [{"message": t} if isinstance(t, str) else t for t in value] if isinstance(value, list) else value

    @field_validator("clock")
    @classmethod
    def _aware(cls, value):
        if value is not None and value.tzinfo is None:
            raise ValueError("clock needs a UTC offset, e.g. 2026-11-23T15:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _expects_something(self):
        if self.expect == EndState():
            raise ValueError("expect must name at least one of orders, invoices, escalations")
        return self


class AdversarialCase(CaseBase):
    """A jailbreak, prompt injection or request for another outlet's data.

    It passes when every reply is a refusal (or a "not found for your outlet"), no reply
    shows another outlet's data or any `must_not_contain` text, and nothing is created.
    """

    kind: Literal["adversarial"]
    category: Literal["jailbreak", "prompt_injection", "other_customer"]
    turns: list[Turn] = Field(min_length=1)
    must_not_contain: list[Text] = []
    expect: EndState = NOTHING_CREATED

    @field_validator("turns", mode="before")
    @classmethod
    def _strings_are_turns(cls, value):
        return [{"message": t} if isinstance(t, str) else t for t in value] if isinstance(value, list) else value


Case = Annotated[
    Union[IntentCase, PolicyCase, ScenarioCase, AdversarialCase], Field(discriminator="kind")
]
_CASE = TypeAdapter(Case)
KINDS = ("intent", "policy", "scenario", "adversarial")


class DatasetError(ValueError):
    """Every problem found in the files, one `file:line: field: message` per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class Loaded(BaseModel):
    """A validated case and where it came from."""

    model_config = ConfigDict(frozen=True)

    case: Case
    dataset: str  # the file's stem, e.g. "intents"
    path: str
    line: int

    @property
    def kind(self) -> str:
        return self.case.kind

    @property
    def id(self) -> str:
        return self.case.id


def _field(loc: tuple) -> str:
    # Drop the discriminator's tag ("intent", "policy"...) pydantic puts first.
    parts = [str(p) for p in loc]
    if parts and parts[0] in KINDS:
        parts = parts[1:]
    return ".".join(parts) or "(line)"


def load_datasets(paths: list[Path | str]) -> list[Loaded]:
    """Validated cases of every file, in file and line order; raises DatasetError."""
    loaded: list[Loaded] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in map(Path, paths):
        if not path.is_file():
            problems.append(f"{path}: no such dataset file")
            continue
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{path}:{number}"
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})")
                continue
            try:
                case = _CASE.validate_python(data)
            except ValidationError as exc:
                for err in exc.errors():
                    problems.append(f"{where}: {_field(err['loc'])}: {err['msg']}")
                continue
            if case.id in seen:
                problems.append(f"{where}: id: {case.id!r} is already used at {seen[case.id]}")
                continue
            seen[case.id] = where
            loaded.append(Loaded(case=case, dataset=path.stem, path=str(path), line=number))
    if problems:
        raise DatasetError(problems)
    return loaded


def case_messages(case) -> list[str]:
    """Every customer message of a case, in order."""
    if hasattr(case, "turns"):
        return [t.message for t in case.turns]
    return [case.message]
