"""Not code: this marker lets the build ship evals/ as ``assistant.bundled.evals``
(see ``pyproject.toml`` and ``assistant/bundled``)."""
