"""The ``assistant`` command. Thin on purpose: each command parses options, calls the
package, and prints. Heavy imports happen inside the commands so ``--help`` is instant."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__


def _settings(ctx: click.Context, **overrides):
    from .config import load_settings

    return load_settings(config_file=ctx.obj.get("config"), **overrides)


def _start_model_early(settings) -> None:
    """Have the provider's model (the local model server) load while the command imports its
    modules and opens the index (about 2 s), rather than after."""
    from .providers.registry import start_early

    start_early(settings)


class _ProviderChoice(click.Choice):
    """The providers in the registry, read when an option is parsed or its help shown (so
    that ``--help`` imports no provider, and one registered later is a choice too)."""

    def __init__(self) -> None:  # no fixed choices to store
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from .providers.registry import provider_names

        return provider_names()


class _ProviderOption(click.Option):
    """``--provider``: its help lists every provider in the registry with what it is."""

    def __init__(self, *args, lead: str, **kwargs) -> None:
        self._lead = lead
        super().__init__(*args, type=_ProviderChoice(), **kwargs)

    @property
    def help(self) -> str:  # type: ignore[override]
        from .providers.registry import describe_providers

        return f"{self._lead}: {describe_providers()}."

    @help.setter
    def help(self, value) -> None:  # click sets it in __init__; the property makes it
        pass


def provider_option(lead: str):
    return click.option("--provider", cls=_ProviderOption, lead=lead)


def _print_json(data: dict) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


class _Group(click.Group):
    """Turns user errors into one line on stderr, never a traceback."""

    def invoke(self, ctx: click.Context):
        from .errors import AssistantError

        try:
            return super().invoke(ctx)
        except AssistantError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="assistant")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file.")
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """Ask questions about news articles; every answer cites its passages."""
    ctx.obj = {"config": config}


index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Index folder (default: index/).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON line instead of text.")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@index_option
@click.option(
    "--prune", is_flag=True, help="Also remove articles whose files are gone (never those from URLs)."
)
@json_option
@click.pass_context
def ingest(
    ctx: click.Context, paths: tuple[str, ...], index_dir: Path | None, prune: bool, as_json: bool
) -> None:
    """Add articles to the index: files or folders (.txt .md .html .json .jsonl, RSS/Atom
    .xml .rss .atom, .pdf) and http(s):// URLs of pages, feeds or PDFs (fetched only when
    named; a re-ingest asks the server what changed)."""
    from .fetch import is_url
    from .ingest import ingest as run_ingest
    from .ui import ingest_progress, print_ingest_report

    settings = _settings(ctx, index_dir=index_dir)
    sources = [p if is_url(p) else Path(p) for p in paths]
    with ingest_progress(enabled=not as_json) as progress:
        report = run_ingest(sources, settings, prune=prune, progress=progress)
    if as_json:
        _print_json(report.as_json())
    else:
        print_ingest_report(report, settings)
    if report.missing_paths or not (report.ingested_anything or report.removed):
        sys.exit(1)


@main.command()
@click.argument("query")
@click.option("--k", type=click.IntRange(1, 200), help="How many passages (default 5).")
@index_option
@click.option("--source", "sources", multiple=True, help="Only passages from this source (repeatable).")
@click.option("--since", help="Only articles published on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Only articles published on or before this date (YYYY-MM-DD).")
@json_option
@click.pass_context
def search(ctx, query, k, index_dir, sources, since, until, as_json) -> None:
    """Rank the passages that match QUERY (dense + BM25)."""
    from .retrieval import make_filter
    from .service import open_searcher
    from .ui import print_hits

    settings = _settings(ctx, index_dir=index_dir)
    where = make_filter(list(sources), since, until)
    hits = open_searcher(settings).search(query, k, where)
    if as_json:
        _print_json({"results": [hit_json(h) for h in hits]})
    else:
        print_hits(query, hits)


@main.command()
@click.argument("question")
@index_option
@provider_option("Who writes the answer")
@click.option("--k", type=click.IntRange(1, 20), help="Passages given to the provider (default 3).")
@click.option("--source", "sources", multiple=True, help="Only passages from this source (repeatable).")
@click.option("--since", help="Only articles published on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Only articles published on or before this date (YYYY-MM-DD).")
@json_option
@click.pass_context
def ask(ctx, question, index_dir, provider, k, sources, since, until, as_json) -> None:
    """Answer QUESTION from the articles, citing a passage for every sentence."""
    settings = _settings(ctx, index_dir=index_dir, provider=provider)
    _start_model_early(settings)
    from .ui import show_answer_stream, status

    with status("opening the index..." if not as_json else ""):
        from .retrieval import make_filter
        from .service import open_answerer

        where = make_filter(list(sources), since, until)
        answerer = open_answerer(settings)
    if loading := answerer.provider.loading_message():  # e.g. the local model server starting
        with status(loading if not as_json else ""):
            answerer.provider.warm_up()
    if as_json:
        _print_json(answerer.ask(question, k, where).as_json())
    else:
        show_answer_stream(answerer.stream(question, k, where))


@main.command(name="eval")
@click.option("--dataset", type=click.Path(dir_okay=False, path_type=Path), help="Golden questions (JSONL).")
@provider_option("Who writes the answers")
@click.option(
    "--repeat",
    type=click.IntRange(1, 10),
    default=1,
    show_default=True,
    help="Runs, to flag unstable questions.",
)
@click.option(
    "--split",
    type=click.Choice(["all", "dev", "test"]),
    default="all",
    show_default=True,
    help="Questions to ask: 'dev' to tune on, 'test' to report (never read its failures while tuning).",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A previous JSON report to compare with.",
)
@click.option(
    "--json-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report here."
)
@click.option(
    "--markdown-out", type=click.Path(dir_okay=False, path_type=Path), help="Write a Markdown summary here."
)
@click.option(
    "--hostile",
    is_flag=True,
    help="Also ask over the corpus mixed with the prompt-injection articles (evals/hostile/) "
    "and gate on the injection rate.",
)
@click.option(
    "--hostile-sample",
    type=click.IntRange(1, 10_000),
    help="Ask only N questions in the hostile run (those reaching hostile passages first); "
    "implies --hostile.",
)
@click.pass_context
def eval_command(
    ctx, dataset, provider, repeat, split, baseline, json_out, markdown_out, hostile, hostile_sample
) -> None:
    """Run the golden questions through the assistant and gate on the metrics."""
    from .eval_ui import run_eval_with_progress
    from .evals import DEFAULT_DATASET, EvalOptions

    settings = _settings(ctx, provider=provider)
    options = EvalOptions(
        dataset=dataset or DEFAULT_DATASET,
        provider=settings.provider,
        repeat=repeat,
        split=split,
        baseline=baseline,
        json_out=json_out,
        markdown_out=markdown_out,
        hostile=hostile or bool(hostile_sample),
        hostile_sample=hostile_sample,
    )
    if not run_eval_with_progress(settings, options):
        sys.exit(1)


def hit_json(hit) -> dict:
    return {**hit.passage.as_json(), "score": round(hit.score, 6)}


@main.group(cls=_Group)
def index() -> None:
    """Inspect the index."""


@index.command()
@index_option
@json_option
@click.pass_context
def stats(ctx, index_dir, as_json) -> None:
    """Articles, passages, embedding model and size of the index."""
    from .service import index_stats
    from .ui import print_stats

    figures = index_stats(_settings(ctx, index_dir=index_dir))
    if as_json:
        _print_json(figures)
    else:
        print_stats(figures)


@main.command()
@index_option
@provider_option("Who writes the answers")
@click.option(
    "--k", type=click.IntRange(1, 20), help="Passages given to the provider per question (default 3)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Read questions line by line; print one JSON line per answer."
)
@click.pass_context
def chat(ctx, index_dir, provider, k, as_json) -> None:
    """Talk with the articles: follow-up questions, streamed cited answers, /source N to
    read a citation's passage (/help lists the commands). Reads one question per line
    when stdin is not a terminal."""
    settings = _settings(ctx, index_dir=index_dir, provider=provider)
    _start_model_early(settings)
    from .chat_terminal import open_chat_session, run_interactive, run_piped

    opener = lambda: open_chat_session(settings, k)  # noqa: E731
    if sys.stdin.isatty() and not as_json:
        sys.exit(run_interactive(settings, opener))
    sys.exit(run_piped(opener, sys.stdin, as_json))


@main.group(cls=_Group)
def server() -> None:
    """The local model server: one per user, shared by every command, started on demand
    and stopped after `server_idle_s` without requests."""


@server.command(name="status")
@json_option
@click.pass_context
def server_status(ctx, as_json) -> None:
    """Whether the local model server runs, what it runs, how long it has been idle."""
    from .providers.model_server import server_report
    from .ui import print_server_status

    report = server_report(_settings(ctx))
    _print_json(report) if as_json else print_server_status(report)
    if not report["running"]:
        sys.exit(1)


@server.command(name="start")
@click.pass_context
def server_start(ctx) -> None:
    """Start the local model server now (the first command needing it otherwise does)."""
    from .providers.local import model_server_for
    from .ui import status

    model_server = model_server_for(_settings(ctx))
    with status("starting the local model server..."):
        info = model_server.wait_ready()
    click.echo(f"local model server ready (pid {info['pid']}, socket {model_server.socket_path})")


@server.command(name="stop")
@click.pass_context
def server_stop(ctx) -> None:
    """Stop the local model server (an answer it is writing stops too)."""
    from .providers.model_server import ModelServer, server_folder

    pid = ModelServer(folder=server_folder(_settings(ctx))).stop()
    click.echo(f"stopped the local model server (pid {pid})" if pid else "no local model server was running")
