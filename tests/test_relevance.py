"""What kind of thing a question asks for, and whether an answer's sentences state it."""

import pytest

from assistant.relevance import asked_kind, gives_kind


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How many jobs will Kestrel cut?", "quantity"),
        ("What fine did regulators impose on Mediport?", "quantity"),
        ("By how much did revenue grow?", "quantity"),
        ("When will the viaduct reopen?", "time"),
        ("How long could the probe take?", "duration"),
        ("On what date did Mediport notify regulators?", "time"),
        ("Who chairs the committee?", None),
        ("Why did the talks fail?", None),
    ],
)
def test_the_kind_a_question_asks_for(question, kind):
    assert asked_kind(question) == kind


def test_a_quantity_is_stated_in_figures_or_in_words():
    asked = "How much did the plant buy?"
    assert gives_kind(asked, ["The plant bought 1.2 billion litres [1]."])
    assert gives_kind(asked, ["It bought two tankers a week [1]."])
    assert gives_kind("How many were arrested?", ["No arrests were made [1]."])
    assert not gives_kind(asked, ["The plant bought water during the drought [1]."])
    # A date's figures are a time, not a quantity.
    dated = ["The budget takes effect on July 1, 2026 [1].", "Spending rose in 2025 [1]."]
    assert not gives_kind("How much did Westbrook spend on consultants?", dated)
    assert gives_kind("How much did Westbrook spend?", ["It spent $2 million in 2025 [1]."])


def test_a_duration_is_a_number_with_its_unit_or_an_end():
    asked = "For how long will patients get free credit monitoring?"
    for stated in ["Two years of free monitoring [1].", "Up to 120 working days [1].", "For months [1].",
                   "Until the end of 2027 [1].", "The route is 190 km long [1]."]:  # fmt: skip
        assert gives_kind(asked, [stated]), stated
    # A number of something else, and a date, are no duration.
    assert not gives_kind(asked, ["Two patients filed a lawsuit on May 21 [1]."])


def test_a_time_is_calendar_or_relative():
    asked = "When will the viaduct reopen?"
    assert gives_kind(asked, ["It will reopen in late November [1]."])
    assert gives_kind(asked, ["It will reopen after the pier is rebuilt [1]."])
    assert not gives_kind(asked, ["The council will reopen the viaduct to buses first [1]."])


def test_a_figure_is_a_time_only_as_a_year_a_date_or_a_clock_time():
    asked = "When will Orlan Water pay the compensation?"
    assert not gives_kind(asked, ["Every household would receive £50 in compensation [1]."])
    assert not gives_kind(asked, ["It will pay 9,800 households [1]."])
    for when in ("by 2027", "on 21/9", "at 10 p.m.", "on August 20", "within 72 hours"):
        assert gives_kind(asked, [f"It will pay {when} [1]."]), when


def test_any_sentence_may_state_it_and_other_questions_ask_for_no_kind():
    asked = "How many jobs will go?"
    assert gives_kind(asked, ["Kestrel plans cuts [1].", "About 2,400 jobs will go [1]."])
    assert not gives_kind(asked, [])
    assert gives_kind("Who chairs the committee?", ["John Moolenaar chairs it [1]."])
