"""The eval machinery: scoring, aggregation, gate, baseline, repeats, and its own index."""

import json
from dataclasses import replace

import pytest

from assistant.errors import AssistantError
from assistant.evals.dataset import EvalQuestion, eval_settings, load_dataset, select_split
from assistant.evals.gate import (
    HIGHER_IS_BETTER,
    HOSTILE_LIMITS,
    LOWER_IS_BETTER,
    REFERENCE_ENGINE,
    THRESHOLDS_DIR,
    check_thresholds,
    compare,
    thresholds_for,
)
from assistant.evals.metrics import (
    QuestionResult,
    aggregate,
    at_reference_speed,
    engine_figures,
    score_answer,
    term_overlap,
)
from assistant.evals.report import markdown_report
from assistant.evals.run import run_eval, unstable
from assistant.models import Answer, AnswerSentence, Citation, Passage, Repairs
from assistant.providers import EngineWork

from ..conftest import SAMPLE, write

EVIDENCE = "Alibaba rejected the White House’s claims in a statement to FT."


def passage(text, source="a.txt"):
    return Passage("c-" + str(abs(hash(text)) % 1000), "a", 0, text, 0, len(text), "T", source, "/a", "h")


def answer(text, sentences, citations, refused=False):
    return Answer(
        "q",
        text,
        tuple(sentences),
        tuple(citations),
        refused,
        (),
        "p",
        "m",
        {"total_s": 1.0, "retrieve_s": 0.1},
        Repairs(),
    )


def question(kind="factoid", must=(("rejected", "denied"),), evidence=(EVIDENCE,)):
    return EvalQuestion(
        "q1", kind, "What did Alibaba deny?", "ref", must, ("a.txt",) if evidence else (), evidence
    )


def lexical_support(sentence, text):
    return term_overlap(sentence, text)


def test_correct_cited_answer_scores_full_marks():
    good = passage("Alibaba’s Response\n" + EVIDENCE)
    a = answer(
        "Alibaba rejected the White House’s claims [1].",
        [AnswerSentence("Alibaba rejected the White House’s claims.", (1,))],
        [Citation(1, good, EVIDENCE, 0, 10, 0.9)],
    )
    row = score_answer(question(), a, [good.text, "other"], lexical_support, 0.5)
    assert row.correct and row.retrieval_recall_at_k == 1.0 and row.mrr == 1.0
    assert row.citation_recall == row.citation_precision == 1.0
    assert row.citation_recall_gold == row.citation_precision_gold == 1.0


def test_wrong_chunk_citation_and_missing_fact_are_caught():
    wrong = passage("Lawmakers urged the SEC to delist 25 Chinese companies.")
    a = answer(
        "Alibaba rejected the claims [1].",
        [AnswerSentence("Alibaba rejected the claims.", (1,))],
        [Citation(1, wrong, "x", 0, 1, 0.6)],
    )
    row = score_answer(question(must=("White House",)), a, ["unrelated", wrong.text], lexical_support, 0.5)
    assert not row.correct and row.as_json()["missing"] == ["White House"]
    assert row.retrieval_recall_at_k == 0.0 and row.mrr == 0.0
    assert row.citation_precision_gold == 0.0 and row.citation_recall_gold == 0.0
    assert row.citation_recall == 0.0  # the verifier-judged score also sees no support


def test_refusals_and_false_refusals():
    refused = answer(
        "The articles do not say.", [AnswerSentence("The articles do not say.", (), False)], [], refused=True
    )
    unanswerable = score_answer(question("unanswerable", (), ()), refused, [], lexical_support, 0.5)
    assert unanswerable.correct and unanswerable.refusal_correct
    answerable = score_answer(question(), refused, [EVIDENCE], lexical_support, 0.5)
    assert answerable.false_refusal and not answerable.correct
    metrics = aggregate([unanswerable, answerable])
    assert (
        metrics["refusal_accuracy"] == 1.0
        and metrics["false_refusal_rate"] == 1.0
        and metrics["answer_correctness"] == 0.0
    )


def test_precision_alce_rule_extra_citation_is_imprecise():
    good, extra = passage(EVIDENCE), passage("The weather was sunny in Hangzhou.")
    a = answer(
        "Alibaba rejected the White House’s claims [1][2].",
        [AnswerSentence("Alibaba rejected the White House’s claims.", (1, 2))],
        [Citation(1, good, EVIDENCE, 0, 1, 0.9), Citation(2, extra, "x", 0, 1, 0.1)],
    )
    row = score_answer(question(), a, [good.text], lexical_support, 0.5)
    assert row.citation_recall == 1.0 and row.citation_precision == 0.5 and row.citation_precision_gold == 0.5


