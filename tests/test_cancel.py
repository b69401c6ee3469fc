"""cancel_and_wait: a cancellation swallowed by asyncio.wait_for is repeated, and a task
that will not stop is reported after the bound instead of hanging the caller."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from faultd.cancel import cancel_and_wait


async def test_a_cancellation_swallowed_by_wait_for_is_repeated() -> None:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[None]] = []

    async def looping_requester() -> None:  # the shape of a bus task: request, sleep, repeat
        while True:
            fut: asyncio.Future[None] = loop.create_future()
            futures.append(fut)
            await asyncio.wait_for(fut, 60)

    task = asyncio.create_task(looping_requester())
    await asyncio.sleep(0)
    # The reply lands in the same loop iteration as the helper's first cancel.
    loop.call_soon(futures[-1].set_result, None)

    pending = await cancel_and_wait([task], retry=0.05, limit=5)

    assert pending == set()
    if sys.version_info < (3, 12):  # gh-86296: wait_for returned the reply instead
        assert len(futures) == 2  # the task went round its loop once more
    assert task.cancelled()


async def test_a_task_that_never_stops_is_reported_not_waited_for_forever(
        caplog: pytest.LogCaptureFixture) -> None:
    stubborn = True

    async def refuses() -> None:
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                if not stubborn:
                    raise

    task = asyncio.create_task(refuses(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="faultd"):
        pending = await cancel_and_wait([task], retry=0.05, limit=0.3)
    assert pending == {task}
    assert "task stubborn did not stop" in caplog.text
    stubborn = False
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_finished_and_failed_tasks_are_fine() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    async def returns() -> int:
        return 1

    failed = asyncio.create_task(fails())
    done = asyncio.create_task(returns())
    await asyncio.sleep(0)
    assert await cancel_and_wait([failed, done]) == set()
    assert isinstance(failed.exception(), RuntimeError)
    assert done.result() == 1
