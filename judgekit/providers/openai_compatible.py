"""Any OpenAI-compatible vendor, with no code of its own: ``api_type="openai_compatible"``, ``service="acme"``.

The idea of inspect-ai's ``openai-api/<service>``: the key, URL and model come from ``ACME_API_KEY``,
``ACME_BASE_URL`` and ``ACME_MODEL`` (the ``{SERVICE}_*`` names this provider declares in
`judgekit.provider_registry`; explicit settings win). Requests are the OpenAI wire format, as for `VLLMJudge`:
without a model name the served one is read from ``GET {base}/models``; the key is a Bearer token when set.
"""

from __future__ import annotations

from typing import ClassVar

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError
from judgekit.provider_registry import provider_env
from judgekit.providers.vllm import VLLMJudge, with_v1

__all__ = ["OpenAICompatibleJudge"]


class OpenAICompatibleJudge(VLLMJudge):
    """A judge behind any OpenAI-compatible API, configured by ``service`` and the ``<SERVICE>_*`` variables."""

    provider_name: ClassVar[str] = "openai_compatible"

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        if not self.config.service:
            raise ConfigError(
                "openai_compatible needs service='<vendor>' (its key, URL and model then come from "
                "<VENDOR>_API_KEY, <VENDOR>_BASE_URL and <VENDOR>_MODEL)",
                "service",
            )

    def base_urls(self, config: JudgeConfig) -> list[str]:
        if not config.base_urls:
            [variable] = provider_env(self.provider_name).for_service(config.service).base_url
            raise ConfigError(
                f"openai_compatible ({config.service}): no base URL; set {variable} or pass base_url", "base_url"
            )
        return [with_v1(url) for url in config.base_urls]
