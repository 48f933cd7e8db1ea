"""Scoring one answer against its golden question, and aggregating the scores.

Per question: retrieval recall@k and reciprocal rank (is a gold evidence sentence in the
retrieved passages), answer correctness (every ``must_include`` fact present, not
refused), citation recall and precision in the ALCE sense, judged twice (by the verifier
the assistant uses, and independently by the gold evidence), refusal outcome, and the
timings of every stage. Aggregated overall, per question type and per split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Callable, Iterable

from ..lexical import tokenize
from ..models import Answer, Repairs
from .dataset import SPLITS, TYPES, EvalQuestion

RETRIEVAL_K = 5
TIMED_STAGES = ("retrieve_s", "first_token_s", "generate_s", "verify_s", "total_s")
# A sentence is backed by the gold evidence when this share of its terms is in it.
GOLD_OVERLAP = 0.5

Support = Callable[[str, str], float]


@dataclass(frozen=True, kw_only=True)
class QuestionResult:
    """One golden question as asked and scored. Fields are in the order the JSON report
    lists them; a figure that does not apply to the question (``None``) is left out."""

    id: str
    type: str
    split: str = "dev"
    question: str
    standalone_question: str = ""
    answer: str
    raw_answer: str = ""
    refused: bool
    timings: dict[str, float] = field(default_factory=dict)
    repairs: Repairs = Repairs()
    cited_sources: tuple[str, ...] = ()
    decision: str = "answered"
    refusal_odds: float | None = None
    # answerable questions
    retrieval_recall_at_k: float | None = None
    mrr: float | None = None
    correct: bool
    missing: tuple | None = None  # the must_include facts the answer lacks
    false_refusal: bool | None = None
    # unanswerable questions
    refusal_correct: bool | None = None
    # answers with factual sentences
    citation_recall: float | None = None
    citation_recall_gold: float | None = None
    citations: int | None = None
    citation_precision: float | None = None
    citation_precision_gold: float | None = None

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    def as_json(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "repairs":
                value = value.as_json()
            elif f.name == "missing":
                value = [m if isinstance(m, str) else list(m) for m in value]
            elif f.name == "cited_sources":
                value = list(value)
            out[f.name] = value
        return out


# -- comparing text ----------------------------------------------------------------------------
def normalise(text: str) -> str:
    """Text as the metrics compare it: straight quotes, single spaces, casefolded."""
    straight = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", straight).casefold()


def _includes(answer: str, fact) -> bool:
    options = fact if isinstance(fact, tuple) else (fact,)
    return any(normalise(option) in normalise(answer) for option in options)


def _has_evidence(passage_text: str, evidence: Iterable[str]) -> bool:
    text = normalise(passage_text)
    return any(normalise(e) in text for e in evidence)


def term_overlap(sentence: str, evidence_text: str) -> float:
    """The share of the sentence's terms that ``evidence_text`` holds."""
    terms = set(tokenize(sentence))
    if not terms:
        return 0.0
    return len(terms & set(tokenize(evidence_text))) / len(terms)


# -- scoring one answer ---------------------------------------------------------------------
def score_answer(
    q: EvalQuestion, answer: Answer, retrieved: list[str], support: Support, threshold: float
) -> QuestionResult:
    """Metrics for one answer. ``retrieved`` are the texts of the top passages a search for
    the (standalone) question returns; ``support(sentence, passage_text)`` is the verifier's
    support score, so the verifier-judged figures use exactly what the assistant uses."""
    return QuestionResult(
        id=q.id,
        type=q.type,
        split=q.split,
        question=q.question,
        standalone_question=answer.standalone_question or q.question,
        answer=answer.text,
        raw_answer=answer.raw_text,
        refused=answer.refused,
        timings={k: round(v, 3) for k, v in answer.timings.items()},
        repairs=answer.repairs,
        cited_sources=tuple(sorted({c.passage.source for c in answer.citations})),
        decision=answer.decision,
        refusal_odds=round(answer.refusal_odds, 4) if answer.refusal_odds is not None else None,
        **(_answerable_figures(q, answer, retrieved) if q.answerable else _unanswerable_figures(answer)),
        **_citation_metrics(q, answer, support, threshold),
    )


def _answerable_figures(q: EvalQuestion, answer: Answer, retrieved: list[str]) -> dict:
    found = [i for i, text in enumerate(retrieved, start=1) if _has_evidence(text, q.evidence)]
    covered = [e for e in q.evidence if any(normalise(e) in normalise(t) for t in retrieved)]
    return {
        "retrieval_recall_at_k": len(covered) / len(q.evidence),
        "mrr": 1.0 / found[0] if found else 0.0,
        "correct": (not answer.refused) and all(_includes(answer.text, f) for f in q.must_include),
        "missing": tuple(f for f in q.must_include if not _includes(answer.text, f)),
        "false_refusal": answer.refused,
    }


def _unanswerable_figures(answer: Answer) -> dict:
    return {"correct": answer.refused, "refusal_correct": answer.refused}


