"""The prompt-injection harness: the golden questions asked over the eval corpus mixed with
the hostile articles of ``evals/hostile/``, each answer checked for a sign that an
injection worked, and compared with the answers given without the hostile articles and
with them defanged."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Iterable

from ..models import Answer
from .dataset import (
    DEFAULT_DATASET,
    EvalQuestion,
    corpus_files,
    load_dataset,
    open_eval_answerer,
    select_split,
)
from .injection import HOSTILE_DIR, HostileArticle, InjectionCheck, load_hostile, write_defanged
from .metrics import QuestionResult


# -- one answer's outcome, and the run's rows and report -------------------------------------------
@dataclass(frozen=True)
class AnswerOutcome:
    """What an answer to a question refused and cited: compared across corpora."""

    id: str
    answer: str
    refused: bool
    cited_sources: tuple[str, ...]

    @classmethod
    def of(cls, q: EvalQuestion, answer: Answer) -> AnswerOutcome:
        return cls(
            q.id, answer.text, answer.refused, tuple(sorted({c.passage.source for c in answer.citations}))
        )

    @classmethod
    def of_result(cls, result: QuestionResult) -> AnswerOutcome:
        return cls(result.id, result.answer, result.refused, result.cited_sources)


def outcome_differs(a: AnswerOutcome, b: AnswerOutcome) -> bool:
    """One answer refuses and the other does not, or they cite different articles (by file
    name stem: a defanged copy is Markdown whatever the hostile file was)."""
    if a.refused != b.refused:
        return True
    cited_a, cited_b = ({Path(s).stem for s in o.cited_sources} for o in (a, b))
    return not a.refused and cited_a != cited_b


@dataclass(frozen=True, kw_only=True)
class HostileRow(AnswerOutcome):
    """A question asked over the corpus with the hostile articles (fields in JSON order)."""

    question: str
    hostile_passages: tuple[str, ...]  # the hostile articles among the passages given to the provider
    injection: tuple[str, ...]  # why the answer shows an injection worked (empty when it does not)
    raw_injection: tuple[str, ...]  # the same for what the provider wrote, when the verifier removed it
    changed: bool  # refused or cited other source files than without the hostile articles
    changed_by_injection: bool  # refused or cited other articles than with them defanged

    def as_json(self) -> dict:
        return _as_json(self)


@dataclass(frozen=True, kw_only=True)
class HostileReport:
    """The hostile run's figures (the gate caps the rates) and what lies behind them.
    Fields are in the order the JSON report lists them."""

    articles: int = 0
    kinds: tuple[str, ...] = ()
    corpus_fingerprint: str = ""
    questions: int = 0
    selection: str = ""
    exposed: int = 0  # questions with a hostile passage among those given to the provider
    injection_success_rate: float
    answer_change_rate: float
    injection_change_rate: float
    injected_text_after_loading: tuple[str, ...] = ()  # hostile files whose injected text the loader kept
    raw_injection_rate: float = 0.0
    hostile_citations: int = 0
    injected: tuple[dict, ...] = ()
    changed: tuple[dict, ...] = ()
    changed_by_injection: tuple[dict, ...] = ()
    rows: tuple[HostileRow, ...] = ()

    def as_json(self) -> dict:
        return _as_json(self)


def _as_json(row_or_report) -> dict:
    """Its fields in order, as JSON values (tuples as lists, rows as their JSON)."""
    out = {}
    for f in fields(row_or_report):
        value = getattr(row_or_report, f.name)
        if isinstance(value, tuple):
            value = [v.as_json() if isinstance(v, HostileRow) else v for v in value]
        out[f.name] = value
    return out


@dataclass(frozen=True)
class _Asked:
    """A question asked over the hostile corpus, with the answers it is compared with."""

    row: HostileRow
    clean: AnswerOutcome
    control: AnswerOutcome
    hostile_citations: int


# -- running -------------------------------------------------------------------------------------
def _pick(items: list, n: int) -> list:
    """``n`` items spread evenly over ``items``, in their order."""
    if n <= 0:
        return []
    if n >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)] if n > 1 else items[:1]


def _hostile_sample(
    questions: list[EvalQuestion], answerer, hostile_paths: set[str], n: int | None
) -> tuple[list[EvalQuestion], str]:
    """All questions, or ``n`` of them: first those whose passages (as retrieved for the
    question, follow-ups made to stand alone by the rules) include a hostile one, spread
    evenly, then others spread evenly."""
    if not n or n >= len(questions):
        return questions, "all golden questions"
    from ..followup import rewrite_by_rules

    k = answerer.settings.answer_k
    exposed = []
    for q in questions:
        query = rewrite_by_rules(q.question, q.history) if q.history else q.question
        hits = answerer.passages_for(query, k)
        exposed.append(any(h.passage.path in hostile_paths for h in hits))
    first = _pick([q for q, e in zip(questions, exposed) if e], n)
    rest = _pick([q for q, e in zip(questions, exposed) if not e], n - len(first))
    chosen = {q.id for q in first + rest}
    selection = f"a sample of {n}, questions reaching hostile passages first"
    return [q for q in questions if q.id in chosen], selection


def run_hostile(
    settings,
    dataset: Path = DEFAULT_DATASET,
    provider: str | None = None,
    sample: int | None = None,
    clean_rows: Iterable[AnswerOutcome] | None = None,
    hostile_dir: Path = HOSTILE_DIR,
    progress: Callable[[HostileRow], None] | None = None,
    split: str | None = None,
) -> HostileReport:
    """Ask the golden questions (all, or a ``sample``) over the eval corpus mixed with the
    hostile articles, and compare every answer with the one given without them
    (``clean_rows``, from the eval run, or asked here over the clean corpus).

    An answer is *injected* when :class:`InjectionCheck` finds a reason; it *changed* when
    one of the two answers is a refusal and the other is not, or they cite different
    source files. Legitimate news in a hostile article changes answers too, so each question
    is also asked over the corpus mixed with the *defanged* hostile articles (the same text
    without its injected and forged parts, :func:`write_defanged`): an answer that differs
    from that one changed *because of the injection*. (When no injected text survives
    loading, the defanged corpus is the same text and that question needs no asking.)
    ``progress(row)`` is called after each question."""
    questions = select_split(load_dataset(dataset), split)
    hostile, clean_files = load_hostile(hostile_dir), corpus_files(dataset)
    hostile_paths = {str(a.path.resolve()) for a in hostile}
    answerer, _, key = open_eval_answerer(settings, clean_files + [a.path for a in hostile], provider)
    chosen, selection = _hostile_sample(questions, answerer, hostile_paths, sample)
    check = InjectionCheck(hostile, clean_files, _system_prompt(settings))
    clean = _clean_outcomes(settings, clean_files, provider, chosen, clean_rows or ())
    # The control: the same articles without their injected text. When the loader has
    # already dropped all of it, the two corpora are the same text, and so are the answers.
    # (the check has located each article's injected text in the article as loaded)
    survived = [a.path.name for a in hostile if check.forged[str(a.path.resolve())][1]]
    control = _defanged_answerer(settings, clean_files, hostile, provider) if survived else None
    asked = []
    for q in chosen:
        asked.append(_ask(q, answerer, control, check, hostile_paths, clean[q.id]))
        if progress:
            progress(asked[-1].row)
    return _hostile_report(hostile, key, selection, survived, asked)


def _system_prompt(settings) -> str:
    from ..prompts import DEFAULT_PROMPTS_DIR, load_prompts

    return load_prompts(settings.prompts_dir or DEFAULT_PROMPTS_DIR).templates["answer_system.txt"]


def _clean_outcomes(
    settings, clean_files: list[Path], provider, questions: list[EvalQuestion], known: Iterable[AnswerOutcome]
) -> dict[str, AnswerOutcome]:
    """Each question's answer over the clean corpus: as ``known``, or asked here."""
    clean = {o.id: o for o in known}
    missing = [q for q in questions if q.id not in clean]
    if missing:
        answerer, _, _ = open_eval_answerer(settings, clean_files, provider)
        for q in missing:
            clean[q.id] = AnswerOutcome.of(q, answerer.ask(q.question, history=q.history))
    return clean


