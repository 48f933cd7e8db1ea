"""The citation verifier against adversarial model output.

Parser tests are pure. Verifier tests use the real MiniLM embedder (through a small
per-text cache, so repeated passage sentences are embedded once) and passages cut from
the sample article, or tiny hand-made passages where the exact text matters.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.chunking import chunk_article
from assistant.citations import REFUSAL_TEXT, is_refusal, parse_answer, verify
from assistant.models import AnswerSentence, Article, Passage

from .conftest import REPO, SAMPLE

# -- helpers ----------------------------------------------------------------------------
SHOWN_MARKER = re.compile(r"\[\s*(\d+)\s*\]")

# Sentences as the sample article states them (the apostrophe in the article is ’).
FT_MEMO = "The memo was shared with the Financial Times."
REJECTED = "Alibaba rejected the White House's claims in a statement to FT."
DELIST_25 = "In May, US lawmakers including Moolenaar urged the SEC to delist 25 Chinese companies."
STOCK_PRICE = "Alibaba's stock fell 4.2% to $81.50 after the memo was published."
INVENTED_YEAR = "Alibaba rejected the White House's claims in a statement to FT in 2019."


@lru_cache(maxsize=1)
def sample_article() -> Article:
    text = SAMPLE.read_text(encoding="utf-8").rstrip()
    return Article("alibaba", text.split("\n")[0], text, SAMPLE.name, str(SAMPLE), "0123456789abcdef")


@lru_cache(maxsize=1)
def _sample_passages() -> tuple[Passage, ...]:
    return tuple(chunk_article(sample_article()))


def sample_passages() -> list[Passage]:
    passages = list(_sample_passages())
    assert len(passages) >= 3, "the tests below need the sample article cut into at least 3 passages"
    return passages


def passage_number(passages: list[Passage], snippet: str) -> int:
    """1-based number of the only passage holding ``snippet``."""
    holders = [n for n, p in enumerate(passages, 1) if snippet in p.text]
    assert len(holders) == 1, f"{snippet!r} is in passages {holders}"
    return holders[0]


def other_passage(passages: list[Passage], snippet: str) -> int:
    """A passage number (1-based) that does not hold ``snippet``."""
    return next(n for n, p in enumerate(passages, 1) if snippet not in p.text)


def passages_from(text: str, article_id: str = "made") -> list[Passage]:
    """One passage per blank-line separated block of ``text``, with exact offsets."""
    passages, cursor = [], 0
    for position, block in enumerate(text.split("\n\n")):
        start = text.index(block, cursor)
        end = start + len(block)
        passages.append(
            Passage(
                f"{article_id}-{position}",
                article_id,
                position,
                block,
                start,
                end,
                "t",
                "t.txt",
                "/t.txt",
                "h",
            )
        )
        cursor = end
    assert all(text[p.start : p.end] == p.text for p in passages)
    return passages


def shown_numbers(text: str) -> list[int]:
    return [int(n) for n in SHOWN_MARKER.findall(text)]


def passage_index(passages, passage) -> int:
    """0-based index of ``passage`` among ``passages`` by identity (never an equal copy)."""
    matches = [i for i, p in enumerate(passages) if p is passage]
    assert matches, f"citation points at a passage that was not given: {passage.chunk_id}"
    return matches[0]


def assert_well_formed(v, passages, article_text: str | None = None) -> None:
    """Invariants every verified answer must keep, whatever the model wrote."""
    numbers = [c.n for c in v.citations]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    for c in v.citations:
        p = passages[passage_index(passages, c.passage)]
        assert c.quote and c.quote in p.text
        assert p.start <= c.quote_start < c.quote_end <= p.end
        assert p.text[c.quote_start - p.start : c.quote_end - p.start] == c.quote
        if article_text is not None:
            assert article_text[c.quote_start : c.quote_end] == c.quote
    # No invented citations: what the text shows is exactly what .citations holds.
    assert set(shown_numbers(v.text)) == set(numbers), (v.text, numbers)
    for s in v.sentences:
        assert set(s.citations) <= set(numbers)
        assert len(s.quotes) == len(s.citations)
        if not s.factual:
            assert s.citations == ()
    if v.refused:
        assert v.text == REFUSAL_TEXT and v.citations == ()


@pytest.fixture(scope="module")
def embed(embeddings):
    """``embeddings.embed_array`` with a per-text cache: same vectors, fewer model runs."""
    cache: dict[str, np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            cache.update(zip(missing, embeddings.embed_array(missing)))
        if not texts:
            return np.zeros((0, embeddings.dimension), dtype=np.float32)
        return np.stack([cache[t] for t in texts])

    return cached


@pytest.fixture
def check(embed):
    """verify() against the sample passages (or given ones), invariants checked."""

    def run(raw: str, passages: list[Passage] | None = None, article_text: str | None = None, **kw):
        if passages is None:
            passages, article_text = sample_passages(), sample_article().text
        v = verify(raw, passages, embed, **kw)
        assert_well_formed(v, passages, article_text)
        return v

    return run


def parsed(raw: str) -> list[tuple[str, tuple[int, ...]]]:
    return [(s.text, s.markers) for s in parse_answer(raw)]


# -- parser -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, markers",
    [
        ("Alibaba denies it [1].", (1,)),
        ("Alibaba denies it [1][2].", (1, 2)),
        ("Alibaba denies it [1, 2].", (1, 2)),
        ("Alibaba denies it [1,2].", (1, 2)),
        ("Alibaba denies it [1-3].", (1, 2, 3)),
        ("Alibaba denies it [Passage 2].", (2,)),
        ("Alibaba denies it.[1]", (1,)),
        ("Alibaba denies it. [1]", (1,)),
        ("Alibaba denies it [1][1].", (1,)),
    ],
    ids=[
        "single",
        "adjacent",
        "comma-space",
        "comma",
        "range",
        "passage-word",
        "after-period",
        "after-period-space",
        "dup",
    ],
)
def test_marker_forms(raw, markers):
    assert parsed(raw) == [("Alibaba denies it.", markers)]


def test_marker_after_period_belongs_to_the_sentence_before_it():
    assert parsed("Alibaba denies it. [1] The memo is declassified. [2]") == [
        ("Alibaba denies it.", (1,)),
        ("The memo is declassified.", (2,)),
    ]


def test_sentence_of_only_markers_cites_the_previous_sentence():
    assert parsed("Alibaba denies it [1]. The memo is declassified.\n[2][3]") == [
        ("Alibaba denies it.", (1,)),
        ("The memo is declassified.", (2, 3)),
    ]


def test_duplicates_across_forms_collapse_in_order():
    assert parsed("Alibaba denies it [2][1, 2][Passage 1].") == [("Alibaba denies it.", (2, 1))]


def test_prompt_passage_tags_copied_into_an_answer_are_markers():
    assert parsed("Alibaba denies it <passage 2>. The memo is declassified </passage 1>.") == [
        ("Alibaba denies it.", (2,)),
        ("The memo is declassified.", (1,)),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "Alibaba denies it, according to the passage.",
        "According to the passages, Alibaba denies it.",
        "As stated in the text, Alibaba denies it [1].",
        "According to the passage in <passage 1>, Alibaba denies it.",
        "Alibaba denies it, as mentioned in the given passages [1].",
    ],
)
def test_a_pointer_at_the_passages_is_left_out_of_the_sentence(raw):
    assert [text for text, _ in parsed(raw)] == ["Alibaba denies it."]


def test_a_source_the_article_names_is_not_a_pointer():
    raw = (
        "Pipes were cut during maintenance, according to the report. "
        "In the text of its filing, Alibaba denies it."
    )
    assert [text for text, _ in parsed(raw)] == [
        "Pipes were cut during maintenance, according to the report.",
        "In the text of its filing, Alibaba denies it.",
    ]


def test_a_right_sentence_pointing_at_the_passage_keeps_its_support(check):
    v = check("Alibaba rejected the claims, according to the passage in <passage 1>.")
    assert not v.refused and v.text.startswith("Alibaba rejected the claims [")


def test_trailing_sources_section_is_ignored():
    raw = (
        "Alibaba denies it [1]. The memo is declassified [2].\n\n"
        "Sources:\n[1] Financial Times\n[3] Reuters, 2019"
    )
    assert parsed(raw) == [("Alibaba denies it.", (1,)), ("The memo is declassified.", (2,))]


def test_abbreviations_do_not_split_sentences():
    raw = "The U.S. Commerce Department accused Alibaba [1]. Rep. Moolenaar agreed [2]."
    assert parsed(raw) == [
        ("The U.S. Commerce Department accused Alibaba.", (1,)),
        ("Rep. Moolenaar agreed.", (2,)),
    ]


@pytest.mark.parametrize(
    "raw", ["", "   \n ", "[][[]]", "[[[[", "]]]", "[1]", "[1][2][3]", "[,]", "[-]", "[ ]"]
)
def test_garbage_without_words_parses_to_nothing(raw):
    assert parse_answer(raw) == []


def test_huge_marker_is_parsed_and_never_shown():
    # Any bracketed number is taken as a marker; out-of-range ones are dropped by the verifier.
    assert parsed("Alibaba denies it [999999].") == [("Alibaba denies it.", (999999,))]


def test_unicode_survives_parsing():
    out = parsed("阿里巴巴否认指控 [1]。 Ünïcödé ✓ claims 🙂 [2].")
    assert [markers for _, markers in out] == [(1, 2)]
    assert "阿里巴巴否认指控" in out[0][0] and "🙂" in out[0][0] and "[" not in out[0][0]


@given(st.text())
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_parse_never_raises(raw):
    for s in parse_answer(raw):
        assert re.search(r"\w", s.text)
        assert len(set(s.markers)) == len(s.markers)
        assert all(isinstance(n, int) and 0 <= n <= 999 for n in s.markers)


# -- verifier: markers --------------------------------------------------------------------
def test_correct_marker_is_kept(check):
    passages = sample_passages()
    n = passage_number(passages, "Alibaba rejected the White House")
    v = check(f"{REJECTED[:-1]} [{n}].")
    assert v.repairs.kept == 1 and v.repairs.moved == v.repairs.added == v.repairs.dropped == 0
    assert v.text == f"{REJECTED[:-1]} [1]."
    assert v.citations[0].passage is passages[n - 1]


def test_sentence_without_marker_gets_its_supporting_passage(check):
    v = check(FT_MEMO)
    assert v.repairs.added == 1 and v.repairs.unsupported_sentences == 0
    assert v.text == "The memo was shared with the Financial Times [1]."
    assert "shared with the Financial Times" in v.citations[0].passage.text


def test_out_of_range_marker_is_never_shown(check):
    v = check("The memo was shared with the Financial Times [7].")
    assert "[7]" not in v.text
    assert v.repairs.moved + v.repairs.dropped == 1 and v.repairs.kept == 0
    assert shown_numbers(v.text) == [1]
    assert "shared with the Financial Times" in v.citations[0].passage.text


@pytest.mark.parametrize("marker", ["[0]", "[999]", "[Passage 12]", "[4-6]"])
def test_markers_to_passages_that_do_not_exist_are_not_shown(check, marker):
    v = check(f"{FT_MEMO[:-1]} {marker}.")
    assert shown_numbers(v.text) == [1] and len(v.citations) == 1


def test_marker_on_the_wrong_passage_is_moved_to_the_one_that_says_it(check):
    passages = sample_passages()
    wrong = other_passage(passages, "Alibaba rejected the White House")
    v = check(f"{REJECTED[:-1]} [{wrong}].")
    assert v.repairs.moved == 1 and v.repairs.kept == 0
    (citation,) = v.citations
    assert "Alibaba rejected the White House’s claims in a statement to FT." in citation.passage.text
    assert "Alibaba rejected the White House’s claims" in citation.quote


def test_one_right_and_one_wrong_marker_keeps_only_the_right_one(check):
    passages = sample_passages()
    right = passage_number(passages, "Alibaba rejected the White House")
    wrong = other_passage(passages, "Alibaba rejected the White House")
    v = check(f"{REJECTED[:-1]} [{wrong}][{right}].")
    assert (v.repairs.kept, v.repairs.dropped, v.repairs.moved) == (1, 1, 0)
    assert [passage_index(passages, c.passage) + 1 for c in v.citations] == [right]


# -- verifier: unsupported sentences and refusals ----------------------------------------
@pytest.mark.parametrize("invented", [STOCK_PRICE, INVENTED_YEAR], ids=["stock-price", "year"])
def test_unsupported_sentence_is_removed_and_counted(check, invented):
    v = check(f"{REJECTED[:-1]} [2]. {invented[:-1]} [2].")
    assert v.repairs.unsupported_sentences == 1
    assert not v.refused
    assert invented[:-1] not in v.text and "81.50" not in v.text and "2019" not in v.text
    assert [s.text for s in v.sentences] == [REJECTED]


def test_answer_with_nothing_supported_is_refused(check):
    v = check(f"{STOCK_PRICE[:-1]} [1]. {INVENTED_YEAR[:-1]} [3]. Jack Ma resigned over the memo [2].")
    assert v.refused and v.text == REFUSAL_TEXT and v.citations == ()
    assert v.repairs.unsupported_sentences == 3


@pytest.mark.parametrize("raw", ["The articles do not say.", "The passages do not mention the stock price."])
def test_refusal_answers_are_refused(check, raw):
    assert is_refusal(raw)
    v = check(raw)
    assert v.refused and v.text == REFUSAL_TEXT
    assert v.repairs.unsupported_sentences == 0


def test_refusal_with_markers_does_not_cite(check):
    v = check("The passages do not mention the stock price [1][2].")
    assert v.refused and v.citations == () and v.repairs.dropped == 2


def test_non_factual_lead_in_keeps_no_citation(check):
    v = check(f"Certainly! {FT_MEMO[:-1]} [1].")
    lead, claim = v.sentences
    assert lead == AnswerSentence("Certainly!", (), factual=False)
    assert claim.citations == (1,) and claim.factual
    assert v.repairs.unsupported_sentences == 0
    assert v.text.startswith("Certainly! The memo")


@pytest.mark.parametrize("separator", [":\n", ". "], ids=["colon-newline", "period"])
def test_here_is_what_i_found_lead_in(check, separator):
    v = check(f"Here is what I found{separator}{FT_MEMO[:-1]} [1].")
    assert v.sentences[0].text.startswith("Here is what I found")
    assert v.sentences[0].citations == () and not v.sentences[0].factual
    assert v.repairs.unsupported_sentences == 0


# -- verifier: numbers ----------------------------------------------------------------------
def test_number_the_passage_states_is_supported(check):
    v = check(f"{DELIST_25[:-1]} [3].")
    assert not v.refused and v.repairs.unsupported_sentences == 0
    assert "25" in v.citations[0].quote


@pytest.mark.parametrize("wrong", ["30", "250", "2.5"])
def test_number_the_passage_does_not_state_is_not_supported(check, wrong):
    v = check(f"{REJECTED[:-1]} [2]. {DELIST_25[:-1].replace('25', wrong)} [3].")
    assert v.repairs.unsupported_sentences == 1
    assert wrong not in v.text
    assert [s.text for s in v.sentences] == [REJECTED]


def test_number_mismatch_is_unsupported_at_any_threshold(check):
    v = check(f"{DELIST_25[:-1].replace('25', '30')} [3].", threshold=0.45)
    assert v.refused and "30" not in v.text


# -- verifier: quotes and numbering -----------------------------------------------------------
def test_quotes_are_exact_spans_of_the_article(check):
    article = sample_article().text
    v = check(f"{FT_MEMO[:-1]} [1]. {REJECTED[:-1]} [2]. {DELIST_25[:-1]} [3].")
    assert len(v.citations) == 3
    for c in v.citations:
        assert article[c.quote_start : c.quote_end] == c.quote
        assert c.quote in c.passage.text
    assert "Alibaba rejected the White House’s claims in a statement to FT." in v.citations[1].quote
    assert "delist 25 Chinese companies" in v.citations[2].quote


def test_citations_are_numbered_by_first_appearance(check):
    passages = sample_passages()
    late = passage_number(passages, "delist 25")
    early = passage_number(passages, "shared with the Financial Times")
    assert late > early
    v = check(
        f"{DELIST_25[:-1]} [{late}]. {FT_MEMO[:-1]} [{early}]. "
        f"Moolenaar urged the SEC to delist Alibaba [{late}]."
    )
    assert shown_numbers(v.text) == [1, 2, 1]
    assert passage_index(passages, v.citations[0].passage) + 1 == late
    assert passage_index(passages, v.citations[1].passage) + 1 == early


def test_list_answer_quotes_the_whole_list(check):
    v = check(
        "According to the memo, Alibaba allegedly gives the PLA access to IP addresses, "
        "WiFi information and payment records [1]."
    )
    (citation,) = v.citations
    assert "Payment records" in citation.quote and "IP addresses" in citation.quote
    assert v.text.endswith("payment records [1].")


def test_a_quote_ending_in_a_colon_carries_the_list_it_introduces(check):
    """The local model copied the line that introduces the list: that line alone scores
    best, but a quote of "...including:" would not show the user the items the answer
    names. The quote runs on over the list items, and stops where the list does."""
    v = check(
        "According to the declassified intelligence, Alibaba allegedly provides the Chinese government "
        "and PLA with access to extensive customer data including IP addresses, WiFi information, "
        "and payment records [1].",
        question="What data does Alibaba allegedly give the PLA?",
    )
    (citation,) = v.citations
    assert citation.quote.startswith("According to the declassified intelligence")
    assert citation.quote.endswith("including:\n- IP addresses\n- WiFi information\n- Payment records")
    assert v.sentences[0].quotes == (citation.quote,)


def test_a_colon_without_a_list_after_it_is_quoted_as_it_is(check):
    passages = passages_from(
        "Harbour report\nThe harbour master gave one reason for the closure: the storm.\n"
        "The port will reopen on Monday, officials said:\nThe ferries will run again from Tuesday."
    )
    v = check("Officials said the port will reopen on Monday [1].", passages)
    assert v.citations[0].quote == "The port will reopen on Monday, officials said:"


# -- citations forged inside article text --------------------------------------------------------
FORGED = (
    "Council approves bike lanes\n"
    "The city council approved 4 million dollars for new bike lanes on Tuesday [2]. Sources: [1]\n"
    "\n"
    "The parks department will hire twelve new gardeners next spring.\n"
    "\n"
    "The library will extend its weekend opening hours from June."
)


def test_markers_copied_from_article_text_are_verified_like_any_other(check):
    passages = passages_from(FORGED)
    v = check(
        "The city council approved 4 million dollars for new bike lanes on Tuesday [2]. Sources: [1]",
        passages,
        FORGED,
    )
    assert shown_numbers(v.text) == [1]
    (citation,) = v.citations
    assert citation.passage is passages[0]
    # "Sources: [1]" cites the sentence before it: [1] is right and kept, the copied [2] dropped.
    assert v.repairs.kept == 1 and v.repairs.dropped == 1 and v.repairs.moved == 0


def test_markers_inside_a_passage_do_not_become_citations(check):
    passages = passages_from(FORGED)
    v = check(
        "The council approved money for bike lanes. The library will open longer on weekends.",
        passages,
        FORGED,
    )
    assert shown_numbers(v.text) == [1, 2]
    assert [passage_index(passages, c.passage) for c in v.citations] == [0, 2]
    assert v.repairs.added == 2


def test_forged_marker_in_passage_does_not_back_a_number(check):
    v = check("The city council approved 2 bike lane projects on Tuesday.", passages_from(FORGED), FORGED)
    assert v.refused


# -- verifier: known holes ------------------------------------------------------------------------
def test_refusal_phrase_does_not_smuggle_an_unverified_claim(check):
    v = check(f"{REJECTED[:-1]} [2]. The articles do not say why, but {STOCK_PRICE[:-1]} [2].")
    assert "81.50" not in v.text


def test_factual_sentence_mentioning_text_is_not_a_refusal(check):
    v = check("The memo's text does not specify PLA targets in the US [3].")
    assert not v.refused


@pytest.mark.parametrize(
    "raw",
    [
        f"{DELIST_25[:-1]} [[3]25].",
        f"{REJECTED[:-1]} [2]. The articles do not say [1000].",
    ],
    ids=["nested", "in-refusal-sentence"],
)
def test_leftover_marker_text_is_not_shown(check, raw):
    check(raw)  # assert_well_formed compares shown numbers with .citations


def test_bullet_answer_keeps_one_citation_per_line(check):
    v = check(
        "- The memo was shared with the Financial Times [1]\n"
        "- Alibaba rejected the White House's claims in a statement to FT [2]"
    )
    assert len(v.sentences) == 2
    assert [s.citations for s in v.sentences] == [(1,), (2,)]


# -- properties -----------------------------------------------------------------------------------
SUPPORTED = [
    FT_MEMO,
    REJECTED,
    DELIST_25,
    "The company is also accused of supplying AI-related services to the military.",
]
INVENTED = [STOCK_PRICE, INVENTED_YEAR, "Jack Ma personally approved the PLA contract."]
NOISE = ["Certainly!", "Here is what I found:", "\n", "\n\nSources:\n[1] FT\n", "U.S.", "e.g.", "[][[]]",
         "[999999]", "阿里巴巴 🙂", "—", "...", "?!"]  # fmt: skip

marker_text = st.one_of(
    st.integers(0, 12).map(lambda n: f"[{n}]"),
    st.tuples(st.integers(0, 12), st.integers(0, 12)).map(lambda ab: f"[{ab[0]}, {ab[1]}]"),
    st.tuples(st.integers(0, 12), st.integers(0, 12)).map(lambda ab: f"[{ab[0]}-{ab[1]}]"),
    st.integers(0, 12).map(lambda n: f"[Passage {n}]"),
)
fragment = st.one_of(
    st.sampled_from(SUPPORTED).map(lambda s: s[:-1]),
    st.sampled_from(INVENTED).map(lambda s: s[:-1]),
    st.sampled_from([".", ". ", "!"]),
    marker_text,
    st.sampled_from(NOISE),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="[]"), max_size=12),
)
answer_like = st.lists(fragment, max_size=10).map(" ".join)
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@given(raw=st.text(max_size=200))
@PROPERTY
def test_verify_never_raises_on_arbitrary_text(embed, raw):
    passages = sample_passages()
    v = verify(raw, passages, embed)
    assert_well_formed(v, passages, sample_article().text)


@given(raw=answer_like)
@PROPERTY
def test_verify_shows_only_citations_it_backs(embed, raw):
    passages = sample_passages()
    v = verify(raw, passages, embed)
    assert_well_formed(v, passages, sample_article().text)
    for s in v.sentences:
        for n, quote in zip(s.citations, s.quotes):
            assert quote in v.citations[n - 1].passage.text


@given(raw=answer_like)
@PROPERTY
def test_verify_never_raises_without_passages(embed, raw):
    v = verify(raw, [], embed)
    assert v.citations == () and shown_numbers(v.text) == []


def test_what_a_sentence_takes_from_the_headline_is_supported(check):
    """The writer sees each passage's headline: a clause taken from it is the article's own
    words, while a figure in neither the headline nor the passage is still refused."""
    from dataclasses import replace

    body = "The viaduct will not reopen to all traffic until late November, the council said on Monday."
    [passage] = passages_from(body)
    headlined = replace(passage, title="Viaduct to Stay Shut Until November as Council Blames 2019 Repairs")
    raw = "The viaduct will not reopen until late November, as the council blames 2019 repairs [1]."
    kept = check(raw, [headlined], body)
    assert not kept.refused and shown_numbers(kept.text) == [1]
    assert check(raw, [passage], body).refused  # without the headline, 2019 comes from nowhere
    invented = raw.replace("2019", "2017")
    assert check(invented, [headlined], body).refused


def _corpus_passages(name: str) -> tuple[list[Passage], str]:
    source = REPO / "evals" / "corpus" / name
    text = source.read_text(encoding="utf-8").rstrip()
    article = Article(name, text.split("\n")[0], text, source.name, str(source), "0123456789abcdef")
    return list(chunk_article(article)), text


def test_an_answer_keeping_the_questions_words_over_a_passage_without_them_is_refused(check):
    """A near miss: the answer repeats what the question asks ("earn") over a passage that
    never says it. Echoed words count half only where the passage holds them."""
    passages, text = _corpus_passages("skyward-aerolink-merger-review.txt")
    n = passage_number(passages, "Fiona Marr")
    question = "What salary does Aerolink chief executive Fiona Marr earn?"
    near_miss = f"Fiona Marr earns $2.7 billion as the chief executive of Aerolink [{n}]."
    assert check(near_miss, passages, text, question=question).refused
    said = f"Aerolink chief executive Fiona Marr declined to comment on the union's conditions [{n}]."
    kept = check(said, passages, text, question="What did Aerolink chief executive Fiona Marr say?")
    assert not kept.refused and [c.passage for c in kept.citations] == [passages[n - 1]]


def test_an_answer_restating_a_question_asked_in_other_words_needs_only_its_own_words(check):
    """A question in other words than its passage's ("the government paper", "the Chinese
    e-commerce giant" for the memo and Alibaba) gets an answer restating it: over a passage
    on what it asks, only what the answer adds (the newspaper) needs the passage."""
    passages, text = sample_passages(), sample_article().text
    n = passage_number(passages, "Financial Times")
    question = "Which newspaper was given the government paper accusing the Chinese e-commerce giant?"
    restated = "The Financial Times was given the government paper accusing the Chinese e-commerce giant"
    answer = f"{restated} [{n}]."
    kept = check(answer, passages, text, question=question)
    assert not kept.refused and "Financial Times" in kept.citations[0].quote
    assert check(answer, passages, text).refused  # without the question, its words need support


def test_a_figure_restated_with_the_questions_words_still_needs_them_in_the_passage(check):
    """A passage holds many dates, each tied to its event by its own words: a date answering
    the question's event must come with that event's words, however close the topic."""
    passages, text = _corpus_passages("mediport-health-patient-data-breach.txt")
    n = passage_number(passages, "April 27")
    question = "On what date did Mediport Health notify state regulators about the breach?"
    answer = f"Mediport Health notified state regulators about the breach on April 27 [{n}]."
    assert check(answer, passages, text, question=question).refused
    discovered = f"Mediport Health discovered the intrusion on April 27 [{n}]."
    asked = "When did Mediport Health discover the intrusion?"
    assert not check(discovered, passages, text, question=asked).refused


# -- a quote that says the opposite ---------------------------------------------------------
DISPUTE = (
    "A residents' group accused Corliss Waste of pumping dirty water into the Mellan Brook at night. "
    "The group said members had filmed a pipe outside the depot.\n\n"
    "Corliss Waste denied that it had pumped dirty water into the Mellan Brook. "
    "Its managing director said the pipe was a rainwater outfall."
)


@pytest.mark.parametrize(
    "raw",
    [
        "Corliss Waste pumped dirty water into the Mellan Brook at night [1].",
        "Yes, Corliss Waste pumped dirty water into the Mellan Brook [2].",
    ],
    ids=["accusation-as-fact", "denial-read-as-yes"],
)
def test_a_claim_is_not_backed_by_its_accusation_or_its_denial(check, raw):
    passages = passages_from(DISPUTE)
    assert check(raw, passages, DISPUTE).refused


@pytest.mark.parametrize(
    "raw, cited",
    [
        ("The residents' group accused Corliss Waste of pumping dirty water into the Mellan Brook [1].", 1),
        ("Corliss Waste denied pumping dirty water into the Mellan Brook [2].", 2),
        ("Corliss Waste said it had not pumped dirty water into the Mellan Brook [2].", 2),
    ],
    ids=["accusation-said", "denial-said", "denial-in-other-words"],
)
def test_who_claims_and_who_denies_is_backed(check, raw, cited):
    passages = passages_from(DISPUTE)
    v = check(raw, passages, DISPUTE)
    assert not v.refused and v.citations[0].passage is passages[cited - 1]


def test_two_passages_together_do_not_back_an_accusation_stated_as_fact(check):
    """A sentence drawing on two reports (a figure and its update) is backed by the pair, but
    not when one of them only accuses: the accusation must stay an accusation there too."""
    text = (
        "Residents accused Corliss Waste of killing 300 fish in the Mellan Brook in May.\n\n"
        "By June the number of dead fish in the Mellan Brook had risen to 450, inspectors said."
    )
    passages = passages_from(text)
    stated = (
        "Corliss Waste killed 300 fish in the Mellan Brook in May, and the toll rose to 450 by June [1][2]."
    )
    assert check(stated, passages, text).refused
    attributed = (
        "Residents accused Corliss Waste of killing 300 fish in the Mellan Brook in May, "
        "and inspectors said the toll rose to 450 by June [1][2]."
    )
    v = check(attributed, passages, text)
    assert not v.refused and {c.passage.chunk_id for c in v.citations} == {p.chunk_id for p in passages}
