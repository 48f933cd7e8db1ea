"""Not code: this marker lets the build ship prompts/ as ``assistant.bundled.prompts``
(see ``pyproject.toml`` and ``assistant/bundled``)."""
