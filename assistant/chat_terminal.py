"""`assistant chat` at a terminal and in a pipe.

At a terminal: a readline prompt (line editing, up-arrow history kept in
``chat_history_file``), answers streamed and then replaced by the verified answer with its
footnotes, the chat commands, Ctrl-C to stop an answer, Ctrl-D to leave. The index and the
model load in the background while the first question is typed, so the prompt appears at
once.

In a pipe: one question (or command) per line, all one conversation; ``--json`` prints one
line per question in the ``ask --json`` shape.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Callable, Iterable, TextIO

from . import ui
from .chat import ChatCommandError, ChatSession, Command, command_help, parse_command
from .config import Settings
from .errors import AssistantError, IndexError_, ProviderError, ProviderUnavailable, QuestionError

__all__ = ["open_chat_session", "run_piped", "run_interactive"]

# Errors after which the conversation goes on; anything else (no index, a provider that
# cannot run) ends it with its one line.
_RECOVERABLE = (ChatCommandError, QuestionError, ProviderError)


def open_chat_session(settings: Settings, k: int | None = None) -> ChatSession:
    """A session over the configured index; a clear error if there is nothing to ask about."""
    from .errors import IndexNotFound
    from .service import open_answerer

    _check_index_exists(settings)
    answerer = open_answerer(settings)
    if answerer.searcher.is_empty():
        raise IndexNotFound.nothing_in(settings.index_location)
    return ChatSession(answerer, settings, k)


def run_command(session: ChatSession, command: Command, as_json: bool = False) -> None:
    """Carry out one chat command (not /quit) and print what it shows."""
    emit = ui.print_json if as_json else None
    if command.name == "help":
        ui.print_chat_help(command_help())
    elif command.name == "reset":
        session.reset()
        ui.print_note("conversation cleared: the next question starts afresh")
    elif command.name == "provider":
        if not command.argument:
            from .providers.registry import provider_names

            switches = "|".join(provider_names())
            ui.print_note(f"answering with: {session.provider_name} (/provider {switches} switches)")
        else:
            with ui.status(f"loading the {command.argument.strip().lower()} provider..."):
                name = session.use_provider(command.argument)
            ui.print_note(f"now answering with: {name}")
    elif command.name == "sources":
        answer, cited = session.sources()
        if emit:
            emit(
                {
                    "sources": [
                        {
                            **h.passage.as_json(),
                            "score": round(h.score, 6),
                            "cited_as": cited.get(h.passage.chunk_id),
                        }
                        for h in answer.passages
                    ]
                }
            )
        else:
            ui.print_sources(answer, cited)
    elif command.name == "source":
        view = session.source(command.number())
        emit(view.as_json()) if emit else ui.print_source(view)
    elif command.name == "open":
        view = session.article_around(command.number())
        emit(view.as_json()) if emit else ui.print_article_view(view)


def run_piped(session_factory: Callable[[], ChatSession], lines: Iterable[str], as_json: bool) -> int:
    """Answer each line of ``lines`` in one conversation; returns the exit code (1 if any
    question failed, after trying them all)."""
    session = session_factory()
    failed = False
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            command = parse_command(line)
            if command is not None and command.name == "quit":
                break
            if command is not None and command.name != "retry":
                run_command(session, command, as_json)
                continue
            events = session.retry() if command is not None else session.ask(line)
            if as_json:
                ui.print_json(_last_answer(events).as_json())
            else:
                ui.show_answer_stream(events)
                ui.print_blank()
        except ProviderUnavailable:
            raise
        except _RECOVERABLE as exc:
            ui.print_error(str(exc))
            failed = True
    return 1 if failed else 0


def _last_answer(events):
    from .answer import Done

    answer = None
    for event in events:
        if isinstance(event, Done):
            answer = event.answer
    return answer


class _Loading:
    """Opens the session and warms it up (loads the model, reads prompts ahead) in the
    background while the user types; :meth:`get` waits for the session and re-raises what
    opening it failed with. :meth:`stop` ends the warm-ups before the chat exits: llama.cpp
    aborts the process if it exits while the engine runs a request on another thread."""

    def __init__(self, factory: Callable[[], ChatSession]):
        self._session: ChatSession | None = None
        self._error: BaseException | None = None
        self._opened = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._open_and_warm_up, factory)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name="chat-loading", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _open_and_warm_up(self, factory) -> None:
        try:
            self._session = factory()
        except BaseException as exc:  # handed to the main thread by get()
            self._error = exc
        finally:
            self._opened.set()
        if self._session is not None:
            self._warm_up(self._session)

    def _warm_up(self, session: ChatSession) -> None:
        if self._stopping.is_set():
            return
        try:
            session.warm_up()
        except AssistantError:
            pass  # the next question meets the same error and reports it

    def warm_up_again(self, session: ChatSession) -> None:
        """Warm up in the background again (after /provider switched the model)."""
        self._start(self._warm_up, session)

    def get(self) -> ChatSession:
        if not self._opened.is_set():
            with ui.status("opening the index and loading the model..."):
                self._opened.wait()
        if self._error is not None:
            raise self._error
        assert self._session is not None
        return self._session

    def ready(self, session: ChatSession) -> None:
        """Before a question: wait, with a spinner, for the model the background warm-up
        is loading (or the local model server it is starting)."""
        provider = session.answerer.provider
        if message := provider.loading_message():
            with ui.status(message):
                provider.warm_up()

    def stop(self) -> None:
        """Stop reading ahead and wait for the background work to end (at most one of the
        model's reading batches, or the rest of loading it: seconds)."""
        self._stopping.set()
        if self._session is not None:
            self._session.close()
        running = [thread for thread in self._threads if thread.is_alive()]
        if running:
            with ui.status("letting the model finish its current step..."):
                for thread in running:
                    thread.join(timeout=60)


class _LineHistory:
    """Up-arrow history through readline, appended to ``path`` line by line so that a
    killed session keeps what was typed."""

    def __init__(self, path: Path, length: int = 1000):
        import readline

        self.readline = readline
        self.path = path
        readline.set_auto_history(False)
        readline.set_history_length(length)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
            readline.read_history_file(path)
            self.writable = True
        except OSError:
            self.writable = False  # history stays in memory for this session

    def add(self, line: str) -> None:
        readline = self.readline
        last = readline.get_history_item(readline.get_current_history_length())
        if line != last:
            readline.add_history(line)
            if self.writable:
                try:
                    readline.append_history_file(1, self.path)
                except OSError:
                    self.writable = False


def _prompt(colour: bool) -> str:
    # \001 and \002 tell readline the colour codes take no room on the line
    return "\001\033[1;36m\002› \001\033[0m\002" if colour else "› "


def run_interactive(
    settings: Settings, session_factory: Callable[[], ChatSession], stdin: TextIO = sys.stdin
) -> int:
    """The terminal chat; returns the exit code."""
    import signal

    # Ctrl-C must stop an answer even when the chat inherited "ignore SIGINT" (as a shell's
    # background jobs do, and Python then keeps it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _check_index_exists(settings)
    history = _LineHistory(settings.chat_history_file)
    loading = _Loading(session_factory)
    try:
        return _converse(loading, history)
    finally:
        loading.stop()


def _converse(loading: _Loading, history: _LineHistory) -> int:
    """Read and answer lines until Ctrl-D or /quit; returns the exit code."""
    ui.print_note(
        "Ask about the ingested articles. /help lists commands; Ctrl-C stops an answer; Ctrl-D leaves."
    )
    prompt = _prompt(ui.is_colour_terminal())
    while True:
        try:
            line = input(prompt).strip()
        except EOFError:
            ui.print_blank()
            return 0
        except KeyboardInterrupt:  # like a shell: drop the line, keep the session
            ui.print_blank()
            continue
        if not line:
            continue
        history.add(line)
        command = None
        try:
            command = parse_command(line)
            if command is not None and command.name == "quit":
                return 0
            session = loading.get()
            if command is None:
                loading.ready(session)
                ui.show_answer_stream(session.ask(line))
            elif command.name == "retry":
                loading.ready(session)
                ui.show_answer_stream(session.retry())
            else:
                run_command(session, command)
                if command.name == "provider" and command.argument:
                    loading.warm_up_again(session)  # as at the start: read prompts ahead while the user types
        except KeyboardInterrupt:
            if command is None or command.name == "retry":
                ui.print_note("(stopped: the answer was cancelled; ask again or /retry)")
            else:
                ui.print_note(f"(stopped: /{command.name} was cancelled)")
        except (IndexError_, ProviderUnavailable):
            raise
        except _RECOVERABLE as exc:
            ui.print_error(str(exc))
        ui.print_blank()


def _check_index_exists(settings: Settings) -> None:
    """Fail before the prompt appears when there is plainly no index (a cheap check: the
    full one runs in the background)."""
    from .store import index_marker_exists

    if not settings.uses_server and not index_marker_exists(settings.index_dir):
        from .errors import IndexNotFound

        raise IndexNotFound.nothing_in(settings.index_location)