def test_gate_baseline_and_repeats():
    metrics = {"answer_correctness": 0.8, "false_refusal_rate": 0.1, "latency_total_p95_s": 3.0}
    assert (
        check_thresholds(metrics, {"answer_correctness": 0.8, "false_refusal_rate": 0.1, "_note": "x"}) == []
    )
    failures = check_thresholds(metrics, {"answer_correctness": 0.85, "false_refusal_rate": 0.05, "mrr": 0.5})
    assert [f.split(":")[0] for f in failures] == ["answer_correctness", "false_refusal_rate", "mrr"]
    rows = [QuestionResult(id="a", type="factoid", question="q", correct=False, refused=False, answer="now")]
    baseline = {
        "metrics": {"answer_correctness": 0.9},
        "questions": [{"id": "a", "correct": True, "answer": "before"}],
    }
    diff = compare(rows, {"answer_correctness": 0.8}, baseline)
    assert diff["worse"][0]["id"] == "a" and diff["deltas"] == {"answer_correctness": -0.1}
    same = QuestionResult(id="a", type="factoid", question="q", correct=True, refused=False, answer="x")
    assert unstable([[same], [replace(same)]]) == []
    assert unstable([[same], [replace(same, answer="y")]])[0]["id"] == "a"


def test_latency_is_gated_at_the_reference_machine_speed_not_this_machines():
    reference = {"read_tokens_per_s": 60.0, "written_tokens_per_s": 12.0}
    limit = {"latency_total_p95_at_reference_s": 12.0, "reference_engine": reference}
    work = EngineWork().plus(
        {"prompt_n": 600, "prompt_ms": 10_000, "predicted_n": 120, "predicted_ms": 10_000}
    )
    assert work == EngineWork(600, 10.0, 120, 10.0) and work.seconds_at(60.0, 12.0) == 20.0
    # The same work on a machine three times slower: 30 s where the reference took 10.
    slow = EngineWork(600, 30.0, 120, 30.0)
    metrics = {"latency_total_p95_s": 33.0, **engine_figures(slow)}
    scaled = at_reference_speed(metrics, reference)
    assert scaled["machine_slowdown"] == 3.0 and scaled["latency_total_p95_at_reference_s"] == 11.0
    assert scaled["engine_read_tokens_per_s"] == 20.0 and scaled["engine_written_tokens_per_s"] == 4.0
    assert check_thresholds(scaled, limit) == []  # the gate skips the reference entry itself
    # Slower code on the reference machine (more tokens read per answer) still fails.
    more = EngineWork(1200, 20.0, 120, 10.0)
    worse = at_reference_speed({"latency_total_p95_s": 15.0, **engine_figures(more)}, reference)
    assert worse["machine_slowdown"] == 1.0
    assert [f.split(":")[0] for f in check_thresholds(worse, limit)] == ["latency_total_p95_at_reference_s"]
    # No engine speeds (a provider with no engine) or no reference: nothing is added.
    assert at_reference_speed({"latency_total_p95_s": 1.0}, reference) == {"latency_total_p95_s": 1.0}
    assert at_reference_speed(metrics, None) == metrics and engine_figures(None) == {}


