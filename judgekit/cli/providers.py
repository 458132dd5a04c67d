"""``judgekit providers``: the registered backends and what the environment configures for each."""

from __future__ import annotations

import argparse
import json


def mask_secret(secret: str | None) -> str:
    """``"not set"``, ``"set"``, or for a long key ``"set (sk-…3f9a)"``: its prefix and last four characters."""
    if not secret:
        return "not set"
    if len(secret) < 20:
        return "set"
    dash = secret.find("-")
    prefix = secret[: dash + 1] if 0 < dash <= 4 else ""
    return f"set ({prefix}…{secret[-4:]})"


def cmd_providers(args: argparse.Namespace) -> int:
    from judgekit.config import JudgeConfig, default_api_type, env_variables
    from judgekit.factory import JudgeFactory

    default = default_api_type()
    rows = []
    for name in JudgeFactory.list_judges():
        config = JudgeConfig.from_env(api_type=name)
        rows.append(
            {
                "api_type": name,
                "default": name == default,
                "class": JudgeFactory.describe(name),
                "base_url": config.base_url,
                "api_key": mask_secret(config.secret()),
                "model": config.model_name,
                "env": env_variables(name),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'api_type':<15}{'api key':<22}{'base_url':<40}model")
    for row in rows:
        mark = "*" if row["default"] else " "
        url = row["base_url"] if isinstance(row["base_url"], str) else ", ".join(row["base_url"] or []) or "-"
        key = row["api_key"] if row["env"] else "(none needed)"
        print(f"{mark}{row['api_type']:<14}{key:<22}{url:<40}{row['model'] or '-'}")
    print(
        f"\n* the default ($API_TYPE, else openai). Variables read: API_TYPE, MODEL_VERSION and per backend "
        f"{', '.join(sorted({v for r in rows for v in r['env']}))}."
    )
    return 0
