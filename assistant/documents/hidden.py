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

__all__ = ["Selector", "stylesheet_hidden", "hides", "remove_hidden", "DROPPED_ALWAYS"]

# Never shown, whatever the style: template content and (for the fallback walk) code.
DROPPED_ALWAYS = frozenset(("template",))

# Declarations that keep text from being seen: not displayed, invisible, no size, fully
# transparent, moved far off screen, or clipped to nothing (the "visually hidden" pattern).
_HIDING_DECLARATIONS = re.compile(
    r"(?:^|;)(?:display:none|visibility:(?:hidden|collapse)|font-size:0(?:\.0*)?(?:px|em|rem|pt|%)?(?:!important)?(?:;|$)"
    r"|opacity:0(?:\.0*)?(?:!important)?(?:;|$)|color:transparent|(?:left|top|right|text-indent|margin-left|margin-top):-\d{4,}"
    r"|clip:rect\(0|clip-path:inset\(50%)"
)
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
            found.append(Selector(tag, frozenset(name for kind, name in parts if kind == "."), ids[0] if ids else None))
    return found


def _top_level_rules(css: str) -> list[tuple[str, str]]:
    """(prelude, block) of each top-level rule; an at-rule's nested rules stay in its block.
    (A CSS parser would give the same; this is the one thing needed from one.)"""
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


def hides(tag: str, attrs, selectors: list[Selector]) -> bool:
    """Whether an element with this tag name and these attributes (a mapping) is hidden."""
    if tag in DROPPED_ALWAYS or attrs.get("hidden") is not None:
        return True
    if (attrs.get("aria-hidden") or "").strip().lower() == "true":
        return True
    style = attrs.get("style")
    if style and style_hides(style):
        return True
    return any(_matches(tag, attrs, selector) for selector in selectors)


def _matches(tag: str, attrs, selector: Selector) -> bool:
    if selector.tag and tag != selector.tag:
        return False
    if selector.id and attrs.get("id") != selector.id:
        return False
    return not selector.classes or selector.classes <= set((attrs.get("class") or "").split())


def remove_hidden(root: HtmlElement, selectors: list[Selector] | None = None) -> None:
    """Remove every hidden element (with its content, keeping the text that follows it)."""
    selectors = stylesheet_hidden(root) if selectors is None else selectors
    # Collected first: removing while lxml iterates would skip siblings. iter() is
    # iterative (C), so a deep tree costs no recursion.
    doomed = [el for el in root.iter() if isinstance(el.tag, str) and hides(el.tag, el.attrib, selectors)]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()
