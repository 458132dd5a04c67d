"""The judge helpers of old lmms-eval task code: `get_eval`, `get_eval_plain`, `get_chat_response`, `parse_score`.

Each drop-in sends exactly the request body its original sent (tests/test_legacy_dropins.py compares them on
a local server): `get_eval` is llava-in-the-wild's / ferret's helper (a system prompt, temperature 0.2),
`get_eval_plain` mia_bench's and air_bench's (the user message alone, temperature 0), `get_chat_response`
the old mmmu helper (plus ``temperature``, as the evaluator-class helpers take). With ``MODEL_VERSION`` unset
each judges with its original's default model. They keep their return values and environment variables
(``API_TYPE``, ``OPENAI_API_URL``, ``OPENAI_API_KEY``, ``MODEL_VERSION``, ``AZURE_ENDPOINT``, ``AZURE_API_KEY``,
``AZURE_API_VERSION`` / ``API_VERSION``). Requests go through `JudgeFactory`, so reasoning is split off the
reply on every backend.

A judge that fails at run time gives the old empty result (``("", "")`` / ``""``). A wrong call (other
arguments, as a task-local ``get_eval(question, answer, pred, max_tokens)`` passes) or a misconfigured
judge raises at once, so it cannot become a silent score of 0 (docs/legacy.md).
"""

from __future__ import annotations

import re
import time
from typing import Any

from loguru import logger

from judgekit.config import JudgeConfig, env_value, redact
from judgekit.errors import ConfigError, EmptyReplyError
from judgekit.factory import cached_judge
from judgekit.types import JudgeRequest

__all__ = ["ChatReply", "get_chat_response", "get_eval", "get_eval_plain", "parse_score"]

EVAL_SYSTEM_PROMPT = "You are a helpful and precise assistant for checking the quality of the answer."
CHAT_SYSTEM_PROMPT = "You are a helpful and precise assistant for checking the correctness of the answer."
DEFAULT_RETRY_PAUSE = 5.0  # the old NUM_SECONDS_TO_SLEEP
RETRY_PAUSE_ENV = "JUDGEKIT_LEGACY_RETRY_PAUSE"
MMMU_DEFAULT_MODEL = "gpt-4o-2024-08-06"
"""The old mmmu helper's model when ``MODEL_VERSION`` is unset (the other helpers' is `DEFAULT_OPENAI_MODEL`)."""

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
    """Ask the judge about ``content``; return ``(reply, model_name)``, or ``("", "")`` when the judge failed.

    As the old llava-in-the-wild helper: system prompt "...checking the quality of the answer.",
    temperature 0.2, the model from ``MODEL_VERSION``, ``retries`` attempts in all with a pause of
    ``retry_pause`` seconds between them (else ``JUDGEKIT_LEGACY_RETRY_PAUSE``, else 5). An empty reply
    returns ``("", "")`` at once. ``model_name`` is the model the server reports.

    Raises `TypeError` for arguments of the wrong type (``content`` must be the prompt text) and
    `ConfigError` for a bad value or a misconfigured judge (no key, an unknown ``API_TYPE``).
    """
    _check_call("get_eval(content, max_tokens, retries=5)", content, max_tokens, retries)
    return _ask(EVAL_SYSTEM_PROMPT, content, temperature=0.2, max_tokens=max_tokens, retries=retries, pause=retry_pause)


def get_eval_plain(
    content: str, max_tokens: int, retries: int = 5, *, retry_pause: float | None = None
) -> tuple[str, str]:
    """`get_eval` as mia_bench's and air_bench's helpers send it: the user message alone (no system prompt),
    temperature 0. Same signature, return value, retries and errors as `get_eval`; a task imports it under
    the old name: ``from judgekit.legacy import get_eval_plain as get_eval``."""
    _check_call("get_eval_plain(content, max_tokens, retries=5)", content, max_tokens, retries)
    return _ask(None, content, temperature=0, max_tokens=max_tokens, retries=retries, pause=retry_pause)


