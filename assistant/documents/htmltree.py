"""HTML text -> an lxml tree, whatever the markup.

lxml (libxml2) parses real pages fast and is what trafilatura works on. It has one limit
that matters for hostile input: it stops at 2,048 levels of nesting and silently drops
everything deeper (a page of 100,000 unclosed ``<span>`` loses its text). Browsers show
that text: they stop nesting at a fixed depth and keep adding elements at that level.
When libxml2 reports the limit, the page is rebuilt that way from the standard library's
tokenizer (``html.parser``, which keeps no tree and so has no depth limit); written here
because no parser we can depend on offers a depth cap. Elements a reader would not see
(``hidden.hides``) are left out while building, since the flattened tree no longer holds
them around their content.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser as _Tokenizer
from typing import NamedTuple

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

from .hidden import Selector, hidden_by_css, hides, stylesheet_hidden

__all__ = ["parse_html", "HtmlUnreadable"]

# Nesting kept by the rebuild; deeper elements are added at this level, as browsers do
# (Blink stops at 512).
_MAX_DEPTH = 512
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
# Characters XML cannot hold, which lxml refuses in a tree it is asked to edit (a browser
# shows nothing for them): control characters other than tab and line ends, U+FFFE, U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffe\uffff]")
_TITLE_OPEN = re.compile(r"<title\b[^>]*>", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title\s*>", re.IGNORECASE)
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


class HtmlUnreadable(Exception):
    """libxml2 refused the text (it has no element at all)."""


def parse_html(text: str) -> HtmlElement:
    """The page as an lxml tree, comments and processing instructions left out."""
    # lxml refuses a str that declares its own encoding; the text is decoded already.
    text = _NOT_XML.sub("", text.replace("\x0c", " "))  # a form feed is white space in HTML
    text = _close_title(_XML_DECLARATION.sub("", text, count=1))
    parser = lxml.html.HTMLParser(
        huge_tree=True, remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False
    )
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:  # "Document is empty" and the like
        raise HtmlUnreadable(str(exc)) from None
    if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
        root = _rebuild_flat(text, stylesheet_hidden(root))
    elif "&#" in text:
        _scrub_references(root)
    return root


def _scrub_references(root: HtmlElement) -> None:
    """Remove what character references such as ``&#1;`` put in the tree: lxml refuses to
    edit text holding it."""
    for element in root.iter():
        for name in ("text", "tail"):
            value = getattr(element, name)
            if value and _NOT_XML.search(value):
                setattr(element, name, _NOT_XML.sub("", value))
        for key, value in element.attrib.items():
            if _NOT_XML.search(value):
                element.attrib[key] = _NOT_XML.sub("", value)


def _close_title(text: str) -> str:
    """A <title> never closed reads, in libxml2 as in browsers, as a title holding the
    whole rest of the page and an empty body. Closed where its first tag starts instead,
    the page keeps its text."""
    opening = _TITLE_OPEN.search(text)
    if opening is None or _TITLE_CLOSE.search(text, opening.end()):
        return text
    tag = text.find("<", opening.end())
    if tag < 0:
        return text
    return f"{text[:tag]}</title>{text[tag:]}"


def _rebuild_flat(text: str, selectors: list[Selector]) -> HtmlElement:
    builder = _FlatBuilder(selectors)
    builder.feed(text)
    builder.close()
    return builder.root


class _Open(NamedTuple):
    tag: str
    hidden: bool
    placed: bool  # its element is on ``_FlatBuilder.placed`` (really nested)


class _FlatBuilder(_Tokenizer):
    """Tokens -> an lxml tree nested at most ``_MAX_DEPTH`` deep. The logical nesting is
    still tracked (``open``), to match end tags and to keep hidden elements' content out.
    Every step is O(1) amortised: 100,000 nested tags take a fraction of a second."""

    def __init__(self, selectors: list[Selector]):
        super().__init__(convert_charrefs=True)
        self.selectors = list(selectors)
        self.root = lxml.html.Element("html")
        self.head, self.body = lxml.html.Element("head"), lxml.html.Element("body")
        self.root.extend([self.head, self.body])
        self.open: list[_Open] = []
        self.counts: Counter[str] = Counter()  # open elements per tag name
        self.placed: list[HtmlElement] = [self.body]
        self.hidden_depth = 0  # open hidden elements

    def handle_starttag(self, tag, attrs):
        if tag in ("html", "head", "body"):
            return
        attributes = {k: _NOT_XML.sub("", v or "") for k, v in attrs if _is_xml_name(k)}
        hidden = self.hidden_depth > 0 or hides(tag, attributes, self.selectors)
        # The first <title> is the page's title; any other one is not article text.
        hidden = hidden or (tag == "title" and self.head.find("title") is not None)
        element = None
        if not hidden:
            element = lxml.html.Element(tag if _is_xml_name(tag) else "span", attributes)
            (self.head if tag == "title" else self.placed[-1]).append(element)
        if tag in _VOID:
            return
        placed = element is not None and (tag == "title" or len(self.placed) < _MAX_DEPTH)
        if placed:
            self.placed.append(element)
        self.open.append(_Open(tag, hidden, placed))
        self.counts[tag] += 1
        self.hidden_depth += hidden

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if not self.counts[tag]:
            return  # a stray end tag closes nothing
        while self.open:  # closes what is still open inside it, as browsers do
            entry = self.open.pop()
            self.counts[entry.tag] -= 1
            self.hidden_depth -= entry.hidden
            if entry.placed:
                self.placed.pop()
            if entry.tag == tag:
                return

    def handle_data(self, data):
        data = _NOT_XML.sub("", data)  # from character references such as &#1;
        if self.hidden_depth or not data:
            return
        if self.open and self.open[-1].tag == "style":
            self.selectors.extend(hidden_by_css(data))
        parent = self.placed[-1]
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + data
        else:
            parent.text = (parent.text or "") + data


def _is_xml_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][\w.-]*", name))
