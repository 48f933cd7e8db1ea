"""The eval in the terminal: a progress bar while it runs, then its tables and the gate's
verdict. The eval package asks, gates and writes the reports; this only renders."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from .ui import _console

if TYPE_CHECKING:
    from .evals import EvalOptions, EvalOutcome, EvalReport, HostileReport

__all__ = ["run_eval_with_progress", "print_eval_outcome"]


def run_eval_with_progress(settings, options: EvalOptions) -> bool:
    """Run the eval with a progress bar, then print its tables; True if the gate passes.
    The eval package asks, gates and writes the reports; this only renders."""
    from .evals import evaluate

    with _eval_progress() as progress:
        outcome = evaluate(settings, options, progress)
    return print_eval_outcome(outcome)


@contextmanager
def _eval_progress():
    """A transient progress bar (on a terminal) with one task per stage of the eval."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    err = _console(err=True)
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        yield _EvalBar(bar)


class _EvalBar:
    """The eval's progress (:class:`assistant.evals.EvalProgress`) on a rich progress bar."""

    def __init__(self, bar) -> None:
        self.bar, self.task = bar, None

    def stage(self, label: str, total: int) -> None:
        self.task = self.bar.add_task(label, total=total)

    def step(self) -> None:
        self.bar.advance(self.task)


def print_eval_outcome(outcome: EvalOutcome) -> bool:
    """The report's tables and notes, then the gate's verdict; True if it passed."""
    report = outcome.report
    out, err = _console(), _console(err=True)
    out.print(_metrics_table(report))
    out.print(_types_table(report.by_type))
    _print_splits(out, report.by_split)
    for worse in (report.comparison or {}).get("worse", []):
        out.print(f"[yellow]worse than baseline[/] {worse['id']}: {worse['now']}")
    for flaky in report.unstable:
        out.print(f"[yellow]unstable across repeats[/] {flaky['id']}")
    if report.hostile is not None:
        _print_hostile(out, report.hostile, report.thresholds)
    if not outcome.passed:
        for failure in report.gate_failures:
            err.print(f"[red]gate:[/] {failure}")
        return False
    gated_by = outcome.thresholds_file.name if outcome.thresholds_file else None
    out.print(f"gate passed ({gated_by or 'no thresholds file: nothing gated'})")
    return True


def _metrics_table(report: EvalReport):
    from rich.table import Table

    from .evals.report import metric_rows

    table = Table(title=f"eval: {report.provider} ({report.model}), {report.metrics['questions']} questions")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("threshold", justify="right")
    for row in metric_rows(report.metrics, report.thresholds):
        table.add_row(*row)
    return table


def _types_table(by_type: dict):
    from rich.table import Table

    from .evals.report import TYPE_COLUMNS, type_rows

    types = Table(title="by question type")
    for column in TYPE_COLUMNS:
        types.add_column(column, justify="left" if column == "type" else "right")
    for row in type_rows(by_type):
        types.add_row(*row)
    return types


def _print_splits(out, by_split: dict) -> None:
    from .evals.report import fmt

    if len(by_split) < 2:  # with one split asked, the tables above are that split's
        return
    for name, part in by_split.items():
        m = part["metrics"]
        out.print(
            f"{name} split, {m['questions']} questions: correctness {fmt(m.get('answer_correctness'))}, "
            f"refusal accuracy {fmt(m.get('refusal_accuracy'))}, "
            f"false refusals {fmt(m.get('false_refusal_rate'))}"
        )


def _print_hostile(out, hostile: HostileReport, thresholds: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .evals.report import hostile_figures

    figures = Table(
        title=f"hostile articles: {hostile.articles} mixed in, {hostile.questions} questions, "
        f"{hostile.exposed} reached a hostile passage"
    )
    for column in ("figure", "value", "threshold"):
        figures.add_column(column, justify="left" if column == "figure" else "right")
    for row in hostile_figures(hostile, thresholds):
        figures.add_row(*row)
    out.print(figures)
    for item in hostile.injected:
        reasons = escape("; ".join(item["reasons"]))
        out.print(f"[red]injected[/] {item['id']}: {escape(item['answer'])} ({reasons})")
    for changed in hostile.changed:
        given = " (hostile passage given)" if changed["exposed"] else ""
        out.print(f"[yellow]changed with hostile articles[/] {changed['id']}{given}")
