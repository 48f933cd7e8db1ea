"""HTML pages."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import NamedTuple

from bs4 import BeautifulSoup, ParserRejectedMarkup
from bs4.element import NavigableString, PreformattedString, Tag

from ..errors import EmptyArticle, MalformedFile
from ..invisible import LAYOUT_CONTROLS
from .article import collapse, first_line, make_article, optional_str
from .dates import first_date
from .decoding import normalise
from .defences import ONLY_INJECTED, clean_title, without_injections
from .result import LoadResult

__all__ = ["load_html"]

# Page furniture and non-content elements: their text is never article text.
_DROPPED_TAGS = (
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "iframe", "svg", "button", "select", "textarea", "canvas", "object", "embed",
    "audio", "video",
)  # fmt: skip
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# Elements whose text becomes a line of its own.
_TEXT_BLOCKS = frozenset(_HEADINGS + ("p", "li", "blockquote", "pre", "td", "th", "dt", "dd", "figcaption"))
# Structural elements: they never share a line with the text around them.
_CONTAINERS = frozenset((
    "html", "body", "main", "article", "section", "div", "ul", "ol", "dl", "table", "thead",
    "tbody", "tfoot", "tr", "caption", "figure", "address", "details", "summary", "hr",
    "center", "fieldset", "legend", "hgroup",
))  # fmt: skip
_BOUNDARIES = _TEXT_BLOCKS | _CONTAINERS
_PUBLISHED_META = (("property", "article:published_time"), ("name", "date"), ("itemprop", "datepublished"))


class _HtmlMeta(NamedTuple):
    title: str | None
    url: str | None
    published: str | None
    author: str | None


def load_html(path: Path, resolved: str, text: str) -> LoadResult:
    try:
        soup = _parse_html(text)
        meta = _html_metadata(soup)
        _remove_noise(soup, _stylesheet_hidden(soup))
        body = normalise("\n".join(_block_lines(_content_root(soup))))
    except (ParserRejectedMarkup, RecursionError, AssertionError) as exc:
        # html.parser tolerates almost anything; these are the rare refusals.
        raise MalformedFile(str(path), f"HTML could not be parsed ({type(exc).__name__})") from None
    if not body:
        raise EmptyArticle(str(path), "no text after HTML cleaning")
    body = without_injections(body)
    if not body:
        raise EmptyArticle(str(path), ONLY_INJECTED)
    article = make_article(
        identity=resolved,
        resolved=resolved,
        title=clean_title(meta.title) or first_line(body),
        text=body,
        fallback_source=path.name,
        url=meta.url,
        published=meta.published,
        author=meta.author,
    )
    return LoadResult([article])


def _parse_html(text: str) -> BeautifulSoup:
    # bs4 warns when markup looks like a URL or XML; for a file we asked to read as
    # HTML that is noise, and a warnings-as-errors setting must not turn it into a crash.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BeautifulSoup(text, "html.parser")


def _clean_inline(value: str) -> str:
    return collapse(LAYOUT_CONTROLS.sub("", value))


def _own_text(tag: Tag) -> str:
    # Only the tag's direct strings: an unclosed <title> swallows the rest of the page.
    return _clean_inline("".join(s for s in tag.children if _is_text_node(s)))


def _html_metadata(soup: BeautifulSoup) -> _HtmlMeta:
    """Read title, url, date and author before cleaning removes <head> furniture."""
    url = _canonical_link(soup) or _meta_content(soup, "property", "og:url")
    dates = [_meta_content(soup, attr, key) for attr, key in _PUBLISHED_META]
    dates += [tag.get("datetime") for tag in soup.find_all("time") if tag.get("datetime")]
    return _HtmlMeta(_html_title(soup), url, first_date(dates), _meta_content(soup, "name", "author"))


def _html_title(soup: BeautifulSoup) -> str | None:
    """<title>, else the first <h1> (read before cleaning: it is often in a <header>).

    No per-tag walk up or down the tree: on 20,000 nested tags that is quadratic. An
    <h1> inside another has text only if the outer one has, so the outer ones suffice.
    """
    # An svg's title labels an icon.
    in_svg = {id(t) for svg in _outermost(soup, "svg") for t in svg.find_all("title")}
    for tag in soup.find_all("title"):
        title = "" if id(tag) in in_svg else _own_text(tag)
        if title:
            return title
    for heading in _outermost(soup, "h1"):
        title = _clean_inline(heading.get_text(" "))
        if title:
            return title
    return None


def _canonical_link(soup: BeautifulSoup) -> str | None:
    for link in soup.find_all("link"):
        rel = link.get("rel") or []
        rels = rel.split() if isinstance(rel, str) else rel
        if any(r.lower() == "canonical" for r in rels):
            href = optional_str(link.get("href"))
            if href:
                return href
    return None


def _meta_content(soup: BeautifulSoup, attr: str, key: str) -> str | None:
    for meta in soup.find_all("meta"):
        value = meta.get(attr)
        if isinstance(value, str) and value.strip().lower() == key:
            content = optional_str(meta.get("content"))
            if content:
                return _clean_inline(content)
    return None


def _remove_noise(soup: BeautifulSoup, hidden_by_css: list[_Selector] = ()) -> None:
    """Delete page furniture, hidden elements and the <title> text.

    Comments need no removal here: the line walk skips every non-text string.

    A hand-rolled walk, not ``find_all``: it never descends into a removed subtree, and
    it avoids bs4 helpers (``find_all(string=...)``, ``Tag.decomposed``) that turn
    quadratic on the deeply nested trees malformed HTML produces.
    """
    pending: list[Tag] = [soup]
    while pending:
        parent = pending.pop()
        for child in list(parent.children):
            if not isinstance(child, Tag):
                continue
            if child.name in _DROPPED_TAGS or _is_hidden(child) or any(_matches(child, sel) for sel in hidden_by_css):
                child.decompose()
                continue
            if child.name == "title":
                _drop_own_text(child)
            pending.append(child)


def _drop_own_text(tag: Tag) -> None:
    # The title is a field of its own; its child tags stay, since a missing </title>
    # makes html.parser nest the rest of the page inside it.
    for child in list(tag.children):
        if isinstance(child, NavigableString):
            child.extract()


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden"):
        return True
    aria = tag.get("aria-hidden")
    if isinstance(aria, str) and aria.strip().lower() == "true":
        return True
    style = tag.get("style")
    return isinstance(style, str) and _style_hides(style)


# Declarations that keep text from being seen: not displayed, invisible, no size, fully
# transparent, moved far off screen, or clipped to nothing (the "visually hidden" pattern).
_HIDING_DECLARATIONS = re.compile(
    r"(?:^|;)(?:display:none|visibility:(?:hidden|collapse)|font-size:0(?:\.0*)?(?:px|em|rem|pt|%)?(?:!important)?(?:;|$)"
    r"|opacity:0(?:\.0*)?(?:!important)?(?:;|$)|color:transparent|(?:left|top|right|text-indent|margin-left|margin-top):-\d{4,}"
    r"|clip:rect\(0|clip-path:inset\(50%)"
)


def _style_hides(style: str) -> bool:
    return bool(_HIDING_DECLARATIONS.search(re.sub(r"\s+", "", style.lower())))


class _Selector(NamedTuple):
    tag: str | None
    classes: frozenset[str]
    id: str | None


_SIMPLE_SELECTOR = re.compile(r"^([a-z][a-z0-9-]*)?((?:[.#][\w-]+)*)$", re.IGNORECASE)


def _stylesheet_hidden(soup: BeautifulSoup) -> list[_Selector]:
    """The simple selectors (``tag``, ``.class``, ``#id``, ``tag.class#id``) that the page's
    own <style> rules hide. Rules inside @media and other at-rules are skipped (a print
    style hides nothing on screen), as are compound selectors the loader cannot match."""
    found: list[_Selector] = []
    for style in soup.find_all("style"):
        css = re.sub(r"/\*.*?\*/", "", style.get_text(), flags=re.DOTALL)
        for prelude, block in _top_level_rules(css):
            if prelude.startswith("@") or not _style_hides(block):
                continue
            for selector in prelude.split(","):
                match = _SIMPLE_SELECTOR.match(selector.strip())
                if not match or not (match.group(1) or match.group(2)):
                    continue
                parts = re.findall(r"([.#])([\w-]+)", match.group(2))
                ids = [name for kind, name in parts if kind == "#"]
                found.append(
                    _Selector(
                        match.group(1).lower() if match.group(1) else None,
                        frozenset(name for kind, name in parts if kind == "."),
                        ids[0] if ids else None,
                    )
                )
    return found


def _top_level_rules(css: str) -> list[tuple[str, str]]:
    """(prelude, block) of each top-level rule; an at-rule's nested rules stay in its block."""
    rules, depth, start, prelude = [], 0, 0, ""
    for i, char in enumerate(css):
        if char == "{":
            if depth == 0:
                prelude, start = css[start:i].strip(), i + 1
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                rules.append((prelude, css[start:i]))
                start = i + 1
        elif char == ";" and depth == 0:  # @import ...; and the like
            start = i + 1
    return rules


def _matches(tag: Tag, selector: _Selector) -> bool:
    if selector.tag and tag.name != selector.tag:
        return False
    if selector.id and tag.get("id") != selector.id:
        return False
    if selector.classes:
        classes = tag.get("class") or []
        classes = classes.split() if isinstance(classes, str) else classes
        if not selector.classes <= set(classes):
            return False
    return True


def _content_root(soup: BeautifulSoup) -> Tag:
    """The element holding the article: the largest <article>, else <main>, else <body>.

    An <article> inside another is never larger than it, and a <main> inside another has
    text only if the outer one has, so only the outermost ones are measured: measuring
    each of 30,000 nested ones would be quadratic.
    """
    articles = sorted(_outermost(soup, "article"), key=lambda t: len(t.get_text(strip=True)), reverse=True)
    candidates = [*articles, *_outermost(soup, "main"), soup.body, soup]
    return next(c for c in candidates if c is not None and (c is soup or c.get_text(strip=True)))


def _outermost(root: Tag, name: str) -> list[Tag]:
    """The ``name`` tags not inside another one, in document order (iteratively)."""
    found: list[Tag] = []
    stack = [iter(root.children)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node, Tag):
            if node.name == name:
                found.append(node)
            else:
                stack.append(iter(node.children))
    return found


def _is_text_node(node: object) -> bool:
    # Comments, doctypes, CDATA and processing instructions are not visible text.
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


class _LineBuilder:
    """Collects text into lines, breaking at block boundaries."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._parts: list[str] = []
        self._bullet = False

    def text(self, value: str) -> None:
        self._parts.append(value)

    def open(self, name: str) -> None:
        if name == "br":
            self._parts.append(" ")  # keeps "a<br>b" from reading as "ab"
        elif name in _BOUNDARIES:
            self.flush()
            if name == "li":
                self._bullet = True

    def close(self, name: str) -> None:
        if name in _BOUNDARIES:
            self.flush()
            if name == "li":
                self._bullet = False  # an empty item must not mark the next line

    def flush(self) -> None:
        line = _clean_inline("".join(self._parts))
        self._parts = []
        if line:
            self.lines.append(f"- {line}" if self._bullet else line)
            self._bullet = False  # only the item's first line carries the marker


def _block_lines(root: Tag) -> list[str]:
    """Walk the tree in document order, one line per block.

    Iterative on purpose: malformed HTML with thousands of unclosed tags nests that
    deep, and a recursive walk would hit the recursion limit.
    """
    builder = _LineBuilder()
    stack = [iter(root.children)]
    open_tags: list[str] = []  # names of the tags whose children the stack is walking
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            if open_tags:
                builder.close(open_tags.pop())
        elif isinstance(node, Tag):
            builder.open(node.name)
            stack.append(iter(node.children))
            open_tags.append(node.name)
        elif _is_text_node(node):
            builder.text(str(node))
    builder.flush()
    return builder.lines

