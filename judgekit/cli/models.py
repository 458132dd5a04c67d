"""``judgekit models``: the named embedded judge models, and getting one ready (assembled, checked, cached)."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  judgekit models                         # each named model: where it comes from, whether it is ready
  judgekit models qwen2.5-coder-1.5b      # assemble (once) and check it; prints the GGUF's path

A model in parts is joined once into the model cache ($JUDGEKIT_MODEL_CACHE, else
$XDG_CACHE_HOME/judgekit/models, else ~/.cache/judgekit/models) and checked (size, sha256, GGUF header);
after that its carrier wheels may be uninstalled. Exit 2 when the model is not installed or not the
pinned file (the message says why and how to install it).
"""


def cmd_models(args: argparse.Namespace) -> int:
    from judgekit.embedded_models import DEFAULT_MODEL, MODELS, cache_dir, did_you_mean, get_model, model_path
    from judgekit.errors import ConfigError

    if args.name is None:
        print(f"model cache: {cache_dir()}")
        for model in MODELS.values():
            default = " (default)" if model.name == DEFAULT_MODEL else ""
            print(f"{model.name}{default}: {model.title}, {model.size / 1e6:.0f} MB, sha256 {model.sha256}")
            print(f"    install: {model.install}")
        return 0
    model = get_model(args.name)
    if model is None:
        print(
            f"judgekit models: error: no model named {args.name!r}{did_you_mean(args.name)}; the models: "
            f"{', '.join(MODELS)}",
            file=sys.stderr,
        )
        return 2
    try:
        path = model_path(model)
    except ConfigError as exc:
        print(f"judgekit models: error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0
