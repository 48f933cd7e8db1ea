"""Terminal rendering with rich: progress bars, tables, passages. Colour and bars only
on a terminal; piped output stays plain."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from .ingest import IngestProgress
from .models import Answer, IngestReport, SearchHit

_err_console = None
_out_console = None


def _console(err: bool = False):
    global _err_console, _out_console
    from rich.console import Console

    if err:
        _err_console = _err_console or Console(stderr=True, highlight=False)
        return _err_console
    _out_console = _out_console or Console(highlight=False)
    return _out_console


@contextmanager
def ingest_progress(enabled: bool) -> Iterator[IngestProgress]:
    if not (enabled and sys.stderr.isatty()):
        yield IngestProgress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=_console(err=True), transient=True) as bar:
        tasks: dict[str, int] = {}

        def files(total: int) -> None:
            tasks["files"] = bar.add_task("reading files", total=total)

        def embed_start(total: int) -> None:
            tasks["embed"] = bar.add_task("embedding passages", total=total)

        yield IngestProgress(
            on_files=files,
            on_file_done=lambda _path: bar.advance(tasks["files"]),
            on_embed_start=embed_start,
            on_embedded=lambda n: bar.advance(tasks["embed"], n),
        )


def print_ingest_report(report: IngestReport, settings) -> None:
    out = _console()
    err = _console(err=True)
    for skipped in report.skipped:
        err.print(f"[yellow]skipped[/] {skipped.path}: {skipped.reason}", markup=True, soft_wrap=True)
    out.print(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.removed} removed; {report.chunks} passages embedded; {len(report.skipped)} skipped "
        f"(index: {settings.index_dir if not settings.uses_server else settings.chroma_host})",
        soft_wrap=True,
    )
    if not (report.ingested_anything or report.removed):
        err.print("[red]error:[/] nothing could be ingested from the given paths", markup=True)


def print_hits(query: str, hits: list[SearchHit]) -> None:
    out = _console()
    if not hits:
        out.print(f"no passages match '{query}'")
        return
    from rich.markup import escape

    for rank, hit in enumerate(hits, start=1):
        p = hit.passage
        out.print(
            f"[bold]{rank}.[/] [cyan]{escape(p.title)}[/] [dim]{escape(p.source)} [{p.start}:{p.end}] "
            f"score {hit.score:.4f} (dense #{hit.dense_rank or '-'}, bm25 #{hit.lexical_rank or '-'})[/]"
        )
        out.print(escape(p.text), soft_wrap=_one_line_per_item(out))
        out.print()


def print_stats(figures: dict) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    size = figures["size_bytes"]
    rows = {
        "location": figures["location"],
        "articles": f"{figures['articles']:,}",
        "of them feed summaries only": f"{figures.get('summary_only_articles', 0):,}",
        "passages": f"{figures['passages']:,}",
        "embedding model": figures["embedding_model"],
        "size on disk": "n/a (server)" if size is None else f"{size / 1e6:.1f} MB",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    _console().print(table)


def show_answer_stream(events) -> Answer:
    """Stream the provider's text while it is written (on a terminal), then replace it with
    the verified answer and its citations. Off a terminal only the verified answer prints.
    A follow-up's standalone rewrite shows as a dim line first. If the caller is
    interrupted (Ctrl-C), the streamed text vanishes and the events are closed, which
    stops the provider: a half answer is never left on screen as if it were complete."""
    from contextlib import closing

    from .answer import Done, Piece, Retrieved, Rewritten

    out = _console()
    answer = None
    with closing(events):
        if not out.is_terminal:
            for event in events:
                if isinstance(event, Rewritten):
                    out.print(f"↳ {event.question}", markup=False, soft_wrap=True)
                elif isinstance(event, Done):
                    answer = event.answer
            print_answer(answer)
            return answer
        from rich.live import Live
        from rich.markup import escape
        from rich.spinner import Spinner
        from rich.text import Text

        from .citations import strip_markers

        written = ""
        status = Spinner("dots", text=Text("searching the articles...", style="dim"), style="dim")
        with Live(status, console=out, transient=True, refresh_per_second=12) as live:
            for event in events:
                if isinstance(event, Rewritten):
                    live.console.print(f"[dim]↳ {escape(event.question)}[/]")
                elif isinstance(event, Retrieved):
                    status.update(text=Text(f"reading {len(event.hits)} passages...", style="dim"))
                elif isinstance(event, Piece):
                    written += event.text
                    live.update(Text(strip_markers(written), style="dim"))  # not verified yet
                elif isinstance(event, Done):
                    answer = event.answer
    print_answer(answer)
    return answer


def print_answer(answer: Answer) -> None:
    from rich.markup import escape

    out = _console()
    pipe = _one_line_per_item(out)
    out.print(escape(answer.text), soft_wrap=pipe)
    if answer.refused:
        if answer.passages:
            out.print("\n[dim]Closest passages:[/]")
            for hit in answer.passages:
                p = hit.passage
                line = f"[dim]{escape(p.title)} ({escape(p.source)}): {escape(_snippet(p.text, 160))}[/]"
                _print_list_item(out, line)
        return
    out.print()
    for c in answer.citations:
        out.print(
            f"[bold][{c.n}][/] [cyan]{escape(c.passage.title)}[/] [dim]{escape(_cited_where(c))}, "
            f"chars {c.quote_start}–{c.quote_end}[/]",
            soft_wrap=pipe,
        )
        _print_indented(out, f"[italic]“{escape(c.quote)}”[/]", 4)


def _cited_where(citation) -> str:
    """The source of a citation, with the site that published it, the page of the quote
    (a PDF) and, for a feed entry stored as its summary, that it is one."""
    p = citation.passage
    where = p.source if not p.site or p.site in p.source else f"{p.site}, {p.source}"
    page = p.page_at(citation.quote_start)
    if page is not None:
        where += f", p. {page}"
    return where + (" (feed summary)" if p.summary_only else "")


def _one_line_per_item(out) -> bool:
    """Off a terminal each item is one line (scripts read them); on one, text wraps at
    words to the window instead of the terminal cutting words in two."""
    return not out.is_terminal


def _print_indented(out, markup: str, by: int) -> None:
    """``markup`` with every line indented ``by``: wrapped to the window on a terminal; in
    a pipe, its own lines only (those after the first one further, under its opening mark)."""
    if _one_line_per_item(out):
        out.print(" " * by + markup.replace("\n", "\n" + " " * (by + 1)), soft_wrap=True)
        return
    from rich.padding import Padding
    from rich.text import Text

    out.print(Padding(Text.from_markup(markup), (0, 0, 0, by), expand=False))


def _print_list_item(out, markup: str) -> None:
    """``markup`` after a "- ": on a terminal wrapped to the window, the lines after the
    first aligned under it; in a pipe, one line."""
    if _one_line_per_item(out):
        out.print(f"[dim]-[/] {markup}", soft_wrap=True)
        return
    from rich.table import Table
    from rich.text import Text

    item = Table.grid()
    item.add_column(width=2, style="dim")
    item.add_column()
    item.add_row("-", Text.from_markup(markup))
    out.print(item)


def _snippet(text: str, most: int) -> str:
    """``text`` on one line, cut to ``most`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[:most].rstrip() + "…"


# -- chat ---------------------------------------------------------------------------------


def print_json(data: dict) -> None:
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_blank() -> None:
    _console().print()


def is_colour_terminal() -> bool:
    out = _console()
    return out.is_terminal and out.color_system is not None


def status(text: str):
    """A spinner with ``text`` on a terminal (a context manager); nothing elsewhere."""
    from contextlib import nullcontext

    out = _console()
    return out.status(f"[dim]{text}[/]", spinner="dots") if text and out.is_terminal else nullcontext()


def print_chat_help(commands: dict[str, tuple[str, str]]) -> None:
    out = _console()
    out.print("Type a question about the articles, or a command:")
    for name, (argument, what) in commands.items():
        out.print(f"  [bold]/{name}{' ' + argument if argument else ''}[/]".ljust(30) + f"[dim]{what}[/]")
    out.print("[dim]Ctrl-C stops an answer being written; Ctrl-D leaves.[/]")


def print_note(text: str) -> None:
    from rich.markup import escape

    out = _console()
    out.print(f"[dim]{escape(text)}[/]", soft_wrap=_one_line_per_item(out))


def print_error(text: str) -> None:
    from rich.markup import escape

    err = _console(err=True)
    err.print(f"[red]error:[/] {escape(text)}", soft_wrap=_one_line_per_item(err))


def print_sources(answer: Answer, cited: dict[str, int]) -> None:
    """The passages the last answer read, in retrieval order, with their scores and the
    citation number of those it cites."""
    from rich.markup import escape

    out = _console()
    pipe = _one_line_per_item(out)
    if not answer.passages:
        out.print("The last answer read no passages (nothing in the index matched).")
        return
    out.print(
        f"[dim]Passages read for: {escape(answer.standalone_question or answer.question)}[/]", soft_wrap=pipe
    )
    for rank, hit in enumerate(answer.passages, start=1):
        p = hit.passage
        label = f"[bold][{cited[p.chunk_id]}][/]" if p.chunk_id in cited else "[dim]not cited[/]"
        out.print(
            f"{rank}. {label} [cyan]{escape(p.title)}[/] [dim]{escape(p.source)} chars {p.start}–{p.end}; "
            f"score {hit.score:.4f} (dense #{hit.dense_rank or '-'}, bm25 #{hit.lexical_rank or '-'})[/]",
            soft_wrap=pipe,
        )
        _print_indented(out, escape(_snippet(p.text, 200)), 3)


def print_source(view) -> None:
    """A :class:`~assistant.chat.SourceView`: the whole passage, its quoted span highlighted."""
    from rich.markup import escape
    from rich.text import Text

    out = _console()
    pipe = _one_line_per_item(out)
    p = view.passage
    out.print(
        f"[bold][{view.n}][/] [cyan]{escape(p.title)}[/] [dim]{escape(p.source)}, chars {p.start}–{p.end} "
        f"of the article (passage {p.position + 1}, {p.chunk_id})[/]",
        soft_wrap=pipe,
    )
    text = Text(p.text)
    text.stylize("bold yellow", view.quote_start, view.quote_end)
    out.print(text, soft_wrap=pipe)
    if pipe:  # no highlight off a terminal: say which span it is
        out.print(f"quoted: “{p.text[view.quote_start : view.quote_end]}”", markup=False, soft_wrap=True)


def print_article_view(view) -> None:
    """An :class:`~assistant.chat.ArticleView`: the cited passage in full colour, the
    article around it dimmed."""
    from rich.markup import escape
    from rich.text import Text

    out = _console()
    pipe = _one_line_per_item(out)
    p = view.passage
    out.print(
        f"[bold][{view.n}][/] [cyan]{escape(p.title)}[/] "
        f"[dim]{escape(p.source)}, chars {view.start}–{view.end} of {view.article_length}[/]",
        soft_wrap=pipe,
    )
    text = Text(view.text, style="dim")
    text.stylize("not dim", p.start - view.start, p.end - view.start)
    text.stylize("bold yellow", view.quote_start - view.start, view.quote_end - view.start)
    if view.start > 0:
        out.print("[dim]…[/]")
    out.print(text, soft_wrap=pipe)
    if view.end < view.article_length:
        out.print("[dim]…[/]")


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def print_server_status(report: dict) -> None:
    """`assistant server status`: a few lines about the local model server."""
    from rich.markup import escape

    out = _console()
    if not report["running"]:
        stale = (
            f" (pid {report['stale_pid']} ended without cleaning up; the next command replaces it)"
            if report.get("stale_pid")
            else ""
        )
        out.print(
            f"no local model server running{stale}; the first command that needs the local model starts one",
            markup=False,
            soft_wrap=True,
        )
        return
    if report.get("state") == "not answering":
        out.print(
            f"local model server pid {report['pid']} is running but does not answer: "
            "`assistant server stop` ends it",
            markup=False,
            soft_wrap=True,
        )
        return
    state = report["state"] + (
        f", loaded in {report['load_s']} s" if report.get("load_s") is not None else ""
    )
    out.print(f"[bold]local model server[/]: {escape(state)} (pid {report['pid']})")
    rows = [
        ("model", f"{report['model']} ({report['threads']} threads, {report['context']}-token context)"),
        ("socket", report["socket"]),
        (
            "up",
            f"{_span(report['up_s'])}; idle {_span(report['idle_s'])} "
            f"(stops after {_span(report['idle_stop_s'])} idle)",
        ),
        ("requests", f"{report['served']} served, {report['active']} running"),
        (
            "prompts",
            f"{report['prompt_tokens_read']:,} tokens read, "
            f"{report['prompt_tokens_cached']:,} found in the cache",
        ),
    ]
    if report.get("rss_mb") is not None:
        rows.append(
            ("memory", f"{report['rss_mb'] / 1024:.2f} GB (peak {report['peak_rss_mb'] / 1024:.2f} GB)")
        )
    for label, value in rows:
        out.print(f"  {label + ':':<10}{escape(str(value))}", soft_wrap=True)