def get_chat_response(
    prompt: str,
    max_tokens: int = 256,
    retries: int = 5,
    *,
    temperature: float = 0.0,
    retry_pause: float | None = None,
) -> str:
    """Ask the judge about ``prompt``; return the reply text, or ``""`` when the judge failed.

    As the old mmmu helper: system prompt "...checking the correctness of the answer.", temperature
    0.0 unless ``temperature`` says otherwise, and with ``MODEL_VERSION`` unset its model,
    `MMMU_DEFAULT_MODEL`; retries, pauses, environment and errors as `get_eval`.

    The text comes back as a `ChatReply`, a ``str`` that refuses to be unpacked: code written for a
    task-local helper that returned ``(text, model)`` (mmvet's) fails loudly instead of splitting the text.
    """
    _check_call("get_chat_response(prompt, max_tokens=256, retries=5)", prompt, max_tokens, retries)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"get_chat_response: temperature must be a number, got {type(temperature).__name__}")
    reply, _model = _ask(
        CHAT_SYSTEM_PROMPT,
        prompt,
        temperature=temperature,
        max_tokens=max_tokens,
        retries=retries,
        pause=retry_pause,
        default_model=MMMU_DEFAULT_MODEL,
    )
    return ChatReply(reply)


class ChatReply(str):
    """The reply text of `get_chat_response`: a plain ``str`` except that it cannot be iterated or unpacked.

    mmvet's own ``get_chat_response`` returned ``(text, model)``; unpacking judgekit's text instead would
    split a two-character reply such as ``"10"`` into ``("1", "0")`` and score it 1.0. This raises instead.
    """

    __slots__ = ()

    def __iter__(self):  # type: ignore[override]
        raise TypeError(
            "judgekit.legacy.get_chat_response returns the reply text (a str), not (text, model): write "
            "`text = get_chat_response(...)`, or migrate the task (docs/legacy.md)"
        )


# -- shared machinery -----------------------------------------------------------------------------


def _check_call(signature: str, text: Any, max_tokens: Any, retries: Any) -> None:
    """`TypeError` for a call that cannot be meant for this helper; `ConfigError` for bad values."""
    name = signature.split("(", 1)[0]
    if not isinstance(text, str):
        raise TypeError(
            f"judgekit.legacy.{signature}: the first argument must be the prompt text, got "
            f"{type(text).__name__}. A task-local helper with other arguments (get_eval(question, answer, pred, "
            "max_tokens), ...) is not a drop-in: migrate it to SimplifiedJudge.evaluate_custom (docs/legacy.md)"
        )
    for field, value in (("max_tokens", max_tokens), ("retries", retries)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"judgekit.legacy.{signature}: {field} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ConfigError(f"{name}: {field} must be at least 1, got {value}", field)


def _ask(
    system: str | None,
    text: str,
    *,
    temperature: float,
    max_tokens: int,
    retries: int,
    pause: float | None,
    default_model: str | None = None,
) -> tuple[str, str]:
    """The one request loop behind the helpers: ``system`` (None: no system message) and ``text`` at
    ``temperature``; ``default_model`` when ``MODEL_VERSION`` is unset (OpenAI). A `ConfigError` propagates."""
    config = JudgeConfig.from_env(temperature=temperature, max_tokens=max_tokens, num_retries=0)
    if default_model and config.model_name is None and config.api_type == "openai":
        config = config.merged(model_name=default_model)
    secret = config.secret()
    judge = cached_judge(config)
    system_turn = [{"role": "system", "content": system}] if system is not None else []
    request = JudgeRequest(messages=[*system_turn, {"role": "user", "content": text}])
    seconds = _retry_pause(pause)
    for attempt in range(retries):
        response = judge.evaluate(request)  # a ConfigError (missing key, bad URL) propagates: retrying cannot help
        if response.success:
            return response.content.strip(), response.model_used
        message = response.error_message or ""
        if response.error_type == EmptyReplyError.__name__:
            logger.warning("judgekit.legacy: the judge gave an empty reply")
            return "", ""
        logger.warning("judgekit.legacy: attempt {}/{} failed: {}", attempt + 1, retries, redact(str(message), secret))
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
