"""The package installs as a wheel and works outside the checkout: prompts, the eval set
and the sample article travel inside it (``assistant.bundled``)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import REPO, SAMPLE


def _listed_packages() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def test_every_package_under_assistant_is_listed_for_the_build():
    # pyproject lists its packages (it maps prompts/ and evals/ in); a new subpackage left
    # out of the list would be missing from every installed copy.
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "assistant").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found and found <= _listed_packages(), (
        f"add to pyproject.toml's packages: {sorted(found - _listed_packages())}"
    )


def test_bundled_folders_are_the_repository_folders_in_a_checkout():
    from assistant.bundled import evals_dir, prompts_dir

    assert prompts_dir().resolve() == (REPO / "prompts").resolve()
    assert (evals_dir() / "golden.jsonl").is_file()
    # The sample article is part of the eval corpus: the golden questions ask about it.
    assert (evals_dir() / "corpus" / SAMPLE.name).read_bytes() == SAMPLE.read_bytes()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project built as a wheel and installed into a folder of its own (its
    dependencies come from this environment)."""
    work = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(REPO)], check=True
    )
    (wheel,) = (work / "dist").glob("assistant-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(work / "site"), str(wheel)], check=True)
    return work


def _run(installed: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    # No settings of the caller's, but the test's own model server folder, so that the ask's
    # server is the one the test's teardown stops.
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_") or k == "ASSISTANT_SERVER_DIR"
    }
    environ.update(PYTHONPATH=str(installed / "site"), TERM="dumb", **env)
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_an_installed_wheel_ingests_answers_and_evaluates_from_any_folder(installed, tmp_path):
    where = _run(installed, tmp_path, "--help")
    assert where.returncode == 0
    probe = subprocess.run(
        [sys.executable, "-c", "import assistant.bundled as b; print(b.__file__); print(b.prompts_dir())"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed / "site")}, capture_output=True,
        text=True,
    )  # fmt: skip
    assert all(line.startswith(str(installed / "site")) for line in probe.stdout.split()), probe.stdout

    article = tmp_path / "news" / "story.txt"
    article.parent.mkdir()
    article.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    index = str(tmp_path / "index")
    ingested = _run(installed, tmp_path, "ingest", "news", ASSISTANT_INDEX=index)
    assert ingested.returncode == 0, ingested.stderr
    # The default provider: the local model, with the prompts the wheel carries.
    asked = _run(installed, tmp_path, "ask", "What did Alibaba deny?", "--json", ASSISTANT_INDEX=index)
    assert asked.returncode == 0, asked.stderr
    assert '"refused": false' in asked.stdout and "story.txt" in asked.stdout

    report = tmp_path / "report.json"
    evaluated = _run(
        installed, tmp_path, "eval", "--provider", "extractive", "--split", "dev", "--json-out", str(report),
        ASSISTANT_CACHE_DIR=str(tmp_path / "cache"),
    )  # fmt: skip
    # The gate's thresholds are for the whole set, so on the dev split alone it may say no
    # (exit 1, one line); what matters here is that the run completed from the wheel's files.
    assert evaluated.returncode in (0, 1) and "Traceback" not in evaluated.stderr, evaluated.stderr
    assert str(installed / "site") in report.read_text(encoding="utf-8")  # the wheel's own eval set