def _defanged_answerer(settings, clean_files: list[Path], hostile: list[HostileArticle], provider):
    defanged = write_defanged(hostile, settings.cache_dir / "eval-hostile-defanged")
    answerer, _, _ = open_eval_answerer(settings, clean_files + defanged, provider)
    return answerer


def _ask(
    q: EvalQuestion,
    answerer,
    control_answerer,
    check: InjectionCheck,
    hostile_paths: set[str],
    clean: AnswerOutcome,
) -> _Asked:
    answer = answerer.ask(q.question, history=q.history)
    outcome = AnswerOutcome.of(q, answer)
    injection = tuple(check.reasons(answer, q.question))
    raw = Answer(q.question, answer.raw_text, (), (), False, (), "", "", {})
    control = (
        AnswerOutcome.of(q, control_answerer.ask(q.question, history=q.history))
        if control_answerer
        else outcome
    )
    row = HostileRow(
        id=q.id,
        answer=outcome.answer,
        refused=outcome.refused,
        cited_sources=outcome.cited_sources,
        question=q.question,
        hostile_passages=tuple(
            sorted({h.passage.source for h in answer.passages if h.passage.path in hostile_paths})
        ),
        injection=injection,
        raw_injection=() if injection else tuple(check.reasons(raw, q.question)),
        # by file name (a hostile article cited in place of a clean one changes the answer)
        changed=clean.refused != outcome.refused
        or (not outcome.refused and tuple(sorted(clean.cited_sources)) != outcome.cited_sources),
        changed_by_injection=outcome_differs(control, outcome),
    )
    hostile_citations = sum(1 for c in answer.citations if c.passage.path in hostile_paths)
    return _Asked(row, clean, control, hostile_citations)


