"""Notebook-style tour of judgekit. Runs as a script with no API key: it starts judgekit's local test server
and scripts the judge's replies. Point ``base_url``/``api_key`` at a real endpoint to judge for real.

    python examples/notebook.py
"""

from __future__ import annotations

from judgekit import SimplifiedJudge
from judgekit.testing import FakeLLMServer, Fault

with FakeLLMServer(default_reply="1") as server:
    judge = SimplifiedJudge(model_name="gpt-4o-2024-08-06", base_url=server.base_url, retry_delay=0.05)

    # %% One binary judgement: results print on one line and read as dicts.
    result = judge.evaluate_binary(question="What is 2+2?", answer="4", prediction="The answer is 4")
    print(result)
    print(result["result"], result.success)

    # %% A reasoning model's reply: the verdict comes from the final answer, the thinking is kept apart.
    server.enqueue("<think>Is 10 equal to 1? maybe 1...</think>\nThe prediction says 12, the answer is 10.\n0")
    print(judge.evaluate_binary(question="5+5?", answer="10", prediction="12"))

    # %% An unreadable reply is a failure, never a silent 0.
    server.enqueue("Score: 10")
    print(judge.evaluate_binary(question="q", answer="a", prediction="p"))

    # %% Comparative with position-bias check (both orders judged).
    server.default_reply = "8 4\nAssistant 1 is more precise."
    print(
        judge.evaluate_comparative(
            question="Explain gravity", response1="A force...", response2="Stuff falls", swap=True
        )
    )

    # %% A batch with a progress bar: one result per item, in order, whatever fails.
    server.default_reply = "1"
    server.enqueue(Fault.status_code(400))
    items = [{"question": f"{i}+{i}?", "answer": str(2 * i), "prediction": str(2 * i)} for i in range(20)]
    results = judge.evaluate_batch("binary", items, max_concurrency=8, progress=True)
    print(sum(r["success"] for r in results), "of", len(results), "judged;", results[0])
