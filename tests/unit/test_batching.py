"""Group commit: concurrent submissions share writes; one bad item does not sink the rest."""

from __future__ import annotations

import asyncio

import pytest

from bot.batching import GroupCommit


async def test_concurrent_items_share_batches_and_keep_their_results() -> None:
    batches: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0)  # let more submissions queue up meanwhile
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    results = await asyncio.gather(*(group.submit(i) for i in range(20)))
    assert results == [i * 10 for i in range(20)]
    assert len(batches) < 20 and sorted(i for b in batches for i in b) == list(range(20))


async def test_a_failing_item_is_isolated() -> None:
    async def write(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("bad item")
        return items

    group: GroupCommit[int, int] = GroupCommit(write)
    outcomes = await asyncio.gather(*(group.submit(i) for i in (1, 13, 2)),
                                    return_exceptions=True)
    assert outcomes[0] == 1 and outcomes[2] == 2
    assert isinstance(outcomes[1], ValueError)
    with pytest.raises(ValueError):
        await group.submit(13)
