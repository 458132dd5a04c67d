"""Test helpers: a real local HTTP server speaking the OpenAI, Azure OpenAI and Anthropic chat APIs."""

from judgekit.testing.server import FakeLLMServer, Fault, RecordedRequest, Reply, ReplySource

__all__ = ["FakeLLMServer", "Fault", "RecordedRequest", "Reply", "ReplySource"]
