"""Azure OpenAI: the OpenAI wire format with a deployment path, an ``api-key`` header and an api-version."""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError
from judgekit.providers.openai import OpenAIJudge

__all__ = ["AzureJudge"]

DEFAULT_API_VERSION = "2024-02-15-preview"
_DEPLOYMENT_URL = re.compile(r"^(?P<endpoint>.+?)/openai/deployments/(?P<deployment>[^/?]+)")


class AzureJudge(OpenAIJudge):
    """Azure OpenAI. ``base_url`` is the resource endpoint (``AZURE_ENDPOINT``), or a full deployment URL
    (``.../openai/deployments/NAME/chat/completions?api-version=V``, the lmms-eval habit), from which
    the deployment and api-version are read. The deployment defaults to ``model_name``."""

    provider_name: ClassVar[str] = "azure"
    default_base_url: ClassVar[str | None] = None
    pool_capable: ClassVar[bool] = False
    batch_backend_class: ClassVar[str | None] = "judgekit.providers.openai_batch:AzureBatchBackend"

    def _parts(self, config: JudgeConfig) -> tuple[str, str, str]:
        if not config.base_url:
            raise ConfigError("azure: no endpoint; set AZURE_ENDPOINT or pass base_url", field="base_url")
        endpoint, deployment = config.base_url.rstrip("/"), config.azure_deployment
        version = config.api_version
        if match := _DEPLOYMENT_URL.match(config.base_url):
            endpoint = match["endpoint"]
            deployment = deployment or match["deployment"]
            query = parse_qs(urlsplit(config.base_url).query)
            version = version or (query.get("api-version") or [None])[0]
        deployment = deployment or config.model_name
        if not deployment:
            raise ConfigError("azure: no deployment; pass azure_deployment or model_name", "azure_deployment")
        return endpoint, deployment, version or DEFAULT_API_VERSION

    def model_for(self, config: JudgeConfig) -> str:
        return config.model_name or self._parts(config)[1]

    def endpoint(self, config: JudgeConfig) -> str:
        endpoint, deployment, version = self._parts(config)
        return f"{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={version}"

    def headers(self, config: JudgeConfig) -> dict[str, str]:
        key = config.secret()
        if key is None:
            raise ConfigError("azure: no API key; set AZURE_API_KEY or pass api_key", field="api_key")
        return {"api-key": key, **config.extra_headers}

    def is_available(self) -> bool:
        return self.config.api_key is not None and self.config.base_url is not None
