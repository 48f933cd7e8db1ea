"""The eval suite: golden questions -> the real assistant -> metrics -> a gate -> reports.

One module per job: ``dataset`` (golden questions, splits, the corpus and its own index),
``metrics`` (scoring one answer, aggregating), ``gate`` (thresholds, checks, baseline),
``report`` (the report's data, its JSON and Markdown files), ``run`` (asking the questions,
and the ``eval`` command's whole flow) and ``hostile`` (the prompt-injection harness).
The terminal only renders what :func:`evaluate` returns.
"""

from .dataset import DEFAULT_DATASET
from .hostile import HostileReport
from .metrics import QuestionResult
from .report import EvalReport
from .run import EvalOptions, EvalOutcome, EvalProgress, evaluate

__all__ = [
    "DEFAULT_DATASET",
    "EvalOptions",
    "EvalOutcome",
    "EvalProgress",
    "EvalReport",
    "HostileReport",
    "QuestionResult",
    "evaluate",
]
