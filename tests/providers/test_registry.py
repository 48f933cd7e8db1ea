"""The provider registry: one entry is all a new provider needs to be a setting, a
`--provider` choice (with its help) and a chat `/provider` name."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from assistant.answer import Answerer
from assistant.chat import ChatSession, Command, command_help
from assistant.chat_terminal import run_command
from assistant.cli import main
from assistant.config import load_settings
from assistant.errors import ConfigError
from assistant.providers import Provider, make_provider
from assistant.providers.registry import provider_names, register, unregister

from ..conftest import DENIAL


class EchoProvider(Provider):
    """A provider no module of the assistant knows: it writes the denial, citing [1]."""

    name = "echo"
    model = "echo-1"
    started_early: list[str] = []

    @classmethod
    def start_early(cls, settings) -> None:
        cls.started_early.append(settings.provider)

    def stream(self, question, passages):
        yield "Alibaba rejected the White House’s claims [1]."


@pytest.fixture
def echo_registered():
    EchoProvider.started_early.clear()
    register("echo", "a test's fake that echoes the denial", EchoProvider)
    yield
    unregister("echo")
    assert "echo" not in provider_names()


def test_the_registry_lists_the_providers_in_order():
    assert provider_names() == ("local", "openai", "extractive")
    with pytest.raises(
        ConfigError, match="unknown provider 'magic': choose one of local, openai, extractive"
    ):
        make_provider(load_settings(env={}), None, "magic")


def test_a_registered_provider_is_a_setting_then_no_longer(echo_registered):
    assert load_settings(env={"ASSISTANT_PROVIDER": "echo"}).provider == "echo"
    assert load_settings(env={}, provider="echo").provider == "echo"
    unregister("echo")
    with pytest.raises(
        ConfigError, match="invalid setting provider: Input should be 'local', 'openai' or 'extractive'$"
    ):
        load_settings(env={}, provider="echo")


def test_a_registered_provider_is_a_cli_choice_with_its_help(echo_registered, searcher, settings):
    runner = CliRunner()
    for command in ("ask", "chat", "eval"):
        shown = " ".join(runner.invoke(main, [command, "--help"]).output.split())  # unwrapped
        assert "[local|openai|extractive|echo]" in shown, shown
        assert "echo (a test's fake that echoes the denial)" in shown and "extractive (no model" in shown
    env = {"ASSISTANT_CACHE_DIR": str(settings.cache_dir)}
    args = [
        "ask",
        "What did Alibaba deny?",
        "--provider",
        "echo",
        "--json",
        "--index",
        str(settings.index_dir),
    ]
    asked = runner.invoke(main, args, env=env)
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.output)
    assert answer["provider"] == "echo" and answer["model"] == "echo-1" and not answer["refused"]
    assert any(DENIAL in citation["quote"] for citation in answer["citations"])
    # asked to start its model before the index opened (by the command, and again by the wiring)
    assert EchoProvider.started_early and set(EchoProvider.started_early) == {"echo"}
    unregister("echo")
    refused = runner.invoke(main, args, env=env)
    assert refused.exit_code == 2 and "'echo' is not one of 'local', 'openai', 'extractive'" in refused.output


def test_a_registered_provider_is_a_chat_provider(echo_registered, searcher, settings, capsys):
    session = ChatSession(
        Answerer(searcher, make_provider(settings, searcher, "extractive"), settings), settings
    )
    assert command_help()["provider"] == (
        "NAME",
        "answer with another provider: local, openai, extractive or echo",
    )
    run_command(session, Command("provider"))
    assert "(/provider local|openai|extractive|echo switches)" in capsys.readouterr().out
    assert session.use_provider("Echo") == "echo"
    answer = session.answerer.ask("What did Alibaba deny?")
    assert answer.provider == "echo" and not answer.refused
