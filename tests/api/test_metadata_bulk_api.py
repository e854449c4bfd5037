"""POST /api/lm/{type}/fetch-all-civitai: batched, cancellable bulk refresh with /ws/fetch-progress frames."""
from __future__ import annotations

import asyncio
import json

import pytest

from support.fake_civitai import fake_civitai  # noqa: F401 - fixture
from support.library import lm_sidecar
from support.metadata_helpers import civitai_env, http_clock  # noqa: F401 - fixtures
from support.metadata_helpers import add_known_lora, add_unknown_lora, fast_http, read_sidecar_json, stable
from support.snap import scrub
from support.ws_helpers import until


class FrameLog:
    """Collects the untyped bulk-refresh frames of /ws/fetch-progress."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.task: asyncio.Task | None = None

    async def start(self, client) -> None:
        ws = await client.ws_connect("/ws/fetch-progress")

        async def read() -> None:
            async for message in ws:
                frame = json.loads(message.data)
                if "status" in frame and "failure_count" in frame:
                    self.frames.append(frame)

        self.task = asyncio.create_task(read())
        self.ws = ws

    def statuses(self) -> list[str]:
        return [f["status"] for f in self.frames]

    async def stop(self) -> None:
        await self.ws.close()
        if self.task:
            await asyncio.gather(self.task, return_exceptions=True)


async def start_app(make_client, env, http, batch_size: int = 100):
    client = await make_client(env)
    metadata = client.lm_context.components["metadata"]
    metadata.set_http(http)
    metadata.batch_size = batch_size
    log = FrameLog()
    await log.start(client)
    return client, log


async def run_all(client, log):
    resp = await client.post("/api/lm/loras/fetch-all-civitai")
    body = await resp.json()
    assert resp.status == 200, body
    job = client.lm_context.jobs.get(body["job_id"])
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 20)
    await until(lambda: log.frames and log.frames[-1]["status"] in ("completed", "cancelled", "error", "rate_limited"))
    return body, job


async def test_bulk_refresh_batches_100_hashes(civitai_env, fake_civitai, make_client, http_clock,  # noqa: F811
                                               snapshot):
    known = [add_known_lora(fake_civitai, civitai_env.loras, f"k/model_{i:03d}.safetensors", seed=100 + i,
                            name=f"Model {i}", images=0)[1] for i in range(215)]
    unknown = add_unknown_lora(civitai_env.loras, "u/unknown.safetensors", seed=1)
    skipped = add_known_lora(fake_civitai, civitai_env.loras, "s/skipped.safetensors", seed=99, images=0,
                             sidecar=lm_sidecar("skipped", skip_metadata_refresh=True, sha256=""))[1]
    client, log = await start_app(make_client, civitai_env, http_clock[0])
    skipped_before = skipped.with_name("skipped.metadata.json").read_bytes()  # after startup hashing
    body, job = await run_all(client, log)
    assert stable(body, "job_id") == snapshot(name="start")
    assert job.status == "completed"
    assert stable(scrub(job.result, civitai_env.tmp), "job_id") == snapshot(name="result")
    batches = [r.json() for r in fake_civitai.requests_to("/api/v1/model-versions/by-hash", "POST")]
    assert [len(b) for b in batches] == [100, 100, 16]
    model_lookups = fake_civitai.requests_to("/api/v1/models", "GET")
    assert len(model_lookups) == 3 and all(len(r.query["ids"].split(",")) <= 100 for r in model_lookups)
    assert not fake_civitai.requests_to("/api/v1/model-versions/by-hash/")  # no one-by-one lookups
    assert read_sidecar_json(known[42])["model_name"] == "Model 42"
    assert read_sidecar_json(unknown)["civitai_deleted"] is True
    assert skipped.with_name("skipped.metadata.json").read_bytes() == skipped_before
    statuses = log.statuses()
    assert statuses[0] == "started" and statuses[-1] == "completed" and "processing" in statuses
    final = log.frames[-1]
    assert stable(scrub(final, civitai_env.tmp), "job_id") == snapshot(name="final_frame")
    listed = await (await client.get("/api/lm/loras/list?page_size=5&search=Model 42")).json()
    assert listed["items"][0]["from_civitai"] is True
    await log.stop()


async def test_bulk_refresh_cancel_midway(civitai_env, fake_civitai, make_client, http_clock):  # noqa: F811
    paths = [add_known_lora(fake_civitai, civitai_env.loras, f"c/m{i:02d}.safetensors", seed=300 + i, images=0,
                            name=f"Remote {i}")[1] for i in range(30)]
    client, log = await start_app(make_client, civitai_env, http_clock[0], batch_size=10)
    fake_civitai.stall(0.1, path="/api/v1/model-versions/by-hash")
    resp = await client.post("/api/lm/loras/fetch-all-civitai")
    job_id = (await resp.json())["job_id"]
    await until(lambda: any(f["status"] == "processing" for f in log.frames))
    resp = await client.post(f"/api/lm/jobs/{job_id}/cancel")
    assert resp.status == 200
    job = client.lm_context.jobs.get(job_id)
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 10)
    await until(lambda: log.frames[-1]["status"] == "cancelled")
    assert job.status == "cancelled"
    final = log.frames[-1]
    assert 0 < final["processed"] < 30
    refreshed = [p for p in paths if read_sidecar_json(p).get("from_civitai")]
    assert len(refreshed) == final["success"]
    untouched = [p for p in paths if "civitai_deleted" not in read_sidecar_json(p)]
    assert len(untouched) == 30 - final["processed"]  # nothing half-written
    await log.stop()


async def test_bulk_refresh_conflict(civitai_env, fake_civitai, make_client, http_clock, snapshot):  # noqa: F811
    for i in range(3):
        add_known_lora(fake_civitai, civitai_env.loras, f"m{i}.safetensors", seed=400 + i, images=0)
    client, log = await start_app(make_client, civitai_env, http_clock[0])
    fake_civitai.stall(0.1, path="/api/v1/model-versions/by-hash")
    first = await client.post("/api/lm/loras/fetch-all-civitai")
    second = await client.post("/api/lm/loras/fetch-all-civitai")
    assert second.status == 409
    assert stable(await second.json(), "job_id") == snapshot
    job = client.lm_context.jobs.get((await first.json())["job_id"])
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 10)
    await log.stop()


async def test_bulk_refresh_stops_when_circuit_opens(civitai_env, fake_civitai, make_client, snapshot):  # noqa: F811
    paths = [add_known_lora(fake_civitai, civitai_env.loras, f"d/m{i:02d}.safetensors", seed=500 + i,
                            images=0)[1] for i in range(25)]
    http, _clock = fast_http(attempts=2, breaker_threshold=2)
    try:
        client, log = await start_app(make_client, civitai_env, http, batch_size=10)
        before = {p: p.with_name(p.stem + ".metadata.json").read_bytes() for p in paths}
        fake_civitai.fail_next(1000, 503)
        _body, job = await run_all(client, log)
        assert job.status == "failed"
        assert "Civitai is not answering" in job.error
        final = log.frames[-1]
        assert final["status"] == "error"
        final["message"] = final["message"].replace(fake_civitai.host, "<fake>")
        final["message"] = final["message"].split(" retrying at")[0]
        final["failures"] = [{**f, "error": f["error"].replace(fake_civitai.host, "<fake>")}
                             for f in final["failures"][:2]]
        assert stable(scrub(final, civitai_env.tmp), "job_id") == snapshot
        assert len(fake_civitai.requests_to("/api/v1/model-versions/by-hash")) == 2  # then it failed fast
        assert all(p.with_name(p.stem + ".metadata.json").read_bytes() == before[p] for p in paths)
        await log.stop()
    finally:
        await http.close()


async def test_bulk_refresh_stops_when_rate_limited(civitai_env, fake_civitai, make_client, http_clock):  # noqa: F811
    paths = [add_known_lora(fake_civitai, civitai_env.loras, f"r{i}.safetensors", seed=600 + i, images=0)[1]
             for i in range(3)]
    client, log = await start_app(make_client, civitai_env, http_clock[0])
    sidecars = [p.with_name(p.stem + ".metadata.json") for p in paths]
    before = [s.read_bytes() if s.exists() else None for s in sidecars]
    fake_civitai.rate_limit_next(100, retry_after=2)
    _body, job = await run_all(client, log)
    assert job.status == "failed" and "rate limiting" in job.error
    assert log.frames[-1]["status"] == "rate_limited"
    # No model was marked or half-written, and nothing was asked of Civitai past the refused hash lookups.
    assert [s.read_bytes() if s.exists() else None for s in sidecars] == before
    asked = {r.path for r in fake_civitai.requests}
    assert asked == {"/api/v1/model-versions/by-hash"}
    await log.stop()


async def test_bulk_refresh_server_error_batch_is_reported(civitai_env, fake_civitai, make_client,  # noqa: F811
                                                           http_clock):
    for i in range(4):
        add_known_lora(fake_civitai, civitai_env.loras, f"e{i}.safetensors", seed=700 + i, images=0)
    client, log = await start_app(make_client, civitai_env, http_clock[0], batch_size=2)
    fake_civitai.malformed_json_next(1, path="/api/v1/model-versions/by-hash")
    _body, job = await run_all(client, log)
    assert job.status == "completed"
    assert job.result["failure_count"] == 2 and job.result["success"] == 2
    failures = [f for frame in log.frames for f in frame.get("failures", [])]
    assert failures and "malformed" in failures[0]["error"]
    await log.stop()


async def test_fetch_all_for_unknown_type_route_is_absent(civitai_env, fake_civitai, make_client,  # noqa: F811
                                                          http_clock):
    client, log = await start_app(make_client, civitai_env, http_clock[0])
    resp = await client.post("/api/lm/nothing/fetch-all-civitai")
    assert resp.status == 404
    # No refresh job was started and Civitai was never asked.
    assert not [j for j in client.lm_context.jobs.list_jobs() if j.kind.startswith("metadata_refresh")]
    assert fake_civitai.requests == []
    await log.stop()
