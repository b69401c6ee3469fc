"""Task introspection: every asyncio task with its current stack, as text.

Served at /debug/tasks and logged on SIGUSR1, so a wedged daemon can say
where each coroutine is waiting.
"""

from __future__ import annotations

import asyncio
import io


def dump_tasks(loop: asyncio.AbstractEventLoop | None = None) -> str:
    tasks = sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name())
    out = io.StringIO()
    out.write(f"{len(tasks)} asyncio tasks\n")
    for task in tasks:
        state = "done" if task.done() else "pending"
        out.write(f"\n--- {task.get_name()} ({state}) {task.get_coro()!r}\n")
        frames = task.get_stack(limit=20)
        if not frames:
            out.write("    (no Python frames)\n")
        for frame in frames:
            code = frame.f_code
            out.write(f'    File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}\n')
    return out.getvalue()