@pytest.mark.parametrize("path", sorted(THRESHOLDS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_each_committed_threshold_names_a_metric_the_gate_knows(path):
    """A misspelt metric would fail the gate only at the end of a 30-minute eval ("not
    measured"); a latency gated at the reference speed needs that speed named."""
    thresholds, _ = thresholds_for(path.stem, path.parent)
    known = {*HIGHER_IS_BETTER, *LOWER_IS_BETTER, *(key for key, _ in HOSTILE_LIMITS), REFERENCE_ENGINE}
    gated = [name for name in thresholds if not name.startswith("_")]
    assert [name for name in gated if name not in known] == []
    if any(name.endswith("_at_reference_s") for name in gated):
        reference = thresholds[REFERENCE_ENGINE]
        assert reference["read_tokens_per_s"] > 0 and reference["written_tokens_per_s"] > 0


def test_dataset_errors_are_one_line(tmp_path):
    bad = write(tmp_path / "d.jsonl", '{"id": "x"}\n')
    with pytest.raises(AssistantError, match="line 1"):
        load_dataset(bad)
    wrong_type = write(
        tmp_path / "t.jsonl",
        json.dumps(
            {
                "id": "x",
                "type": "riddle",
                "question": "q",
                "answer": "a",
                "must_include": [],
                "sources": [],
                "evidence": [],
            }
        ),
    )
    with pytest.raises(AssistantError, match="unknown type"):
        load_dataset(wrong_type)


def test_run_eval_uses_its_own_reusable_index(tmp_path, settings):
    data = tmp_path / "ev"
    write(
        data / "corpus" / "port.txt",
        "Port strike ends\n"
        "Dock workers ended a nine-day strike after the port authority said 120 ships were delayed.\n",
    )
    rows = [
        {
            "id": "a",
            "type": "numeric",
            "question": "How many ships were delayed?",
            "answer": "120",
            "must_include": ["120"],
            "sources": ["port.txt"],
            "evidence": [
                "Dock workers ended a nine-day strike after the port authority said 120 ships were delayed."
            ],
        },
        {
            "id": "b",
            "type": "follow-up",
            "question": "Did it comment on that?",
            "answer": "It declined.",
            "must_include": ["declined"],
            "sources": [SAMPLE.name],
            "evidence": [
                "However, the company declined to comment on whether it has ever maintained "
                "a relationship with the PLA."
            ],
            "history": [{"question": "What did Alibaba deny?", "answer": "The claims."}],
        },
        {
            "id": "c",
            "type": "unanswerable",
            "question": "What is Alibaba's current stock price?",
            "answer": "The articles do not say.",
            "must_include": [],
            "sources": [],
            "evidence": [],
        },
    ]
    write(data / "golden.jsonl", "\n".join(json.dumps(r) for r in rows))
    report = run_eval(settings, data / "golden.jsonl", "extractive", repeat=2)
    assert not settings.index_dir.exists()  # the user's index is never touched
    folders = list((settings.cache_dir / "eval-index").iterdir())
    assert len(folders) == 1 and folders[0].name == report.corpus_fingerprint
    assert report.questions[1].standalone_question.startswith("Did Alibaba comment")
    assert report.questions[0].correct and report.questions[2].correct
    assert report.unstable == ()  # extractive is deterministic
    assert set(report.metrics) >= {
        "retrieval_recall_at_k",
        "mrr",
        "answer_correctness",
        "citation_recall",
        "citation_precision",
        "refusal_accuracy",
        "false_refusal_rate",
        "latency_total_p95_s",
    }
    again = run_eval(settings, data / "golden.jsonl", "extractive")
    assert again.corpus_fingerprint == report.corpus_fingerprint
    assert len(list((settings.cache_dir / "eval-index").iterdir())) == 1
    md = markdown_report(replace(report, thresholds={}, gate_failures=()))
    assert "| answer correctness |" in md and "Gate passed." in md


def test_eval_index_is_per_checkout(tmp_path, settings):
    """The same corpus at another path gets its own eval index, never second copies."""
    first = write(tmp_path / "one" / "corpus" / "a.txt", "Title\nSome text about ports.")
    second = write(tmp_path / "two" / "corpus" / "a.txt", "Title\nSome text about ports.")
    _, key_one = eval_settings(settings, [first])
    _, key_two = eval_settings(settings, [second])
    assert key_one != key_two
    assert eval_settings(settings, [first])[1] == key_one


def test_a_split_asks_only_its_questions_and_reports_each_split(tmp_path, settings):
    data = tmp_path / "ev"
    write(
        data / "corpus" / "port.txt",
        "Port strike ends\n"
        "Dock workers ended a nine-day strike after the port authority said 120 ships were delayed.\n",
    )
    write(
        data / "corpus" / "ferry.md",
        "---\ntitle: Ferry fares rise\ndate: 2026-05-02\n---\n"
        "The ferry company raised fares by 8 percent in May.\n",
    )
    evidence = "Dock workers ended a nine-day strike after the port authority said 120 ships were delayed."
    rows = [
        {
            "id": "a",
            "type": "numeric",
            "split": "dev",
            "question": "How many ships were delayed?",
            "answer": "120",
            "must_include": ["120"],
            "sources": ["port.txt"],
            "evidence": [evidence],
        },
        {
            "id": "b",
            "type": "numeric",
            "split": "test",
            "question": "By how much did ferry fares rise?",
            "answer": "8 percent",
            "must_include": ["8 percent"],
            "sources": ["ferry.md"],
            "evidence": ["The ferry company raised fares by 8 percent in May."],
        },
        {
            "id": "c",
            "type": "unanswerable",
            "split": "test",
            "question": "What is Alibaba's current stock price?",
            "answer": "The articles do not say.",
            "must_include": [],
            "sources": [],
            "evidence": [],
        },
    ]
    write(data / "golden.jsonl", "\n".join(json.dumps(r) for r in rows))
    dev = run_eval(settings, data / "golden.jsonl", "extractive", split="dev")
    assert [q.id for q in dev.questions] == ["a"] and dev.split == "dev" and set(dev.by_split) == {"dev"}
    everything = run_eval(settings, data / "golden.jsonl", "extractive")
    assert everything.split == "all" and everything.by_split["test"]["metrics"]["questions"] == 2
    assert everything.questions[1].correct  # the .md article is part of the corpus
    md = markdown_report(replace(everything, thresholds={}, gate_failures=()))
    assert "## The test split (2 questions)" in md
    with pytest.raises(AssistantError, match="no 'test' questions"):
        select_split(load_dataset(data / "golden.jsonl")[:1], "test")
    write(data / "bad.jsonl", json.dumps({**rows[0], "split": "train"}))
    with pytest.raises(AssistantError, match="unknown split 'train'"):
        load_dataset(data / "bad.jsonl")
