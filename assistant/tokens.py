"""tiktoken's cl100k_base, loaded offline from the file bundled in the package.

tiktoken looks for its BPE files in ``TIKTOKEN_CACHE_DIR`` under the sha1 of their
download URL, checking their sha256. We ship that file (it comes from a registry
package) and point tiktoken at it, so no code path, ours or LangChain's, ever tries the
network for it.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from .errors import ResourceError

__all__ = ["encoding", "count_tokens", "TIKTOKEN_DIR"]

TIKTOKEN_DIR = Path(__file__).parent / "data" / "tiktoken"
_CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"  # sha1 of its download URL
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def _check_bundled_file() -> None:
    path = TIKTOKEN_DIR / _CL100K_FILE
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        raise ResourceError(f"tokenizer file missing: {path} (reinstall the package)") from None
    if digest != _CL100K_SHA256:
        raise ResourceError(
            f"tokenizer file {path} is corrupt (sha256 {digest[:12]}...): reinstall the package"
        )


@lru_cache(maxsize=1)
def encoding():
    """The cl100k_base encoding, never downloaded."""
    _check_bundled_file()
    # tiktoken reads this variable itself; it is the only way to point it at a folder.
    os.environ["TIKTOKEN_CACHE_DIR"] = str(TIKTOKEN_DIR)
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))
