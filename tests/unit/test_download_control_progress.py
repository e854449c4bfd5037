"""DownloadStreamControl and the progress helpers on their own: thread-safe switches, honest speed, throttling."""
from __future__ import annotations

import asyncio
import logging
import threading

from lora_manager.py.services.downloads.control import DownloadStreamControl
from lora_manager.py.services.downloads.progress import DownloadProgress, ProgressReporter, SpeedMeter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_switch_states():
    control = DownloadStreamControl()
    assert control.state == "running" and not control.is_paused and not control.keep_partial
    control.pause()
    control.pause()
    assert control.is_paused and control.state == "paused"
    control.resume()
    control.resume()
    assert control.state == "running"
    control.skip()
    assert control.is_cancelled and control.keep_partial and control.state == "cancelled"
    control.pause()  # no effect once cancelled
    control.cancel()
    assert not control.is_paused


async def test_wait_if_paused_returns_at_once_when_running():
    await asyncio.wait_for(DownloadStreamControl().wait_if_paused(), 0.1)


async def test_resume_from_another_thread_wakes_the_waiter():
    control = DownloadStreamControl()
    control.pause()
    waiter = asyncio.create_task(control.wait_if_paused())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    threading.Thread(target=control.resume).start()
    await asyncio.wait_for(waiter, 1.0)


async def test_cancel_wakes_every_waiter():
    control = DownloadStreamControl()
    control.pause()
    waiters = [asyncio.create_task(control.wait_if_paused()) for _ in range(3)]
    await asyncio.sleep(0.01)
    control.cancel()
    await asyncio.wait_for(asyncio.gather(*waiters), 1.0)


async def test_a_cancelled_waiter_leaves_no_trace():
    control = DownloadStreamControl()
    control.pause()
    waiter = asyncio.create_task(control.wait_if_paused())
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    control.resume()  # nothing left to wake


def test_listeners_are_called_and_removable(caplog):
    control = DownloadStreamControl()
    seen: list[str] = []
    remove = control.add_listener(lambda: seen.append(control.state))

    def broken() -> None:
        raise RuntimeError("listener bug")

    control.add_listener(broken)
    with caplog.at_level(logging.ERROR):
        control.pause()
    assert seen == ["paused"] and "listener failed" in caplog.text
    remove()
    remove()
    control.resume()
    assert seen == ["paused"]


def test_a_waiter_on_a_closed_loop_is_ignored():
    control = DownloadStreamControl()
    control.pause()
    loop = asyncio.new_event_loop()
    task = loop.create_task(control.wait_if_paused())
    loop.run_until_complete(asyncio.sleep(0))
    task.cancel = lambda *a: None  # keep the waiter registered
    loop.close()
    control.resume()  # must not raise


def test_percent():
    assert DownloadProgress(50, 200, 0.0, "downloading").percent == 25.0
    assert DownloadProgress(50, None, 0.0, "connecting").percent is None
    assert DownloadProgress(50, 0, 0.0, "connecting").percent is None
    assert DownloadProgress(300, 200, 0.0, "downloading").percent == 100.0
    assert DownloadProgress(1, 3, 2.0, "downloading").to_dict() == {
        "bytes_downloaded": 1, "total_bytes": 3, "bytes_per_second": 2.0, "status": "downloading", "percent": 33.33}


def test_speed_meter_uses_a_moving_window():
    clock = Clock()
    meter = SpeedMeter(window=2.0, clock=clock)
    assert meter.bytes_per_second == 0.0
    for second in range(10):
        clock.now = 100.0 + second
        meter.add(second * 1000 if second < 5 else 4000 + (second - 4) * 100)
    assert meter.bytes_per_second == 100.0  # the old fast seconds fell out of the window
    meter.reset()
    assert meter.bytes_per_second == 0.0


def test_reporter_throttles_but_reports_status_changes_at_once():
    clock = Clock()
    reports: list[DownloadProgress] = []
    reporter = ProgressReporter(reports.append, interval=1.0, clock=clock)
    reporter.total_bytes = 100
    reporter.update("connecting", 0)
    for n in range(1, 20):
        clock.now += 0.1
        reporter.update("downloading", n)
    assert [r.status for r in reports] == ["connecting", "downloading", "downloading"]
    reporter.update("paused", 19)
    reporter.update("completed", 100, force=True)
    assert [r.status for r in reports][-2:] == ["paused", "completed"]
    assert reports[-1].bytes_per_second == 0.0 and reporter.last is reports[-1]


def test_reporter_survives_a_failing_callback(caplog):
    def broken(progress: DownloadProgress) -> None:
        raise ValueError("ui bug")

    reporter = ProgressReporter(broken)
    with caplog.at_level(logging.ERROR):
        reporter.update("downloading", 5)
    assert "progress listener failed" in caplog.text
    ProgressReporter(None).update("downloading", 1)  # no callback: nothing to do


def test_eta_seconds_is_time_left_at_the_current_speed_or_unknown():
    from lora_manager.py.services.downloads.progress import eta_seconds

    assert eta_seconds(250, 1250, 100.0) == 10
    assert eta_seconds(1250, 1250, 100.0) == 0
    assert eta_seconds(2000, 1250, 100.0) == 0  # a server that sent more than it announced
    assert [eta_seconds(0, None, 5.0), eta_seconds(0, 100, 0.0), eta_seconds(None, 100, 5.0)] == [None] * 3
