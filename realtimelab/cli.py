"""`python -m realtimelab <command>`: each command lives in the module that owns the feature.

The table maps a command to "module:function"; the function takes the remaining argv and
returns an exit code. Modules are imported only when their command runs, so `--help` is fast
and a missing optional dependency only affects the command that needs it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    "emulator": ("realtimelab.emulator.server:main", "run the local OpenAI/Gemini emulator"),
    "talk": ("realtimelab.talk:main", "talk to a provider (emulator by default) from the terminal"),
    "replay": ("realtimelab.replay:main", "print per-turn metrics from a JSONL event log"),
}


def _usage() -> str:
    lines = ["usage: python -m realtimelab <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    func: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)
