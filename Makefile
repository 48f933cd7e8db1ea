# The two commands a newcomer needs: `make chat` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install chat check lint test ingest bench bench-html clean-index eval-extractive eval-local eval-openai

install: $(STAMP)

# Re-runs only when the project's requirements change, so a second `make install` is instant.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@test -x $(BIN)/assistant
	@touch $(STAMP)

ingest: install
	$(BIN)/assistant ingest articles/

chat: ingest
	$(BIN)/assistant chat

# The fast loop while changing code (under 2 minutes on 2 cores): lint, format check, and the
# tests not marked slow (those start processes, servers or the local model).
check: lint
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Lint, all tests, then the eval gate with the extractive provider (fast, deterministic) and the
# default local LLM; each writes a JSON and a Markdown report under evals/reports/.
test: lint
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory eval-extractive eval-local

# Explicit targets: make skips pattern rules for .PHONY targets.
EVAL = $(BIN)/assistant eval --json-out evals/reports/$(1).json --markdown-out evals/reports/$(1).md --provider $(1)

# The extractive gate also asks every question over the corpus mixed with prompt-injection articles.
eval-extractive: install
	$(call EVAL,extractive) --hostile

# The local gate asks 24 questions over the hostile corpus too (those reaching hostile
# passages first), reusing its clean answers: about 3 minutes more.
eval-local: install
	$(call EVAL,local) --hostile-sample 24

eval-openai: install
	$(call EVAL,openai)

# The benchmark suite (article extraction from 60 real pages, start-up, ingest and search at
# 1k and 10k passages with the plain LangChain recipe side by side, a Chroma server, answer
# latency per provider). Add
# SIZES=1000,10000,100000 for the 100k index (about an hour more on 2 cores).
SIZES ?= 1000,10000
bench: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python bench/suite.py --sizes $(SIZES)

# Article-body F1 of the HTML reader on the 60 pages of ../shared/bench/html-articles/ (with
# that benchmark's own scorer) beside the old hand-written reader, and pages/s through the
# loader; then the hand-written decoder against charset-normalizer. About 10 s.
bench-html: install
	$(BIN)/python bench/html_extraction.py --out bench/results/html_extraction.json
	$(BIN)/python bench/decoding.py

clean-index:
	find index -mindepth 1 ! -name .gitignore ! -name README.md -exec rm -rf {} +
