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
        out.print(escape(p.text), soft_wrap=True)
        out.print()


def print_stats(figures: dict) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    size = figures["size_bytes"]
    rows = {
        "location": figures["location"],
        "articles": f"{figures['articles']:,}",
        "passages": f"{figures['passages']:,}",
        "embedding model": figures["embedding_model"],
        "size on disk": "n/a (server)" if size is None else f"{size / 1e6:.1f} MB",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    _console().print(table)


def _strip_markers(text: str) -> str:
    """Streamed text without the model's raw [n] markers: they are not verified yet."""
    import re

    return re.sub(r"\s*\[[^\]]{0,20}\]", "", text)


def show_answer_stream(events) -> Answer:
    """Stream the provider's text while it is written (on a terminal), then replace it with
    the verified answer and its citations. Off a terminal only the verified answer prints."""
    from .answer import Done, Piece, Retrieved

    out = _console()
    answer = None
    if not out.is_terminal:
        for event in events:
            if isinstance(event, Done):
                answer = event.answer
        print_answer(answer)
        return answer
    from rich.live import Live
    from rich.text import Text

    written = ""
    with Live(Text("searching the articles...", style="dim"), console=out, transient=True, refresh_per_second=12) as live:
        for event in events:
            if isinstance(event, Retrieved):
                live.update(Text(f"reading {len(event.hits)} passages...", style="dim"))
            elif isinstance(event, Piece):
                written += event.text
                live.update(Text(_strip_markers(written), style="dim"))
            elif isinstance(event, Done):
                answer = event.answer
    print_answer(answer)
    return answer


def print_answer(answer: Answer) -> None:
    from rich.markup import escape

    out = _console()
    out.print(escape(answer.text), soft_wrap=True)
    if answer.refused:
        if answer.passages:
            out.print("\n[dim]Closest passages:[/]")
            for hit in answer.passages:
                p = hit.passage
                out.print(f"[dim]- {escape(p.title)} ({escape(p.source)}): {escape(p.text[:160])}...[/]", soft_wrap=True)
        return
    out.print()
    for c in answer.citations:
        out.print(
            f"[bold][{c.n}][/] [cyan]{escape(c.passage.title)}[/] [dim]{escape(c.passage.source)} "
            f"[{c.quote_start}:{c.quote_end}][/]",
            soft_wrap=True,
        )
        out.print(f"    [italic]“{escape(c.quote)}”[/]", soft_wrap=True)
