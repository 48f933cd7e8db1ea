from assistant.chunking import ChunkSizes, chunk_article
from assistant.models import Article
from assistant.tokens import count_tokens

from .conftest import SAMPLE


def article(text: str, article_id="a1", content_hash="0123456789abcdef") -> Article:
    return Article(article_id, text.split("\n")[0], text, "t.txt", "/t.txt", content_hash)


def sample() -> Article:
    return article(SAMPLE.read_text(encoding="utf-8").rstrip())


def test_offsets_round_trip_and_metadata():
    a = sample()
    passages = chunk_article(a)
    assert len(passages) >= 2
    for p in passages:
        assert a.text[p.start : p.end] == p.text
        assert p.title == a.title and p.source == "t.txt"
        assert p.tokens == count_tokens(p.text)
    # Together the passages cover every sentence of the article.
    covered = set()
    for p in passages:
        covered.update(range(p.start, p.end))
    assert all(i in covered for i, ch in enumerate(a.text) if not ch.isspace())


def test_bullet_list_stays_with_what_introduces_it():
    passages = chunk_article(sample())
    holders = [p for p in passages if "- WiFi information" in p.text]
    assert len(holders) == 1
    held = holders[0].text
    assert "- IP addresses\n- WiFi information\n- Payment records" in held
    assert "access to extensive customer data including:" in held
    takeaways = [p for p in passages if "Key Takeaways" in p.text]
    assert takeaways and "- US lawmakers push for delisting" in takeaways[0].text


def test_heading_is_never_the_last_line_of_a_passage():
    for p in chunk_article(sample(), ChunkSizes(target=60, maximum=120, minimum=20, overlap=20)):
        last_line = p.text.rsplit("\n", 1)[-1]
        assert last_line.endswith((".", ":", "”", '"')) or last_line.startswith("- "), last_line


def test_sizes_respected_on_long_text():
    paragraphs = [
        " ".join(
            f"Sentence {i}.{j} says that the council approved budget line {j} for district {i}."
            for j in range(6)
        )
        for i in range(30)
    ]
    a = article("Council budget\n" + "\n\n".join(paragraphs))
    sizes = ChunkSizes(target=160, maximum=260, minimum=80, overlap=40)
    passages = chunk_article(a, sizes)
    assert len(passages) > 5
    assert all(p.tokens <= sizes.maximum for p in passages)
    assert all(p.tokens >= sizes.minimum for p in passages[:-1])
    for p in passages:
        assert a.text[p.start : p.end] == p.text


def test_overlap_repeats_trailing_sentence_inside_a_paragraph():
    long_paragraph = " ".join(
        f"Officials said item number {i} was reviewed in detail on Monday." for i in range(60)
    )
    a = article("Title line here\n" + long_paragraph)
    passages = chunk_article(a, ChunkSizes(target=100, maximum=150, minimum=50, overlap=30))
    assert len(passages) >= 3
    overlaps = [passages[i].end > passages[i + 1].start for i in range(len(passages) - 1)]
    assert any(overlaps)
    # ... and no passage is just a copy inside another.
    assert all(passages[i + 1].end > passages[i].end for i in range(len(passages) - 1))


def test_oversized_sentence_is_split_at_words():
    a = article("T\n" + "word " * 2000)
    passages = chunk_article(a, ChunkSizes(target=100, maximum=150, minimum=10, overlap=0))
    assert len(passages) > 10
    assert all(p.tokens <= 150 for p in passages)
    assert all(a.text[p.start : p.end] == p.text for p in passages)


def test_ids_are_stable_and_depend_on_content():
    first = [p.chunk_id for p in chunk_article(sample())]
    again = [p.chunk_id for p in chunk_article(sample())]
    assert first == again and len(set(first)) == len(first)
    changed = chunk_article(article(SAMPLE.read_text().rstrip(), content_hash="fedcba9876543210"))
    assert not set(first) & {p.chunk_id for p in changed}


def test_empty_and_tiny_articles():
    assert chunk_article(article("Just a title"))[0].text == "Just a title"
    assert chunk_article(article("")) == []
