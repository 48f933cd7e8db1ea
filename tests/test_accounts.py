"""Other accounts: an answer drawn from one side of a dispute also quotes the other side's
different figure, from the passages it was given, with who published it and when."""

from dataclasses import replace

from assistant.accounts import with_other_accounts
from assistant.citations import verify
from assistant.models import Passage

UNION = (
    "Union says hospitals are short of nurses\n"
    "The Riverside hospitals trust has 340 nursing posts it cannot fill, the nurses' union said on Monday. "
    "The union said patients were waiting longer on the wards."
)
TRUST = (
    "Trust disputes union's figures\n"
    "The Riverside hospitals trust said it has 212 nursing posts it cannot fill, not 340. "
    "Its chief executive said the union's figures were out of date."
)
FERRY = "Ferry fares to rise\nMarrow Bay Ferries will raise its fares by 8% in April, the company said."


def _passages(*articles: tuple[str, str, str | None]) -> list[Passage]:
    """One passage per (text, outlet, date): each its own article, titled by its first line."""
    return [
        Passage(
            f"c{i}", f"a{i}", 0, text, 100, 100 + len(text), text.split("\n")[0], f"s{i}.md", f"/s{i}", "h",
            published=date, author=outlet,
        )
        for i, (text, outlet, date) in enumerate(articles)
    ]  # fmt: skip


def test_the_other_sides_figure_is_quoted_with_its_source_and_date(embeddings):
    passages = _passages((TRUST, "Riverside Herald", "2026-11-12"), (UNION, "Castle Echo", "2026-11-09"))
    verified = verify("The trust has 212 nursing posts it cannot fill [1].", passages, embeddings.embed_array)
    assert [c.passage.article_id for c in verified.citations] == ["a0"]

    shown = with_other_accounts(verified, passages, embeddings.embed_array, similarity=0.65)
    assert shown.text.startswith(verified.text)
    assert "Castle Echo reported on 2026-11-09: “The Riverside hospitals trust has 340" in shown.text
    assert shown.text.endswith("[2]")
    other = shown.citations[-1]
    assert other.n == 2 and other.passage.article_id == "a1"
    # The quote is the article's own text at the offsets the citation gives.
    assert UNION[other.quote_start - 100 : other.quote_end - 100] == other.quote
    assert "340" in other.quote and shown.sentences[-1].citations == (2,)


def test_no_other_account_without_a_close_sentence_with_other_figures(embeddings):
    embed = embeddings.embed_array
    # An unrelated article's figure is not another account of the same thing.
    passages = _passages((UNION, "Castle Echo", "2026-11-09"), (FERRY, None, None))
    verified = verify("The trust has 340 nursing posts it cannot fill [1].", passages, embed)
    assert with_other_accounts(verified, passages, embed, 0.65) == verified
    # The other article saying the same figure adds nothing.
    same = replace(passages[1], text=UNION.replace("on Monday", "on Tuesday"), end=100 + len(UNION) + 1)
    assert with_other_accounts(verified, [passages[0], same], embed, 0.65) == verified
    # Off, and for a refusal.
    trust = _passages((UNION, "Castle Echo", "2026-11-09"), (TRUST, "Riverside Herald", "2026-11-12"))
    cited = verify("The trust has 340 nursing posts it cannot fill [1].", trust, embed)
    assert with_other_accounts(cited, trust, embed, 1.0) == cited
    assert with_other_accounts(cited, trust, embed, 0.65) != cited
    refused = verify("The articles do not say.", trust, embed)
    assert with_other_accounts(refused, trust, embed, 0.65) == refused


def test_an_undated_article_is_named_by_its_headline(embeddings):
    passages = _passages((TRUST, None, None), (UNION, None, None))
    verified = verify("The trust has 212 nursing posts it cannot fill [1].", passages, embeddings.embed_array)
    shown = with_other_accounts(verified, passages, embeddings.embed_array, 0.65)
    assert "“Union says hospitals are short of nurses” reported: “The Riverside" in shown.text


def test_an_answer_from_one_side_of_a_dispute_shows_the_other(settings, embeddings, tmp_path):
    from assistant.answer import Answerer
    from assistant.ingest import ingest
    from assistant.retrieval import Searcher
    from assistant.store import PassageStore

    from .conftest import ScriptedProvider, write

    for name, (text, outlet, date) in {
        "union.md": (UNION, "Castle Echo", "2026-11-09"),
        "trust.md": (TRUST, "Riverside Herald", "2026-11-12"),
    }.items():
        title, body = text.split("\n", 1)
        write(tmp_path / "news" / name, f"---\ntitle: {title}\ndate: {date}\nauthor: {outlet}\n---\n{body}\n")
    ingest([tmp_path / "news"], settings, embeddings=embeddings)
    searcher = Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)
    provider = ScriptedProvider(["The trust says it has 212 nursing posts it cannot fill [1]."])
    answer = Answerer(searcher, provider, settings).ask(
        "How many nursing posts can the Riverside trust not fill?"
    )
    assert not answer.refused and "212" in answer.text and "340" in answer.text
    assert {c.passage.source for c in answer.citations} == {"union.md", "trust.md"}
    assert "Castle Echo reported on 2026-11-09" in answer.text

    off = settings.model_copy(update={"other_account_similarity": 1.0})
    provider = ScriptedProvider(["The trust says it has 212 nursing posts it cannot fill [1]."])
    answer = Answerer(searcher, provider, off).ask("How many nursing posts can the Riverside trust not fill?")
    assert "340" not in answer.text and len(answer.citations) == 1


CLAIM = (
    "Residents accuse waste firm\n"
    "A residents' group said Corliss Waste had pumped dirty water into the Mellan Brook at night."
)
DENIAL = (
    "Waste firm denies pollution\n"
    "Corliss Waste denied that it had pumped dirty water into the Mellan Brook at night."
)


def test_an_answer_from_a_denial_shows_the_claim_it_denies_and_back(embeddings):
    embed = embeddings.embed_array
    passages = _passages(
        (DENIAL, "Fenwold Chronicle", "2026-05-15"), (CLAIM, "Ravensholt Advertiser", "2026-05-12")
    )
    verified = verify("Corliss Waste denied pumping dirty water into the Mellan Brook [1].", passages, embed)
    shown = with_other_accounts(verified, passages, embed, 0.65)
    assert "Ravensholt Advertiser reported on 2026-05-12: “A residents' group said" in shown.text
    claimed = verify("The residents' group said Corliss Waste had pumped dirty water [2].", passages, embed)
    assert "Fenwold Chronicle reported on 2026-05-15: “Corliss Waste denied" in (
        with_other_accounts(claimed, passages, embed, 0.65).text
    )
    # Two accounts that agree add nothing: the denial is not quoted beside itself.
    same = _passages(
        (DENIAL, "Fenwold Chronicle", "2026-05-15"), (DENIAL.replace("night", "night."), None, None)
    )
    again = verify("Corliss Waste denied pumping dirty water into the Mellan Brook [1].", same, embed)
    assert with_other_accounts(again, same, embed, 0.65) == again
