"""OpenAI, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp), streamed through the
``openai`` SDK. Every failure becomes one :class:`ProviderError` line naming the server,
what happened and what to do; the API key never appears in one.

Retries: the SDK's own loop is switched off (``max_retries=0``) so there is one loop, here.
The SDK's would only cover the request up to the response headers, would honour a
Retry-After of up to two minutes and cannot say how many attempts it made. Ours retries
HTTP 408/429/500/502/503/504, timeouts, connection errors and a reply that ends before any
text, at most ``provider_max_retries`` times, and only while no text has been yielded: once
part of the answer is out, a retry would repeat it, so a failure then is final (and the
caller gets no answer, never a half one presented as whole).

Worst-case wait before the error line, with r = provider_max_retries (at most 10) and
t = request_timeout_s: r + 1 attempts, each at most t to connect plus t per read (httpx
bounds each network operation, not the whole request; a reply that keeps streaming text is
bounded by max_answer_tokens), plus r waits of at most MAX_WAIT_S (10 s) each. With the
defaults (r=2, t=60 s) a server that accepts the connection and never answers costs
3 x 60 s + 0.5 s + 1 s; one that also takes t to accept, at most 3 x 2 x 60 s + 2 x 10 s
(about 6.3 min). A refused connection or an HTTP 5xx fails within 1.5 s (429: within the
Retry-After waits, 20 s at most).
"""

from __future__ import annotations

import email.utils
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlsplit, urlunsplit

from ..errors import ProviderError, ProviderUnavailable
from . import ChatProvider

if TYPE_CHECKING:
    from ..config import Settings
    from ..prompts import PromptSet

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
FIRST_BACKOFF_S = 0.5  # then doubled per retry
MAX_WAIT_S = 10.0  # longest wait between attempts; a longer Retry-After ends the retries


class _Failure(Exception):
    """One failed attempt, in words: ``what`` happened, whether a retry may help, the
    advice for the user and how long the server asked us to wait."""

    def __init__(self, what: str, advice: str, retry: bool, wait: float | None = None):
        self.what, self.advice, self.retry, self.wait = what, advice, retry, wait


def _shown_url(url: str) -> str:
    """The base URL without credentials or query (which could hold a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _retry_after(headers) -> float | None:
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if email.utils.parsedate_tz(value) else None
        return max(0.0, when.timestamp() - time.time()) if when else None


class OpenAIProvider(ChatProvider):
    name = "openai"

    def __init__(self, settings: "Settings", prompts: "PromptSet"):
        super().__init__(prompts)
        if settings.openai_api_key is None and settings.openai_base_url is None:
            raise ProviderUnavailable(
                "provider 'openai' needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server "
                "such as Ollama, vLLM or llama.cpp)"
            )
        import openai

        base_url = settings.openai_base_url or "https://api.openai.com/v1"
        self.model = settings.openai_model
        self.where = _shown_url(base_url)
        self.timeout = settings.request_timeout_s
        self.max_retries = settings.provider_max_retries
        self.max_tokens = settings.max_answer_tokens
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        self.client = openai.OpenAI(api_key=key, base_url=base_url, timeout=self.timeout, max_retries=0)

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.model!r}, server={self.where!r})"

    def close(self) -> None:
        self.client.close()

    def stream_messages(self, messages: list[dict[str, str]]) -> Iterator[str]:
        attempt = 0
        while True:
            attempt += 1
            progress = {"text": False}  # set by _attempt once it has yielded a piece
            try:
                yield from self._attempt(messages, progress)
                return
            except _Failure as failure:
                last = failure
            if progress["text"] or not last.retry or attempt > self.max_retries:
                break  # text is out (a retry would repeat it), a retry cannot help, or none left
            if last.wait is not None and last.wait > MAX_WAIT_S:
                last.what += f" and asked to wait {last.wait:.0f} s"
                break
            backoff = min(FIRST_BACKOFF_S * 2 ** (attempt - 1), MAX_WAIT_S)
            time.sleep(backoff if last.wait is None else last.wait)
        tries = f" after {attempt} attempts" if attempt > 1 else ""
        raise ProviderError(f"openai provider: {last.what}{tries}: {last.advice}")

    def _attempt(self, messages: list[dict[str, str]], progress: dict) -> Iterator[str]:
        """One request, its failures turned into :class:`_Failure` (exception chains and
        server messages are dropped: they are not ours to show and could echo the key)."""
        import openai

        answering = False  # the headers came: failures from here are mid-answer
        try:
            with self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                temperature=0,
                max_completion_tokens=self.max_tokens,
            ) as chunks:
                answering = True
                finished = False
                for chunk in chunks:
                    for choice in chunk.choices or ():
                        text = getattr(choice.delta, "content", None)
                        if isinstance(text, str) and text:
                            progress["text"] = True
                            yield text
                        finished = finished or bool(choice.finish_reason)
            if not finished:
                raise _Failure(
                    f"the answer from {self.where} ended before it was complete", "try again", True
                )
        except openai.APITimeoutError:
            what = f"the server at {self.where} did not answer within {self.timeout:g} s"
            advice = "try again later, or raise ASSISTANT_REQUEST_TIMEOUT_S"
            raise self._broken(answering, progress["text"], what, advice, "stalled") from None
        except openai.APIConnectionError:
            what, advice = f"cannot connect to {self.where}", "is the server running?"
            raise self._broken(answering, progress["text"], what, advice, "broke off") from None
        except openai.APIStatusError as exc:
            raise self._status(exc.status_code, exc.response.headers) from None
        except (openai.APIError, ValueError, TypeError, AttributeError):
            # An {"error": ...} event mid-stream, a line that is not JSON, JSON of the wrong shape.
            what = f"the server at {self.where} sent a reply that is not a valid chat completion stream"
            raise _Failure(what, "is OPENAI_BASE_URL an OpenAI-compatible server?", False) from None

    def _broken(self, answering: bool, sent_text: bool, what: str, advice: str, how: str) -> _Failure:
        """A timeout or a lost connection: before the reply (worth a retry), mid-reply before
        any text (worth a retry), or mid-answer (final: a retry would repeat the text)."""
        if not answering:
            return _Failure(what, advice, True)
        if sent_text:
            return _Failure(
                f"the answer from {self.where} {how} midway (the partial answer was dropped)",
                "try again",
                False,
            )
        return _Failure(f"the reply from {self.where} {how} before any text", "try again later", True)

    def _status(self, code: int, headers) -> _Failure:
        try:
            reason = f" ({HTTPStatus(code).phrase.lower()})"
        except ValueError:
            reason = ""
        what = f"the server at {self.where} answered HTTP {code}{reason}"
        if code == 401:
            return _Failure(
                f"the server at {self.where} refused the API key (HTTP 401)", "check OPENAI_API_KEY", False
            )
        if code == 403:
            return _Failure(what, "check that the API key may use this model", False)
        if code == 404:
            what = f"model '{self.model}' not found at {self.where} (HTTP 404)"
            return _Failure(what, "check ASSISTANT_OPENAI_MODEL and OPENAI_BASE_URL", False)
        if code in RETRY_STATUS:
            return _Failure(what, "try again later", True, _retry_after(headers))
        return _Failure(what, "check ASSISTANT_OPENAI_MODEL and OPENAI_BASE_URL", False)
