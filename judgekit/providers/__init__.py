"""Judge backends, one module each. Imported lazily by `judgekit.factory.JudgeFactory`."""
