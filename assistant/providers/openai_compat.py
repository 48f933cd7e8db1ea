"""OpenAI, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp), through
``langchain-openai``. Failures become one clear line; the API key never appears in one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from ..errors import ProviderError, ProviderUnavailable
from . import ChatProvider

if TYPE_CHECKING:
    from ..config import Settings
    from ..prompts import PromptSet


class OpenAIProvider(ChatProvider):
    name = "openai"

    def __init__(self, settings: "Settings", prompts: "PromptSet"):
        super().__init__(prompts)
        if settings.openai_api_key is None and settings.openai_base_url is None:
            raise ProviderUnavailable(
                "provider 'openai' needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server "
                "such as Ollama, vLLM or llama.cpp)"
            )
        from langchain_openai import ChatOpenAI

        self.model = settings.openai_model
        self.where = settings.openai_base_url or "api.openai.com"
        self.llm = ChatOpenAI(
            model=settings.openai_model,
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url,
            temperature=0,
            max_tokens=settings.max_answer_tokens,
            timeout=settings.request_timeout_s,
            max_retries=2,
        )

    def stream_messages(self, messages: list[dict[str, str]]) -> Iterator[str]:
        import openai

        try:
            for chunk in self.llm.stream([(m["role"], m["content"]) for m in messages]):
                if isinstance(chunk.content, str) and chunk.content:
                    yield chunk.content
        except openai.AuthenticationError:
            raise ProviderError(f"openai provider: the server at {self.where} refused the API key (401): check OPENAI_API_KEY") from None
        except openai.NotFoundError:
            raise ProviderError(f"openai provider: model '{self.model}' not found at {self.where}: check ASSISTANT_OPENAI_MODEL") from None
        except openai.RateLimitError:
            raise ProviderError(f"openai provider: rate limited by {self.where} (429) after retries: try again later") from None
        except openai.APITimeoutError:
            raise ProviderError(f"openai provider: {self.where} did not answer in time: try again or raise request_timeout_s") from None
        except openai.APIConnectionError:
            raise ProviderError(f"openai provider: cannot connect to {self.where}: is the server running?") from None
        except openai.APIStatusError as exc:
            raise ProviderError(f"openai provider: {self.where} answered HTTP {exc.status_code}: try again later") from None
