"""Elements of an HTML page a reader never sees, found and removed before extraction.

Hidden text is where injected instructions hide ("ignore previous instructions" in a
``display:none`` block). trafilatura reads a page for its article, not for what a
browser shows: on a short page it falls back to all the text, hidden elements included,
and it keeps ``<template>`` content. So these are removed from the tree first, and
trafilatura only ever sees what a reader would: elements with the ``hidden`` attribute,
``aria-hidden="true"``, an inline style that hides them, a class or id the page's own
stylesheet hides, and ``<template>``. (Comments are dropped by the parser; scripts and
styles stay for trafilatura, which reads JSON-LD metadata from them and drops them.)

Written here because no library answers "would a browser show this element": CSS
engines need a layout, and sanitisers (lxml_html_clean) keep hidden elements.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from lxml.html import HtmlElement

__all__ = [
    "Selector", "SelectorIndex", "stylesheet_hidden", "hidden_by_css", "hides", "remove_hidden",
    "DROPPED_ALWAYS",
]  # fmt: skip

# Never shown, whatever the style: template content and (for the fallback walk) code.
DROPPED_ALWAYS = frozenset(("template",))

# Declarations that keep text from being seen: not displayed, invisible, no size, fully
# transparent, moved far off screen, or clipped to nothing (the "visually hidden" pattern).
_HIDING_DECLARATIONS = re.compile(
    r"(?:^|;)(?:display:none|visibility:(?:hidden|collapse)|font-size:0(?:\.0*)?(?:px|em|rem|pt|%)?(?:!important)?(?:;|$)"
    r"|opacity:0(?:\.0*)?(?:!important)?(?:;|$)|color:transparent|(?:left|top|right|text-indent|margin-left|margin-top):-\d{4,}"
    r"|clip:rect\(0|clip-path:inset\(50%)"
)
_BRACE = re.compile(r"[{}]")
_SIMPLE_SELECTOR = re.compile(r"^([a-z][a-z0-9-]*)?((?:[.#][\w-]+)*)$", re.IGNORECASE)


class Selector(NamedTuple):
    tag: str | None
    classes: frozenset[str]
    id: str | None


def style_hides(style: str) -> bool:
    return bool(_HIDING_DECLARATIONS.search(re.sub(r"\s+", "", style.lower())))


def stylesheet_hidden(root: HtmlElement) -> list[Selector]:
    """The simple selectors (``tag``, ``.class``, ``#id``, ``tag.class#id``) that the page's
    own <style> rules hide. Rules inside @media and other at-rules are skipped (a print
    style hides nothing on screen), as are compound selectors that cannot be matched on
    one element."""
    found: list[Selector] = []
    for style in root.iter("style"):
        found.extend(hidden_by_css(style.text_content()))
    return found


def hidden_by_css(css: str) -> list[Selector]:
    found: list[Selector] = []
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    for prelude, block in _top_level_rules(css):
        if prelude.startswith("@") or not style_hides(block):
            continue
        for selector in prelude.split(","):
            match = _SIMPLE_SELECTOR.match(selector.strip())
            if not match or not (match.group(1) or match.group(2)):
                continue
            parts = re.findall(r"([.#])([\w-]+)", match.group(2))
            ids = [name for kind, name in parts if kind == "#"]
            tag = match.group(1).lower() if match.group(1) else None
            found.append(
                Selector(tag, frozenset(name for kind, name in parts if kind == "."), ids[0] if ids else None)
            )
    return found


def _top_level_rules(css: str) -> list[tuple[str, str]]:
    """(prelude, block) of each top-level rule; an at-rule's nested rules stay in its block.
    (A CSS parser would give the same; this is the one thing needed from one.) Only the
    braces are visited, so a 200 KB framework stylesheet costs milliseconds."""
    rules, depth, start, prelude = [], 0, 0, ""
    for brace in _BRACE.finditer(css):
        i = brace.start()
        if brace.group() == "{":
            if depth == 0:
                # "@import x; .a" -> ".a": a statement before the rule is not its selector
                prelude, start = css[start:i].rsplit(";", 1)[-1].strip(), i + 1
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                rules.append((prelude, css[start:i]))
                start = i + 1
    return rules


def hides(tag: str, attrs, selectors) -> bool:
    """Whether an element with this tag name and these attributes (a mapping) is hidden.
    ``selectors`` is a list of ``Selector`` or, faster on big pages, a ``SelectorIndex``."""
    if tag in DROPPED_ALWAYS or attrs.get("hidden") is not None:
        return True
    if (attrs.get("aria-hidden") or "").strip().lower() == "true":
        return True
    style = attrs.get("style")
    if style and style_hides(style):
        return True
    if not selectors:
        return False
    classes = set((attrs.get("class") or "").split())
    candidates = selectors
    if isinstance(selectors, SelectorIndex):
        candidates = selectors.candidates(tag, attrs.get("id"), classes)
    return any(_matches(tag, attrs.get("id"), classes, selector) for selector in candidates)


class SelectorIndex:
    """Selectors filed by id, class and tag, so an element is checked against the few that
    could match it, not the hundreds a framework stylesheet hides."""

    def __init__(self, selectors: list[Selector]):
        self.by_id: dict[str, list[Selector]] = {}
        self.by_class: dict[str, list[Selector]] = {}
        self.by_tag: dict[str | None, list[Selector]] = {}
        for selector in selectors:
            if selector.id:
                self.by_id.setdefault(selector.id, []).append(selector)
            elif selector.classes:
                self.by_class.setdefault(min(selector.classes), []).append(selector)
            else:
                self.by_tag.setdefault(selector.tag, []).append(selector)

    def __bool__(self) -> bool:
        return bool(self.by_id or self.by_class or self.by_tag)

    def candidates(self, tag: str, element_id: str | None, classes: set[str]) -> list[Selector]:
        found = list(self.by_tag.get(tag, ()))
        if element_id:
            found += self.by_id.get(element_id, ())
        for name in classes:
            found += self.by_class.get(name, ())
        return found


def _matches(tag: str, element_id: str | None, classes: set[str], selector: Selector) -> bool:
    if selector.tag and tag != selector.tag:
        return False
    if selector.id and element_id != selector.id:
        return False
    return selector.classes <= classes


def remove_hidden(root: HtmlElement, selectors: list[Selector] | None = None) -> None:
    """Remove every hidden element (with its content, keeping the text that follows it)."""
    selectors = SelectorIndex(stylesheet_hidden(root) if selectors is None else selectors)
    # Collected first: removing while lxml iterates would skip siblings. iter() is
    # iterative (C), so a deep tree costs no recursion.
    doomed = [el for el in root.iter() if isinstance(el.tag, str) and hides(el.tag, el.attrib, selectors)]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()
