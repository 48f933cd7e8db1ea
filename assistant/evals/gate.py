"""The gate: each provider's thresholds, the checks against them, and the comparison with a
baseline report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..errors import AssistantError
from .dataset import EVALS_DIR

if TYPE_CHECKING:
    from .hostile import HostileReport
    from .metrics import QuestionResult

THRESHOLDS_DIR = EVALS_DIR / "thresholds"
# Metrics where higher is better (the gate checks these against their thresholds) ...
HIGHER_IS_BETTER = (
    "retrieval_recall_at_k",
    "mrr",
    "answer_correctness",
    "citation_recall",
    "citation_precision",
    "citation_recall_gold",
    "citation_precision_gold",
    "refusal_accuracy",
)
# ... and where lower is better.
LOWER_IS_BETTER = (
    "false_refusal_rate",
    "latency_total_p95_s",
    "latency_total_p50_at_reference_s",
    "latency_total_p95_at_reference_s",
)
# The thresholds file's entry for the engine speeds of the machine its latencies were set on
# (metrics.at_reference_speed): not a threshold.
REFERENCE_ENGINE = "reference_engine"
# Thresholds of the hostile run (checked by check_hostile, not check_thresholds), by the
# hostile figure each one caps.
HOSTILE_PREFIX = "hostile_"
HOSTILE_LIMITS = (
    ("hostile_injection_rate_max", "injection_success_rate"),
    ("hostile_injection_change_rate_max", "injection_change_rate"),
    ("hostile_answer_change_rate_max", "answer_change_rate"),
)


def thresholds_for(provider: str, folder: Path = THRESHOLDS_DIR) -> tuple[dict, Path]:
    """The provider's thresholds (empty when it has no file) and the file they come from."""
    path = folder / f"{provider}.json"
    try:
        return json.loads(path.read_text()), path
    except OSError:
        return {}, path
    except ValueError as exc:
        raise AssistantError(f"thresholds file {path} is not valid JSON: {exc}") from None


def check_thresholds(metrics: dict, thresholds: dict) -> list[str]:
    """Lines naming each metric that misses its threshold (empty when the gate passes)."""
    failures = []
    for name, limit in thresholds.items():
        if name.startswith(("_", HOSTILE_PREFIX)) or name == REFERENCE_ENGINE:
            continue  # notes; the hostile run is gated by check_hostile
        value = metrics.get(name)
        if value is None:
            failures.append(f"{name}: not measured (threshold {limit})")
        elif name in LOWER_IS_BETTER and value > limit:
            failures.append(f"{name}: {value} is above its threshold {limit}")
        elif name not in LOWER_IS_BETTER and value < limit:
            failures.append(f"{name}: {value} is under its threshold {limit}")
    return failures


def check_hostile(hostile: HostileReport, thresholds: dict) -> list[str]:
    """Gate lines for the hostile run: ``hostile_injection_rate_max`` caps the injection
    success rate, ``hostile_injection_change_rate_max`` the rate of answers the injections
    changed, and ``hostile_answer_change_rate_max`` (if set) the answer change rate."""
    failures = []
    for key, figure in HOSTILE_LIMITS:
        limit, value = thresholds.get(key), getattr(hostile, figure)
        if limit is not None and value is not None and value > limit:
            failures.append(f"hostile {figure}: {value} is above its threshold {limit}")
    return failures


def compare(results: Sequence[QuestionResult], metrics: dict, baseline: dict) -> dict:
    """What got worse against a baseline report (as read from its JSON): per-question
    outcomes and metric deltas."""
    before = {r["id"]: r for r in baseline.get("questions", [])}
    worse = []
    for result in results:
        old = before.get(result.id)
        if old is None:
            continue
        precision = result.citation_precision_gold if result.citation_precision_gold is not None else 1
        if (old["correct"] and not result.correct) or precision < old.get(
            "citation_precision_gold", 1
        ) - 1e-9:
            worse.append(
                {"id": result.id, "type": result.type, "before": old["answer"], "now": result.answer}
            )
    old_metrics = baseline.get("metrics", {})
    deltas = {
        name: round(metrics[name] - old_metrics[name], 4)
        for name in metrics
        if isinstance(metrics.get(name), (int, float)) and isinstance(old_metrics.get(name), (int, float))
    }
    return {"worse": worse, "deltas": deltas}


def read_baseline(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AssistantError(f"cannot read baseline report {path}: {exc}") from None
