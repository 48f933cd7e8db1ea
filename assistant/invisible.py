"""Characters that take no room on screen but change what a string is.

"ig\u200bnore" looks like "ignore" and is not equal to it; a bidi override makes text read
differently from how it is stored. Every stage that compares, quotes or checks text for
emptiness removes the same characters, so they live here once.
"""

from __future__ import annotations

import re

__all__ = ["LAYOUT_CONTROLS", "INVISIBLE", "strip_invisible"]

# Zero-width space, non-joiner and joiner, the direction marks, the bidi embeddings,
# overrides and isolates, the word joiner and invisible operators, and the BOM.
_CONTROLS = "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"

# What the loaders remove from article text. Soft hyphens and the Mongolian vowel separator
# are real typography there, so they stay in the text (the injection filter reads past them).
LAYOUT_CONTROLS = re.compile(f"[{_CONTROLS}]")

# What comparisons remove: the above plus the soft hyphen and the Mongolian vowel separator,
# which can still split a word ("sys\u00adtem") without showing.
INVISIBLE = re.compile(f"[{_CONTROLS}\u00ad\u180e]")


def strip_invisible(text: str) -> str:
    """``text`` without any character of :data:`INVISIBLE`."""
    return INVISIBLE.sub("", text)
