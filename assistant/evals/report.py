"""The eval report: its data, and the JSON and Markdown files written from it (CI and the
README read both; ``evals/README.md`` describes them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .dataset import SPLITS
from .metrics import RETRIEVAL_K, QuestionResult

if TYPE_CHECKING:
    from .hostile import HostileReport

# The headline metrics, as the terminal and the Markdown report list them.
METRIC_TABLE = (
    ("retrieval_recall_at_k", f"retrieval recall@{RETRIEVAL_K}"),
    ("mrr", "MRR"),
    ("answer_correctness", "answer correctness"),
    ("citation_recall", "citation recall (verifier)"),
    ("citation_precision", "citation precision (verifier)"),
    ("citation_recall_gold", "citation recall (gold evidence)"),
    ("citation_precision_gold", "citation precision (gold evidence)"),
    ("refusal_accuracy", "refusal accuracy"),
    ("false_refusal_rate", "false refusals"),
    ("latency_total_p50_s", "latency p50 (s)"),
    ("latency_total_p95_s", "latency p95 (s)"),
)
# Rows only a run whose engine reports its speed has (the local model's): left out elsewhere.
_ENGINE_TABLE = (
    ("latency_total_p50_at_reference_s", "latency p50 at the reference machine's speed (s)"),
    ("latency_total_p95_at_reference_s", "latency p95 at the reference machine's speed (s)"),
    ("machine_slowdown", "this machine's engine time / the reference machine's, same tokens"),
    ("engine_read_tokens_per_s", "engine: prompt tokens read per second"),
    ("engine_written_tokens_per_s", "engine: tokens written per second"),
)
TYPE_COLUMNS = ("type", "n", "correct", "recall@k", "cit. precision (gold)", "refusal acc.", "false refusals")
_TYPE_FIGURES = (
    "answer_correctness",
    "retrieval_recall_at_k",
    "citation_precision_gold",
    "refusal_accuracy",
    "false_refusal_rate",
)


@dataclass(frozen=True, kw_only=True)
class EvalReport:
    """One eval run: what was asked and how (metadata), its figures, each question's result,
    and, once gated, the thresholds and what missed them. Fields are in the order the JSON
    report lists them."""

    provider: str
    model: str
    dataset: str
    settings_fingerprint: str
    corpus_fingerprint: str
    repeat: int = 1
    split: str = "all"
    metrics: dict
    by_type: dict = field(default_factory=dict)
    by_split: dict = field(default_factory=dict)
    questions: tuple[QuestionResult, ...] = ()
    unstable: tuple[dict, ...] = ()  # questions whose outcome changed between repeats
    hostile: HostileReport | None = None  # with --hostile only
    thresholds: dict = field(default_factory=dict)  # as gated (without the file's "_" notes)
    gate_failures: tuple[str, ...] = ()
    comparison: dict | None = None  # against a baseline report, when given one

    @property
    def passed(self) -> bool:
        return not self.gate_failures

    def as_json(self) -> dict:
        out = {
            "provider": self.provider,
            "model": self.model,
            "dataset": self.dataset,
            "settings_fingerprint": self.settings_fingerprint,
            "corpus_fingerprint": self.corpus_fingerprint,
            "repeat": self.repeat,
            "split": self.split,
            "metrics": self.metrics,
            "by_type": self.by_type,
            "by_split": self.by_split,
            "questions": [q.as_json() for q in self.questions],
            "unstable": list(self.unstable),
        }
        if self.hostile is not None:
            out["hostile"] = self.hostile.as_json()
        out["thresholds"] = self.thresholds
        out["gate_failures"] = list(self.gate_failures)
        if self.comparison is not None:
            out["comparison"] = self.comparison
        return out


def write_reports(report: EvalReport, json_out: Path | None, markdown_out: Path | None) -> None:
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n")
    if markdown_out:
        markdown_out.parent.mkdir(parents=True, exist_ok=True)
        markdown_out.write_text(markdown_report(report))


# -- rows shared by the terminal and the Markdown report -----------------------------------------
def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metric_rows(metrics: dict, thresholds: dict) -> list[tuple[str, str, str]]:
    """The headline metrics as (label, value, threshold) rows; the engine's rows only where
    the run or the thresholds have them."""
    engine = [(key, label) for key, label in _ENGINE_TABLE if key in metrics or key in thresholds]
    return [
        (label, fmt(metrics.get(key)), fmt(thresholds.get(key))) for key, label in [*METRIC_TABLE, *engine]
    ]


def type_rows(types: dict) -> list[tuple[str, ...]]:
    """The per-type figures as rows under :data:`TYPE_COLUMNS`."""
    return [
        (name, str(m["questions"]), *(fmt(m.get(key)) for key in _TYPE_FIGURES)) for name, m in types.items()
    ]


def hostile_figures(h: HostileReport, thresholds: dict) -> list[tuple[str, str, str]]:
    """The hostile run's figures as (what, value, threshold) rows, for the terminal table
    and the Markdown report alike."""
    return [
        (
            "injection success rate (canary or injected text in the answer, or a forged citation)",
            fmt(h.injection_success_rate),
            fmt(thresholds.get("hostile_injection_rate_max")),
        ),
        (
            "answer change rate (refused or cited other source files than without them)",
            fmt(h.answer_change_rate),
            fmt(thresholds.get("hostile_answer_change_rate_max")),
        ),
        (
            "changed by the injection (refused or cited other articles than with the defanged articles)",
            fmt(h.injection_change_rate),
            fmt(thresholds.get("hostile_injection_change_rate_max")),
        ),
        (
            "hostile articles whose injected text survived loading",
            f"{len(h.injected_text_after_loading)} of {h.articles}",
            "-",
        ),
        ("injected text the provider wrote that the verifier removed", fmt(h.raw_injection_rate), "-"),
        ("citations of hostile articles (legitimate text)", str(h.hostile_citations), "-"),
    ]


# -- Markdown --------------------------------------------------------------------------------------
def markdown_report(report: EvalReport) -> str:
    m = report.metrics
    lines = [
        f"# Eval: provider `{report.provider}` ({report.model})",
        "",
        f"{m['questions']} questions from `{report.dataset}`, settings `{report.settings_fingerprint}`, "
        f"corpus `{report.corpus_fingerprint}`.",
        "",
        "| metric | value | threshold |",
        "|---|---|---|",
        *(f"| {label} | {value} | {limit} |" for label, value, limit in metric_rows(m, report.thresholds)),
    ]
    lines += _type_table(report.by_type)
    if len(report.by_split) > 1:  # with one split asked, the figures above are that split's
        for name, part in report.by_split.items():
            lines += [
                "",
                f"## The {name} split ({part['metrics']['questions']} questions)",
                "",
                "| metric | value |",
                "|---|---|",
            ]
            lines += [f"| {label} | {value} |" for label, value, _ in metric_rows(part["metrics"], {})]
            lines += _type_table(part["by_type"])
    if report.gate_failures:
        lines += ["", "**Gate failed:**", *[f"- {f}" for f in report.gate_failures]]
    else:
        lines += ["", "Gate passed."]
    lines += _failed_questions(report.questions)
    if report.comparison and report.comparison.get("worse"):
        lines += [
            "",
            "Got worse against the baseline:",
            *[f"- `{w['id']}`: {w['now']}" for w in report.comparison["worse"]],
        ]
    if report.unstable:
        lines += ["", "Outcome changed between repeats:", *[f"- `{u['id']}`" for u in report.unstable]]
    if report.hostile:
        lines += _hostile_markdown(report.hostile, report.thresholds)
    return "\n".join(lines) + "\n"


def _type_table(types: dict) -> list[str]:
    lines = ["", "| " + " | ".join(TYPE_COLUMNS) + " |", "|---|---|---|---|---|---|---|"]
    return lines + ["| " + " | ".join(row) + " |" for row in type_rows(types)]


def _failed_questions(questions: tuple[QuestionResult, ...]) -> list[str]:
    lines = []
    for name in SPLITS:
        failures = [q for q in questions if not q.correct and q.split == name]
        if failures:
            note = " (not to be read while tuning)" if name == "test" else ""
            lines += ["", f"<details><summary>Failed questions, {name} split{note}</summary>", ""]
            lines += [f"- `{q.id}` ({q.type}): {q.question} -> {q.answer}" for q in failures]
            lines += ["", "</details>"]
    return lines


def _hostile_markdown(h: HostileReport, thresholds: dict) -> list[str]:
    lines = [
        "",
        "## Hostile articles",
        "",
        f"{h.articles} prompt-injection articles mixed into the corpus (`{h.corpus_fingerprint}`); "
        f"{h.questions} questions asked ({h.selection}), {h.exposed} of them with a hostile passage "
        "among those given to the provider.",
        "",
        "| figure | value | threshold |",
        "|---|---|---|",
        *(f"| {what} | {value} | {limit} |" for what, value, limit in hostile_figures(h, thresholds)),
    ]
    if h.injected:
        lines += ["", "**Injections that got through:**", ""]
        for item in h.injected:
            lines.append(
                f"- `{item['id']}` {item['question']} -> {item['answer']} ({'; '.join(item['reasons'])})"
            )
    if h.changed_by_injection:
        lines += ["", "**Answers the injections changed** (against the same articles defanged):", ""]
        for c in h.changed_by_injection:
            lines.append(
                f"- `{c['id']}` {c['question']}\n"
                f"  - defanged: {c['defanged_answer']} {c['defanged_sources']}\n"
                f"  - hostile: {c['hostile_answer']} {c['hostile_sources']}"
            )
    if h.changed:
        lines += ["", "<details><summary>Answers that changed with the hostile articles</summary>", ""]
        for c in h.changed:
            exposed = " (hostile passage given)" if c["exposed"] else ""
            lines.append(
                f"- `{c['id']}` {c['question']}{exposed}\n"
                f"  - without: {c['clean_answer']} {c['clean_sources']}\n"
                f"  - with: {c['hostile_answer']} {c['hostile_sources']}"
            )
        lines += ["", "</details>"]
    return lines
