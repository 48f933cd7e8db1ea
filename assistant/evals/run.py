"""Running the eval: the golden questions through the real assistant (``repeat`` times,
counting the questions whose outcome flips between runs), and the whole flow the
``eval`` command runs: ask, gate, write the reports."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Protocol

from .dataset import DEFAULT_DATASET, corpus_files, load_dataset, open_eval_answerer, select_split
from .gate import (
    REFERENCE_ENGINE,
    check_hostile,
    check_thresholds,
    compare,
    read_baseline,
    thresholds_for,
)
from .hostile import AnswerOutcome, run_hostile
from .metrics import (
    RETRIEVAL_K,
    QuestionResult,
    aggregate,
    at_reference_speed,
    by_split,
    by_type,
    engine_figures,
    score_answer,
)
from .report import EvalReport, write_reports


@dataclass(frozen=True)
class EvalOptions:
    """What the ``eval`` command asks for."""

    dataset: Path = DEFAULT_DATASET
    provider: str | None = None  # None: the settings' provider
    repeat: int = 1
    split: str | None = None  # 'dev', 'test', or None / 'all'
    baseline: Path | None = None  # a previous JSON report to compare with
    json_out: Path | None = None
    markdown_out: Path | None = None
    hostile: bool = False  # also ask over the corpus mixed with the hostile articles
    hostile_sample: int | None = None  # ... only this many questions


class EvalProgress(Protocol):
    """Told of each stage (with how many questions it asks) and of each question asked."""

    def stage(self, label: str, total: int) -> None: ...

    def step(self) -> None: ...


@dataclass(frozen=True)
class EvalOutcome:
    """A gated report, and the thresholds file it was gated by (None when the provider has
    none, and nothing was gated)."""

    report: EvalReport
    thresholds_file: Path | None

    @property
    def passed(self) -> bool:
        return self.report.passed


def run_eval(
    settings,
    dataset: Path = DEFAULT_DATASET,
    provider: str | None = None,
    repeat: int = 1,
    progress: Callable[[QuestionResult], None] | None = None,
    split: str | None = None,
) -> EvalReport:
    """Run every question (of ``split``, or all) ``repeat`` times and build the report
    (without gate or baseline). ``progress(result)`` is called after each question."""
    questions = select_split(load_dataset(dataset), split)
    answerer, esettings, corpus_key = open_eval_answerer(settings, corpus_files(dataset), provider)
    support = _support_score(answerer.searcher)
    runs: list[list[QuestionResult]] = []
    for _ in range(repeat):
        results = []
        for q in questions:
            answer = answerer.ask(q.question, history=q.history)
            query = answer.standalone_question or q.question
            retrieved = [h.passage.text for h in answerer.searcher.search(query, RETRIEVAL_K)]
            results.append(score_answer(q, answer, retrieved, support, esettings.support_threshold))
            if progress:
                progress(results[-1])
        runs.append(results)
    results = runs[0]
    return EvalReport(
        provider=answerer.provider.name,
        model=answerer.provider.model,
        dataset=str(dataset),
        settings_fingerprint=esettings.fingerprint(),
        corpus_fingerprint=corpus_key,
        repeat=repeat,
        split=split or "all",
        metrics={**aggregate(results), **engine_figures(answerer.provider.engine_work())},
        by_type=by_type(results),
        by_split=by_split(results),
        questions=tuple(results),
        unstable=tuple(unstable(runs)) if repeat > 1 else (),
    )


def _support_score(searcher) -> Callable[[str, str], float]:
    """The verifier's support score of a sentence by a text, as the assistant computes it."""
    from ..models import Passage
    from ..support import SupportScorer

    def support(sentence: str, text: str) -> float:
        scorer = SupportScorer(
            [Passage("eval", "eval", 0, text, 0, len(text), "", "", "", "")], searcher.embed
        )
        scores = scorer.score_all([sentence])
        return float(scores.max()) if scores.size else 0.0

    return support


def unstable(runs: list[list[QuestionResult]]) -> list[dict]:
    """Questions whose outcome (correct, refused, answer text) changes between runs."""
    flagged = []
    for results in zip(*runs):
        outcomes = {(r.correct, r.refused, r.answer) for r in results}
        if len(outcomes) > 1:
            flagged.append({"id": results[0].id, "answers": sorted({r.answer for r in results})})
    return flagged


def evaluate(settings, options: EvalOptions, progress: EvalProgress | None = None) -> EvalOutcome:
    """The ``eval`` command: ask the golden questions (and, with ``options.hostile``, ask them
    over the corpus mixed with the hostile articles), gate the figures on the provider's
    thresholds, compare with the baseline, and write the JSON and Markdown reports."""
    # Read first: a baseline that cannot be read fails the command before the long run.
    baseline = read_baseline(options.baseline) if options.baseline else None
    report = _ask_golden(settings, options, progress)
    hostile = _ask_hostile(settings, options, report, progress) if options.hostile else None
    thresholds, path = thresholds_for(report.provider)
    report = replace(report, metrics=at_reference_speed(report.metrics, thresholds.get(REFERENCE_ENGINE)))
    failures = check_thresholds(report.metrics, thresholds)
    if hostile is not None:
        failures += check_hostile(hostile, thresholds)
    comparison = compare(report.questions, report.metrics, baseline) if baseline is not None else None
    gated = replace(
        report,
        hostile=hostile,
        thresholds={k: v for k, v in thresholds.items() if not k.startswith("_")},  # not the file's notes
        gate_failures=tuple(failures),
        comparison=comparison,
    )
    write_reports(gated, options.json_out, options.markdown_out)
    return EvalOutcome(gated, path if thresholds else None)


def _ask_golden(settings, options: EvalOptions, progress: EvalProgress | None) -> EvalReport:
    if progress:
        asked = len(select_split(load_dataset(options.dataset), options.split)) * options.repeat
        progress.stage(f"eval ({settings.provider if settings else ''})", asked)
    advance = (lambda _: progress.step()) if progress else None
    return run_eval(settings, options.dataset, options.provider, options.repeat, advance, options.split)


def _ask_hostile(settings, options: EvalOptions, report: EvalReport, progress: EvalProgress | None):
    asked = len(report.questions)
    if progress:
        progress.stage(f"hostile articles ({settings.provider})", min(options.hostile_sample or asked, asked))
    advance = (lambda _: progress.step()) if progress else None
    clean = [AnswerOutcome.of_result(r) for r in report.questions]
    return run_hostile(
        settings,
        options.dataset,
        options.provider,
        options.hostile_sample,
        clean_rows=clean,
        progress=advance,
        split=options.split,
    )
