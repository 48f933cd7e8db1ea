"""News-article question answering that cites every sentence."""

__version__ = "0.1.0"
