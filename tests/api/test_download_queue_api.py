"""The persistent queue and history of the browser extension (API-COMPAT §2.4), the progress fallback for known
ids (§4.4), and the origin guard on state-changing GETs."""
from __future__ import annotations

from support.downloads import progress, stable
from support.snap import scrub

Q = "/api/lm/downloads"


async def _json(client, path: str, **params) -> tuple[int, dict]:
    response = await client.get(path, params={k: str(v) for k, v in params.items()})
    return response.status, await response.json()


async def _add(client, did: str, **extra) -> dict:
    status, body = await _json(client, f"{Q}/queue/add", download_id=did, model_id=1, model_version_id=2,
                               model_name=f"Model {did}", version_name="v1", **extra)
    assert status == 200 and body["success"] is True
    return body


async def test_queue_add_is_insert_or_ignore(client, snapshot):
    first = await _add(client, "a", thumbnail_url="https://example.test/a.jpg")
    again = await _add(client, "a", thumbnail_url="https://example.test/other.jpg")
    assert again["item"] == first["item"]
    status, generated = await _json(client, f"{Q}/queue/add", model_id="", model_version_id="")
    assert status == 200
    assert generated["item"]["model_id"] is None and generated["item"]["model_version_id"] is None
    assert scrub(stable(generated), client.lm_context.paths.data_dir) == snapshot(name="generated")
    await _json(client, f"{Q}/queue/complete", download_id="a", status="completed")
    status, in_history = await _json(client, f"{Q}/queue/add", download_id="a")
    assert (status, in_history) == (200, {"success": True, "item": {}})


async def test_queue_order_moves_and_clear(client, snapshot):
    for did in ("one", "two", "three"):
        await _add(client, did)
    assert (await _json(client, f"{Q}/queue/move-to-top", download_id="three"))[1] == {"success": True}
    assert (await _json(client, f"{Q}/queue/move-to-end", download_id="one"))[1] == {"success": True}
    _, body = await _json(client, f"{Q}/queue")
    assert [r["download_id"] for r in body["queue"]] == ["three", "two", "one"]
    assert [r["priority"] for r in body["queue"]] == [1, 0, -1]

    await _json(client, f"{Q}/queue/status", download_id="two", status="downloading")
    _, cleared = await _json(client, f"{Q}/queue/clear")
    assert cleared == {"success": True, "cleared": 2}  # only queued rows: the active one keeps its completion
    _, body = await _json(client, f"{Q}/queue")
    assert [(r["download_id"], r["status"]) for r in body["queue"]] == [("two", "downloading")]
    assert body["queue"][0]["started_at"] is not None
    _, cleared = await _json(client, f"{Q}/queue/clear", status="downloading")
    assert cleared == {"success": True, "cleared": 1}
    status, bad = await _json(client, f"{Q}/queue/clear", status="everything")
    assert status == 400 and bad["success"] is False

    await _add(client, "gone")
    assert await _json(client, f"{Q}/queue/remove", download_id="gone") == (200, {"success": True})
    _, stats = await _json(client, f"{Q}/stats")
    assert stats == snapshot(name="stats")


async def test_complete_moves_the_row_to_history(client, snapshot):
    await _add(client, "done")
    status, body = await _json(client, f"{Q}/queue/complete", download_id="done", status="completed",
                               file_path="/models/x.safetensors", bytes_downloaded=100, total_bytes=100,
                               completed_at=1700000000.25)
    assert status == 200
    assert scrub(body, client.lm_context.paths.data_dir) == snapshot(name="complete")
    await _add(client, "stopped")
    await _json(client, f"{Q}/queue/complete", download_id="stopped", status="cancelled", total_bytes="")
    status, bad = await _json(client, f"{Q}/queue/complete", download_id="x", status="exploded")
    assert status == 400 and "Invalid status" in bad["error"]
    _, history = await _json(client, f"{Q}/history")
    assert [(i["download_id"], i["status"]) for i in history["items"]] == [("stopped", "canceled"),
                                                                          ("done", "completed")]
    assert all(isinstance(i["id"], int) for i in history["items"])


async def test_history_paging_filters_and_clearing(client, snapshot):
    for n in range(7):
        await _add(client, f"h{n}")
        await _json(client, f"{Q}/queue/complete", download_id=f"h{n}", status="failed" if n % 2 else "completed",
                    error="boom" if n % 2 else "", completed_at=1700000000 + n)
    _, page = await _json(client, f"{Q}/history", limit=2, offset=1)
    assert [i["download_id"] for i in page["items"]] == ["h5", "h4"]
    assert (page["total"], page["limit"], page["offset"]) == (7, 2, 1)
    _, clamped = await _json(client, f"{Q}/history", limit=100000, offset=-5)
    assert (clamped["limit"], clamped["offset"], len(clamped["items"])) == (500, 0, 7)
    _, at_least_one = await _json(client, f"{Q}/history", limit=0)
    assert at_least_one["limit"] == 1
    _, failed = await _json(client, f"{Q}/history", status="failed")
    assert failed["total"] == 3 and {i["status"] for i in failed["items"]} == {"failed"}
    status, bad = await _json(client, f"{Q}/history", status="weird")
    assert status == 400

    first_id = failed["items"][0]["id"]
    assert await _json(client, f"{Q}/history/delete", id=first_id) == (200, {"success": True})
    assert await _json(client, f"{Q}/history/delete", download_id="h0") == (200, {"success": True})
    _, cleared = await _json(client, f"{Q}/history/clear", status="completed")
    assert cleared == {"success": True, "cleared": 3}
    _, rest = await _json(client, f"{Q}/history")
    assert scrub(rest, client.lm_context.paths.data_dir) == snapshot(name="after-clear")
    _, reset = await _json(client, f"{Q}/history/clear")
    assert reset == {"success": True, "cleared": 2}


async def test_progress_for_known_ids_before_and_after(client, snapshot):
    await _add(client, "waiting-for-slot")
    code, body = await progress(client, "waiting-for-slot")
    assert (code, body["status"], body["progress"]) == (200, "queued", 0)
    await _json(client, f"{Q}/queue/status", download_id="waiting-for-slot", status="waiting")
    code, body = await progress(client, "waiting-for-slot")
    assert body["status"] == "waiting"
    await _json(client, f"{Q}/queue/complete", download_id="waiting-for-slot", status="completed",
                bytes_downloaded=10, total_bytes=10)
    code, body = await progress(client, "waiting-for-slot")
    assert code == 200
    assert body == snapshot(name="from-history")
    await _add(client, "c")
    await _json(client, f"{Q}/queue/complete", download_id="c", status="canceled")
    assert (await progress(client, "c"))[1]["status"] == "cancelled"


async def test_state_changing_gets_are_guarded(client):
    foreign = await client.get(f"{Q}/queue/add", params={"download_id": "evil"},
                               headers={"Origin": "http://evil.example"})
    assert foreign.status == 403
    assert (await foreign.json())["success"] is False
    cross = await client.get(f"{Q}/queue/clear", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403
    extension = await client.get(f"{Q}/queue/add", params={"download_id": "ok"},
                                 headers={"Origin": "moz-extension://1234"})
    assert extension.status == 200
    assert extension.headers["Access-Control-Allow-Origin"] == "moz-extension://1234"
    reading = await client.get(f"{Q}/queue", headers={"Sec-Fetch-Site": "cross-site"})
    assert reading.status == 200
    _, body = await _json(client, f"{Q}/queue")
    assert [r["download_id"] for r in body["queue"]] == ["ok"]
