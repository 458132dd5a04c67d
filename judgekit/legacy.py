"""Drop-in replacements for the judge helpers of old lmms-eval task code.

`get_eval` (llava-in-the-wild and friends), `get_chat_response` (mmmu and friends) and `parse_score`
keep their old signatures, return values and environment variables (``API_TYPE``, ``OPENAI_API_URL``,
``OPENAI_API_KEY``, ``MODEL_VERSION``, ``AZURE_ENDPOINT``, ``AZURE_API_KEY``, ``AZURE_API_VERSION`` /
``API_VERSION``), so a task file only changes its import. Requests go through `JudgeFactory`; they
never raise, a failure returns empty strings as before.
"""

from __future__ import annotations

import re
import time
from typing import Any

from loguru import logger

from judgekit.config import JudgeConfig, env_value
from judgekit.errors import EmptyReplyError
from judgekit.factory import cached_judge
from judgekit.types import JudgeRequest

__all__ = ["get_chat_response", "get_eval", "parse_score"]

EVAL_SYSTEM_PROMPT = "You are a helpful and precise assistant for checking the quality of the answer."
CHAT_SYSTEM_PROMPT = "You are a helpful and precise assistant for checking the correctness of the answer."
DEFAULT_RETRY_PAUSE = 5.0  # the old NUM_SECONDS_TO_SLEEP
RETRY_PAUSE_ENV = "JUDGEKIT_LEGACY_RETRY_PAUSE"

_SENTINEL_PAIR = (-1, -1)
# A first line that is exactly two plain numbers, optionally after a word label ("Score:"), separated by
# whitespace and/or one comma. A minus sign counts only at the start of a whitespace-delimited token.
_NUM = r"(?:(?<!\S)-)?\d+(?:\.\d+)?"
_PAIR = re.compile(rf"\s*(?:[A-Za-z][A-Za-z ]*:\s*)?({_NUM})(?:\s*,\s*|\s+)({_NUM})\s*")


def parse_score(review: Any) -> list[Any]:
    """The two scores on the first line of a review, as ``[float, float]``; ``[-1, -1]`` (ints) otherwise.

    The old llava-in-the-wild rule comes first and is kept exactly: take the text before the first
    ``"\\n"``, turn commas into spaces, split on single spaces, and if there are exactly two tokens return
    ``[float(a), float(b)]``. As with old code, any token ``float`` accepts counts (``"nan 8"`` gives
    ``[nan, 8.0]``, ``"inf"``, ``"1e3"`` and ``"+8"`` pass too).

    Where the old rule fails, the first line is accepted only if it is exactly two plain numbers
    (``\\d+(\\.\\d+)?``, a leading minus only at the start of a token), optionally after a word label
    and separated by whitespace and/or one comma: ``"8, 9"``, ``" 8 9"``, ``"8  9"``, ``"8\\t9"``,
    ``"8 9 "`` and ``"Score: 8 9"`` give ``[8.0, 9.0]``. Anything else is the sentinel: more or fewer
    numbers (``"8 9 10"``, ``"8"``), labels with digits (``"Assistant 1: 8, Assistant 2: 9"``), a dash
    between numbers (``"8-9"``), and any non-string input. Never raises.
    """
    try:
        score_pair = review.split("\n")[0]
        score_pair = score_pair.replace(",", " ")
        sp = score_pair.split(" ")
        if len(sp) == 2:
            return [float(sp[0]), float(sp[1])]
    except Exception:
        pass
    if isinstance(review, str) and (match := _PAIR.fullmatch(review.split("\n")[0])):
        return [float(match[1]), float(match[2])]
    return list(_SENTINEL_PAIR)


def get_eval(content: str, max_tokens: int, retries: int = 5, *, retry_pause: float | None = None) -> tuple[str, str]:
    """Ask the judge about ``content``; return ``(reply, model_name)``, or ``("", "")`` on failure.

    As the old llava-in-the-wild helper: system prompt "...checking the quality of the answer.",
    temperature 0.2, the model from ``MODEL_VERSION``, ``retries`` attempts in all with a pause of
    ``retry_pause`` seconds between them (else ``JUDGEKIT_LEGACY_RETRY_PAUSE``, else 5). An empty reply
    returns ``("", "")`` at once. ``model_name`` is the model the server reports. Never raises.
    """
    return _ask(EVAL_SYSTEM_PROMPT, content, temperature=0.2, max_tokens=max_tokens, retries=retries, pause=retry_pause)


def get_chat_response(prompt: str, max_tokens: int = 256, retries: int = 5, *, retry_pause: float | None = None) -> str:
    """Ask the judge about ``prompt``; return the reply text, or ``""`` on failure.

    As the old mmmu helper: system prompt "...checking the correctness of the answer.", temperature
    0.0; retries, pauses and environment as `get_eval`. Never raises.
    """
    reply, _model = _ask(
        CHAT_SYSTEM_PROMPT, prompt, temperature=0.0, max_tokens=max_tokens, retries=retries, pause=retry_pause
    )
    return reply


# -- shared machinery -----------------------------------------------------------------------------


def _ask(
    system: str, text: str, *, temperature: float, max_tokens: int, retries: int, pause: float | None
) -> tuple[str, str]:
    """The one request loop behind `get_eval` and `get_chat_response`."""
    secret: str | None = None
    try:
        config = JudgeConfig.from_env(temperature=temperature, max_tokens=max_tokens, num_retries=0)
        secret = config.secret()
        judge = cached_judge(config)
        request = JudgeRequest(messages=[{"role": "system", "content": system}, {"role": "user", "content": text}])
        seconds = _retry_pause(pause)
    except Exception as exc:
        logger.warning("judgekit.legacy: cannot build the judge: {}", _redact(exc, secret))
        return "", ""
    for attempt in range(retries):
        try:
            response = judge.evaluate(request)
        except Exception as exc:  # a ConfigError (missing key, bad URL): retrying cannot help
            logger.warning("judgekit.legacy: the judge is misconfigured: {}", _redact(exc, secret))
            return "", ""
        if response.success:
            return response.content.strip(), response.model_used
        message = response.error_message or ""
        if response.error_type == EmptyReplyError.__name__:
            logger.warning("judgekit.legacy: the judge gave an empty reply")
            return "", ""
        logger.warning("judgekit.legacy: attempt {}/{} failed: {}", attempt + 1, retries, _redact(message, secret))
        if attempt < retries - 1 and seconds > 0:
            time.sleep(seconds)
    return "", ""


def _retry_pause(pause: float | None) -> float:
    if pause is not None:
        return max(0.0, float(pause))
    raw = env_value(RETRY_PAUSE_ENV)
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            logger.warning(
                "judgekit.legacy: {}={!r} is not a number; pausing {}s", RETRY_PAUSE_ENV, raw, DEFAULT_RETRY_PAUSE
            )
    return DEFAULT_RETRY_PAUSE


def _redact(text: object, secret: str | None) -> str:
    """``str(text)`` with the API key, should a server echo it, blanked out."""
    text = str(text)
    return text.replace(secret, "***") if secret else text
