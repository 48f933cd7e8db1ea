"""A seeded generator of news-like articles for benchmarks: varied lengths, recurring
names, dates, and some near-duplicate rewrites, so indexes of any size can be built
offline and reproducibly."""

from __future__ import annotations

import random
from dataclasses import dataclass

COMPANIES = (
    "Norvik Halden Quanta Meridian Solvay Brightwater Kestrel Avalon Orion Tessera Calder Vantor "
    "Lumen Arbor Helix"
).split()
PEOPLE = (
    "Maria Chen|John Okafor|Priya Nair|Lars Eriksen|Ana Souza|Tom Becker|Yuki Sato|Omar Haddad|"
    "Elena Rossi|Sam Patel"
).split("|")
CITIES = (
    "Rotterdam Lagos Pune Oslo Recife Munich Osaka Amman Turin Denver Lyon Gdansk Leeds Perth Busan".split()
)
TOPICS = [
    ("tariffs", "steel imports", "trade ministry"),
    ("strike", "dock workers", "port authority"),
    ("merger", "shareholders", "competition regulator"),
    ("data breach", "customer records", "privacy watchdog"),
    ("budget", "city council", "schools and buses"),
    ("drought", "farmers", "water board"),
    ("election", "voters", "electoral commission"),
    ("vaccine", "clinics", "health agency"),
]
VERBS = "said|denied|confirmed|warned|announced|rejected|estimated|argued|disclosed|insisted".split("|")
TEMPLATES = [
    "{person}, a spokesperson for {company}, {verb} that the {topic} would affect {subject} "
    "in {city} by {month}.",
    "According to documents seen by reporters, {company} expects {number} {subject} "
    "to be involved in the {topic}.",
    "The {body} {verb} on {weekday} that it had opened a review of the {topic} involving {company}.",
    "Analysts in {city} estimated the cost of the {topic} at {number} million euros for {subject}.",
    "{company} {verb} the allegations, calling the report about the {topic} inaccurate and misleading.",
    "In {month}, the {body} asked {company} to explain its role in the {topic} affecting {subject}.",
    "Critics say the {topic} shows how little oversight the {body} has over companies such as {company}.",
    "{person} told lawmakers in {city} that {number} {subject} had filed complaints about the {topic}.",
]
MONTHS = "January February March April May June July August September October November December".split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday".split()


@dataclass(frozen=True)
class FakeArticle:
    name: str
    title: str
    text: str
    published: str


def _sentence(rng: random.Random, company: str, topic: tuple[str, str, str]) -> str:
    return rng.choice(TEMPLATES).format(
        person=rng.choice(PEOPLE),
        company=company,
        verb=rng.choice(VERBS),
        topic=topic[0],
        subject=topic[1],
        body=topic[2],
        city=rng.choice(CITIES),
        month=rng.choice(MONTHS),
        weekday=rng.choice(WEEKDAYS),
        number=rng.randint(2, 950),
    )


def generate(count: int, seed: int = 7) -> list[FakeArticle]:
    rng = random.Random(seed)
    articles: list[FakeArticle] = []
    for i in range(count):
        if articles and rng.random() < 0.05:  # a near-duplicate: a wire copy with one sentence changed
            base = rng.choice(articles)
            lines = base.text.split("\n")
            lines[-1] = lines[-1] + " The report was updated with new figures."
            articles.append(FakeArticle(f"article-{i:06d}.txt", base.title, "\n".join(lines), base.published))
            continue
        company, topic = rng.choice(COMPANIES), rng.choice(TOPICS)
        title = f"{company} faces questions over {topic[0]} in {rng.choice(CITIES)}"
        paragraphs = [
            " ".join(_sentence(rng, company, topic) for _ in range(rng.randint(2, 6)))
            for _ in range(rng.randint(2, 7))
        ]
        published = f"20{rng.randint(19, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        articles.append(
            FakeArticle(f"article-{i:06d}.txt", title, title + "\n" + "\n".join(paragraphs), published)
        )
    return articles


def queries(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    forms = [
        "What did {company} say about the {topic}?",
        "{company} {topic} {city}",
        "How much did the {topic} cost {subject}?",
        "Who {verb} the allegations about the {topic}?",
        "{person} {topic}",
    ]
    out = []
    for _ in range(count):
        topic = rng.choice(TOPICS)
        out.append(
            rng.choice(forms).format(
                company=rng.choice(COMPANIES),
                topic=topic[0],
                subject=topic[1],
                city=rng.choice(CITIES),
                verb=rng.choice(VERBS),
                person=rng.choice(PEOPLE),
            )
        )
    return out
