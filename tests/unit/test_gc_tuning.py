"""The collector pauses: bulk loads run without cyclic collection, and what they built is frozen."""
from __future__ import annotations

import gc
import threading
from typing import Iterator

import pytest

from lora_manager.py.library.gc_tuning import bulk_allocation, freeze_startup_heap, freeze_without_collecting


@pytest.fixture(autouse=True)
def _unfrozen_heap() -> Iterator[None]:
    """Each test starts and ends with nothing frozen, so what it counts is its own doing, whatever ran before
    (and later tests find the collector as a fresh process has it)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_bulk_allocation_pauses_collection_and_restores_it_even_when_nested_and_threaded():
    assert gc.isenabled()
    seen: list[bool] = []

    def inner() -> None:
        with bulk_allocation(freeze=False):
            seen.append(gc.isenabled())

    with bulk_allocation(freeze=False):
        seen.append(gc.isenabled())
        worker = threading.Thread(target=inner)
        worker.start()
        worker.join()
        seen.append(gc.isenabled())  # the thread's exit does not switch collection back on
    assert seen == [False, False, False]
    assert gc.isenabled()


def test_freezing_without_collecting_moves_live_objects_out_of_the_generations():
    before = gc.get_freeze_count()
    data = [[i] for i in range(1000)]  # lists are always tracked (a dict of ints may not be)
    freeze_without_collecting()
    assert gc.get_freeze_count() >= before + len(data)
    first = data[0]
    assert not any(o is first for o in gc.get_objects())  # moved out of the collector's generations
    assert gc.isenabled()


def test_the_startup_heap_is_collected_then_frozen():
    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage  # a reference cycle: only the collector frees it
    del garbage
    freeze_startup_heap()
    assert not any(type(o) is Cycle for o in gc.get_objects())  # collected, not frozen
    assert gc.get_freeze_count() > 0


def test_overlapping_pauses_in_two_threads_switch_collection_back_on_whichever_ends_last():
    first_in, second_in, first_may_leave = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with bulk_allocation(freeze=False):
            first_in.set()
            second_in.wait(5)
            first_may_leave.wait(5)

    worker = threading.Thread(target=first)
    worker.start()
    first_in.wait(5)
    with bulk_allocation(freeze=False):  # entered while the first pause holds: collection is already off
        second_in.set()
        first_may_leave.set()
        worker.join()  # the first pause ends while this one still holds
        assert not gc.isenabled()
    assert gc.isenabled()