def _citation_metrics(q: EvalQuestion, answer: Answer, support: Support, threshold: float) -> dict:
    """ALCE citation recall/precision over the answer's factual sentences."""
    by_n = {c.n: c.passage.text for c in answer.citations}
    sentences = [s for s in answer.sentences if s.factual]
    if answer.refused or not sentences:
        return {}
    recall_v = recall_g = 0
    cites = precise_v = precise_g = 0
    for s in sentences:
        texts = [by_n[n] for n in s.citations if n in by_n]
        alone = [support(s.text, t) >= threshold for t in texts]
        together = support(s.text, "\n".join(texts)) >= threshold if texts else False
        recall_v += bool(texts) and together
        gold = [t for t in texts if _has_evidence(t, q.evidence)]
        gold_evidence = " ".join(e for e in q.evidence if any(normalise(e) in normalise(t) for t in gold))
        recall_g += bool(gold) and term_overlap(s.text, gold_evidence) >= GOLD_OVERLAP
        for t, ok in zip(texts, alone):
            cites += 1
            # ALCE: a citation is imprecise when its passage alone does not support the
            # sentence while the other citations do.
            others = [u for u in texts if u is not t]
            rest_ok = bool(others) and support(s.text, "\n".join(others)) >= threshold
            precise_v += ok or not rest_ok
            precise_g += _has_evidence(t, q.evidence) or (not q.answerable)
    out = {
        "citation_recall": recall_v / len(sentences),
        "citation_recall_gold": recall_g / len(sentences) if q.answerable else None,
        "citations": cites,
    }
    if cites:
        out["citation_precision"] = precise_v / cites
        out["citation_precision_gold"] = precise_g / cites if q.answerable else None
    return out


# -- aggregation ---------------------------------------------------------------------------
def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 3)


def _mean_of(results: list[QuestionResult], name: str) -> float | None:
    """The mean of a figure over the results it applies to."""
    return _mean([float(v) for r in results if (v := getattr(r, name)) is not None])


def aggregate(results: list[QuestionResult]) -> dict:
    """The figures of a set of results, by metric name (a figure no result has is left out)."""
    answerable = [r for r in results if r.answerable]
    metrics = {
        "questions": len(results),
        "retrieval_recall_at_k": _mean_of(answerable, "retrieval_recall_at_k"),
        "mrr": _mean_of(answerable, "mrr"),
        "answer_correctness": _mean_of(answerable, "correct"),
        "citation_recall": _mean_of(results, "citation_recall"),
        "citation_precision": _mean_of(results, "citation_precision"),
        "citation_recall_gold": _mean_of(results, "citation_recall_gold"),
        "citation_precision_gold": _mean_of(results, "citation_precision_gold"),
        "refusal_accuracy": _mean_of([r for r in results if not r.answerable], "refusal_correct"),
        "false_refusal_rate": _mean_of(answerable, "false_refusal"),
        "citations_moved": sum(r.repairs.moved for r in results),
        "citations_added": sum(r.repairs.added for r in results),
        "citations_dropped": sum(r.repairs.dropped for r in results),
        "sentences_removed": sum(r.repairs.unsupported_sentences for r in results),
    }
    for stage in TIMED_STAGES:
        values = [r.timings[stage] for r in results if stage in r.timings]
        metrics[f"latency_{stage[:-2]}_p50_s"] = _percentile(values, 50)
        metrics[f"latency_{stage[:-2]}_p95_s"] = _percentile(values, 95)
    return {k: v for k, v in metrics.items() if v is not None}


def engine_figures(work) -> dict:
    """The model engine's work over a run (an :class:`~assistant.providers.EngineWork`, or
    None for a provider whose engine reports none) and its speed on this machine."""
    if work is None or work.read_s <= 0 or work.written_s <= 0:
        return {}
    return {
        "engine_read_tokens": work.read_tokens,
        "engine_read_s": round(work.read_s, 2),
        "engine_written_tokens": work.written_tokens,
        "engine_written_s": round(work.written_s, 2),
        "engine_read_tokens_per_s": round(work.read_tokens / work.read_s, 1),
        "engine_written_tokens_per_s": round(work.written_tokens / work.written_s, 1),
    }


def at_reference_speed(metrics: dict, reference: dict | None) -> dict:
    """``metrics`` with the latencies this run would have had on the reference machine
    (``reference``: the engine's read and write speeds there, tokens per second), and how
    much slower this machine's engine was (``machine_slowdown``). A machine two or three
    times slower than the one the thresholds were set on (seen in CI) would otherwise fail
    a latency gate meant to catch slower code: a change that makes the model read or write
    more still shows, since the engine's work is counted in tokens. Unchanged where the run
    or the thresholds have no engine speeds."""
    if not reference or "engine_read_s" not in metrics:
        return metrics
    from ..providers import EngineWork

    work = EngineWork(
        metrics["engine_read_tokens"],
        metrics["engine_read_s"],
        metrics["engine_written_tokens"],
        metrics["engine_written_s"],
    )
    at_reference = work.seconds_at(reference["read_tokens_per_s"], reference["written_tokens_per_s"])
    if at_reference <= 0:
        return metrics
    slowdown = (work.read_s + work.written_s) / at_reference
    scaled = {
        f"{name[: -len('_s')]}_at_reference_s": round(value / slowdown, 3)
        for name, value in metrics.items()
        if name.startswith("latency_") and name.endswith("_s")
    }
    return {**metrics, "machine_slowdown": round(slowdown, 3), **scaled}


def by_type(results: list[QuestionResult]) -> dict:
    return {
        t: aggregate([r for r in results if r.type == t]) for t in TYPES if any(r.type == t for r in results)
    }


def by_split(results: list[QuestionResult]) -> dict:
    """Overall and per-type figures of each split asked: the test split's are the ones to report."""
    out = {}
    for name in SPLITS:
        chosen = [r for r in results if r.split == name]
        if chosen:
            out[name] = {"metrics": aggregate(chosen), "by_type": by_type(chosen)}
    return out
