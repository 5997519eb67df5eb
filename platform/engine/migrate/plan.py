"""A migration plan as the admin reviews it: the steps, the questions that need an answer
first, what is refused, and the whole plan as lines of text (`describe`).

Every text is a Message, worded when it is shown: the web in the admin's language, the CLI
in English.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from flowdeck.engine.messages import M, Message

MAX_SAMPLES = 20
"""How many of the records or values a question is about it lists."""


@dataclass
class Step:
    """One change; `run` performs it inside the apply transaction. `kind` is ddl, data,
    archive or note (a note only tells what another step does)."""

    description: Message
    run: Callable[[Connection], None] = field(repr=False)
    kind: str = "ddl"


@dataclass(frozen=True)
class Question:
    """A choice the admin must make before the plan can be applied.

    `choices` are (value, label) pairs; `count` is how many records or values the question
    is about; `samples` lists the first of them (record id and value).
    """

    id: str
    text: Message
    choices: list[tuple[str, Message]]
    count: int
    samples: list[Message]

    def values(self) -> list[str]:
        return [value for value, _ in self.choices]

    def describe(self) -> Message:
        return M("%(question_id)s: %(question)s (choices: %(choices)s)", question_id=self.id, question=self.text, choices=self.values())


@dataclass
class Plan:
    app: str
    version: int
    steps: list[Step] = field(default_factory=list)
    refusals: list[Message] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    """Answers to questions a plan with nothing to do no longer asks (a re-run)."""

    @property
    def ok(self) -> bool:
        """Nothing is refused (questions may still need answers)."""
        return not self.refusals

    @property
    def unanswered(self) -> list[Question]:
        return [q for q in self.questions if q.id not in self.answers]

    @property
    def ready(self) -> bool:
        """Can be applied as it is: nothing refused, every question answered."""
        return self.ok and not self.unanswered

    def describe(self) -> list[Message]:
        lines = [step.description for step in self.steps]
        for question in self.questions:
            answer = self.answers.get(question.id)
            if answer is None:
                lines.append(M("QUESTION %(question)s; needs an answer", question=question.describe()))
            else:
                lines.append(M("QUESTION %(question)s; answer: %(answer)s", question=question.describe(), answer=answer))
        lines += [M("REFUSED: %(detail)s", detail=reason) for reason in self.refusals]
        return lines or [M("no changes to the tables")]
