"""judgekit: one API for model-as-judge work.

Providers, the server and torch are imported only when used: ``import judgekit`` stays light.
"""

from judgekit.aggregation import GradedMean, graded_mean
from judgekit.batching.batch_api import BatchAPIOptions, BatchAPIStats
from judgekit.batching.engine import BatchStats, summarize
from judgekit.cache import MemoryCache, SQLiteCache
from judgekit.config import JudgeConfig
from judgekit.errors import (
    AuthenticationError,
    CircuitOpenError,
    ConfigError,
    EmptyReplyError,
    JudgeError,
    JudgeTimeoutError,
    MissingDependencyError,
    ParseError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    RateLimitError,
    TemplateError,
)
from judgekit.factory import JudgeFactory, register_judge
from judgekit.interface import JudgeInterface
from judgekit.jury import Jury
from judgekit.pipeline import AttemptPolicy, BatchScope, Pipeline
from judgekit.simplified import SimplifiedJudge, get_binary_judge_response
from judgekit.types import FailureKind, JudgeRequest, JudgeResponse, JudgeResult, Usage
from judgekit.wrappers import FallbackPipeline, PipelineWrapper, SharedConcurrency, SharedLimit

__version__ = "0.1.0"

__all__ = [
    "AttemptPolicy",
    "AuthenticationError",
    "BatchAPIOptions",
    "BatchAPIStats",
    "BatchScope",
    "BatchStats",
    "CircuitOpenError",
    "ConfigError",
    "EmptyReplyError",
    "FailureKind",
    "FallbackPipeline",
    "GradedMean",
    "JudgeConfig",
    "JudgeError",
    "JudgeFactory",
    "JudgeInterface",
    "JudgeRequest",
    "JudgeResponse",
    "JudgeResult",
    "JudgeTimeoutError",
    "Jury",
    "MemoryCache",
    "MissingDependencyError",
    "ParseError",
    "Pipeline",
    "PipelineWrapper",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderResponseError",
    "RateLimitError",
    "SQLiteCache",
    "SharedConcurrency",
    "SharedLimit",
    "SimplifiedJudge",
    "TemplateError",
    "Usage",
    "__version__",
    "get_binary_judge_response",
    "graded_mean",
    "register_judge",
    "summarize",
]