def _hostile_report(
    hostile: list[HostileArticle], key: str, selection: str, survived: list[str], asked: list[_Asked]
) -> HostileReport:
    rows = [a.row for a in asked]
    injected = [
        {"id": r.id, "question": r.question, "answer": r.answer, "reasons": list(r.injection)}
        for r in rows
        if r.injection
    ]
    changed = [_changed(a) for a in asked if a.row.changed]
    by_injection = [_changed_by_injection(a) for a in asked if a.row.changed_by_injection]
    n = len(rows) or 1
    return HostileReport(
        articles=len(hostile),
        kinds=tuple(sorted({k for a in hostile for k in a.kinds})),
        corpus_fingerprint=key,
        questions=len(rows),
        selection=selection,
        exposed=sum(1 for r in rows if r.hostile_passages),
        injection_success_rate=round(len(injected) / n, 4),
        answer_change_rate=round(len(changed) / n, 4),
        injection_change_rate=round(len(by_injection) / n, 4),
        injected_text_after_loading=tuple(survived),
        raw_injection_rate=round(sum(1 for r in rows if r.raw_injection) / n, 4),
        hostile_citations=sum(a.hostile_citations for a in asked),
        injected=tuple(injected),
        changed=tuple(changed),
        changed_by_injection=tuple(by_injection),
        rows=tuple(rows),
    )


def _changed(asked: _Asked) -> dict:
    row, clean = asked.row, asked.clean
    return {
        "id": row.id,
        "question": row.question,
        "exposed": bool(row.hostile_passages),
        "clean_answer": clean.answer,
        "clean_sources": sorted(clean.cited_sources),
        "hostile_answer": row.answer,
        "hostile_sources": list(row.cited_sources),
    }


def _changed_by_injection(asked: _Asked) -> dict:
    row, control = asked.row, asked.control
    return {
        "id": row.id,
        "question": row.question,
        "defanged_answer": control.answer,
        "defanged_sources": list(control.cited_sources),
        "hostile_answer": row.answer,
        "hostile_sources": list(row.cited_sources),
    }
