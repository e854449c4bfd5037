"""The shared fake Civitai behaves like a real file host: Range, headers, faults seen by a real client.

Download, refresh and recipe-import tests across the suite rely on these behaviours.
"""
from __future__ import annotations

import hashlib
import io
import json
import struct

import aiohttp
import pytest

from support.fake_civitai import FakeCivitai, fake_civitai, make_png, make_safetensors  # noqa: F401  (fixture)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


def download_url(fake: FakeCivitai, version) -> str:
    return f"{fake.base_url}/api/download/models/{version.id}"


async def test_download_whole_file_with_headers(fake_civitai, session):
    version = fake_civitai.add_model("My LoRA").versions[0]
    file = version.files[0]
    async with session.get(download_url(fake_civitai, version)) as response:
        body = await response.read()
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(file.data))
        assert response.headers["Accept-Ranges"] == "bytes"
        assert f'filename="{file.name}"' in response.headers["Content-Disposition"]
    assert body == file.data and hashlib.sha256(body).hexdigest() == file.sha256
    (header_len,) = struct.unpack("<Q", body[:8])
    header = json.loads(body[8 : 8 + header_len])
    assert "__metadata__" in header  # a real safetensors file


@pytest.mark.parametrize(
    "range_header, start, end",
    [("bytes=100-", 100, None), ("bytes=0-9", 0, 9), ("bytes=-16", -16, None), ("bytes=10-999999", 10, None)],
)
async def test_range_requests(fake_civitai, session, range_header, start, end):
    version = fake_civitai.add_model().versions[0]
    data = version.files[0].data
    expected = data[start:] if end is None else data[start : end + 1]
    async with session.get(download_url(fake_civitai, version), headers={"Range": range_header}) as response:
        assert response.status == 206
        assert await response.read() == expected
        first = start % len(data)
        assert response.headers["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"


async def test_unsatisfiable_and_ignored_ranges(fake_civitai, session):
    version = fake_civitai.add_model().versions[0]
    data = version.files[0].data
    async with session.get(download_url(fake_civitai, version), headers={"Range": f"bytes={len(data)}-"}) as response:
        assert response.status == 416 and response.headers["Content-Range"] == f"bytes */{len(data)}"
    async with session.get(download_url(fake_civitai, version), headers={"Range": "bytes=5-2"}) as response:
        assert response.status == 200 and await response.read() == data
    fake_civitai.ignore_range = True
    async with session.get(download_url(fake_civitai, version), headers={"Range": "bytes=100-"}) as response:
        assert response.status == 200 and await response.read() == data


async def test_file_choice_by_type_and_format(fake_civitai, session):
    version = fake_civitai.add_model(
        versions=[{"files": [{}, {"type": "Training Data", "format": "Other", "n_bytes": 100}]}]
    ).versions[0]
    training = version.files[1]
    async with session.get(download_url(fake_civitai, version), params={"type": "Training Data", "format": "Other"}) as response:
        assert await response.read() == training.data
        assert training.name.endswith(".zip")
    async with session.get(download_url(fake_civitai, version), params={"type": "Nope"}) as response:
        assert response.status == 404
    async with session.get(f"{fake_civitai.base_url}/api/download/models/1") as response:
        assert response.status == 404


async def test_cut_after_closes_mid_body_once(fake_civitai, session):
    version = fake_civitai.add_model().versions[0]
    fake_civitai.cut_after(1000)
    with pytest.raises(aiohttp.ClientPayloadError):
        async with session.get(download_url(fake_civitai, version)) as response:
            assert response.headers["Content-Length"] == str(len(version.files[0].data))
            await response.read()
    async with session.get(download_url(fake_civitai, version)) as response:
        assert await response.read() == version.files[0].data


async def test_corrupt_sends_wrong_bytes_of_the_same_length(fake_civitai, session):
    version = fake_civitai.add_model().versions[0]
    fake_civitai.corrupt = True
    async with session.get(download_url(fake_civitai, version)) as response:
        body = await response.read()
    assert len(body) == len(version.files[0].data) and body != version.files[0].data
    fake_civitai.clear_faults()
    async with session.get(download_url(fake_civitai, version)) as response:
        assert await response.read() == version.files[0].data


async def test_slow_still_delivers_everything(fake_civitai, session):
    version = fake_civitai.add_model(versions=[{"files": [{"n_bytes": 2000}]}]).versions[0]
    fake_civitai.slow(200_000, path="/api/download")
    async with session.get(download_url(fake_civitai, version)) as response:
        assert await response.read() == version.files[0].data
    fake_civitai.slow(None)


async def test_stall_then_body(fake_civitai, session):
    version = fake_civitai.add_model().versions[0]
    fake_civitai.stall(0.05, n=1, path="/api/download")
    async with session.get(download_url(fake_civitai, version)) as response:
        assert response.status == 200
        assert await response.read() == version.files[0].data


async def test_status_faults_are_scoped_and_count_down(fake_civitai, session):
    version = fake_civitai.add_model().versions[0]
    fake_civitai.fail_next(1, status=503, path="/api/download", retry_after=2)
    async with session.get(f"{fake_civitai.base_url}/api/v1/model-versions/{version.id}") as response:
        assert response.status == 200  # other paths are untouched
    async with session.get(download_url(fake_civitai, version)) as response:
        assert response.status == 503 and response.headers["Retry-After"] == "2"
    async with session.get(download_url(fake_civitai, version)) as response:
        assert response.status == 200


async def test_api_key_required_for_downloads(fake_civitai, session):
    version = fake_civitai.add_model().versions[0]
    fake_civitai.require_api_key = "k"
    async with session.get(download_url(fake_civitai, version)) as response:
        assert response.status == 401
    async with session.get(download_url(fake_civitai, version), headers={"Authorization": "Bearer k"}) as response:
        assert response.status == 200
    async with session.get(download_url(fake_civitai, version), params={"token": "k"}) as response:
        assert response.status == 200


async def test_redirect_to_a_second_host_like_a_cdn(fake_civitai, session):
    version = fake_civitai.add_model().versions[0]
    async with FakeCivitai() as cdn:
        cdn.peers.append(fake_civitai)
        fake_civitai.redirect_downloads = cdn.base_url
        async with session.get(download_url(fake_civitai, version), headers={"Authorization": "Bearer k"}) as response:
            assert str(response.url).startswith(cdn.base_url + "/files/")
            assert await response.read() == version.files[0].data
        assert "Authorization" not in cdn.requests[-1].headers  # aiohttp drops it across hosts
    fake_civitai.redirect_downloads = True
    async with session.get(download_url(fake_civitai, version), headers={"Range": "bytes=8-"}) as response:
        assert response.status == 206 and await response.read() == version.files[0].data[8:]
    async with session.get(f"{fake_civitai.base_url}/files/1/x.bin") as response:
        assert response.status == 404


async def test_media_images_videos_and_avatars(fake_civitai, session):
    from PIL import Image

    version = fake_civitai.add_model(creator="ann").versions[0]
    image = fake_civitai.add_image(version, width=40, height=30, png_text={"parameters": "a cat\nSteps: 20"})
    video = fake_civitai.add_image(version, type="video")
    answer = fake_civitai.version_json(version)
    urls = [i["url"] for i in answer["images"]]
    async with session.get(urls[-2]) as response:
        picture = Image.open(io.BytesIO(await response.read()))
        assert picture.size == (40, 30) and picture.info["parameters"] == "a cat\nSteps: 20"
    assert image.meta["prompt"]
    async with session.get(urls[-1]) as response:
        assert response.headers["Content-Type"] == "video/mp4" and video.name.endswith(".mp4")
    avatar = fake_civitai.model_json(fake_civitai.models[version.model_id])["creator"]["image"]
    async with session.get(avatar) as response:
        assert response.status == 200 and (await response.read()).startswith(b"\x89PNG")
    async with session.get(f"{fake_civitai.base_url}/media/999/x.png") as response:
        assert response.status == 404


async def test_images_api_filters_and_models_api_filters(fake_civitai, session):
    version = fake_civitai.add_model("Alpha", creator="zed").versions[0]
    nsfw = fake_civitai.add_model("Beta", creator="zed", nsfw=True)
    image = version.images[0]
    async with session.get(f"{fake_civitai.base_url}/api/v1/images", params={"modelVersionId": str(version.id)}) as response:
        assert [i["id"] for i in (await response.json())["items"]] == [image.id]
    async with session.get(f"{fake_civitai.base_url}/api/v1/models", params={"username": "zed"}) as response:
        assert [m["name"] for m in (await response.json())["items"]] == ["Alpha"]  # nsfw hidden by default
    async with session.get(f"{fake_civitai.base_url}/api/v1/models", params={"ids": str(nsfw.id), "nsfw": "true"}) as response:
        assert [m["name"] for m in (await response.json())["items"]] == ["Beta"]
    async with session.get(f"{fake_civitai.base_url}/api/v1/models", params={"query": "alp", "cursor": "bad"}) as response:
        assert response.status == 400
    async with session.post(f"{fake_civitai.base_url}/api/v1/model-versions/by-hash", data=b"{nope") as response:
        assert response.status == 400
    by_autov2 = version.files[0].sha256[:10]
    async with session.get(f"{fake_civitai.base_url}/api/v1/model-versions/by-hash/{by_autov2}") as response:
        assert (await response.json())["id"] == version.id


def test_helpers_make_valid_data():
    data = make_safetensors(seed=3, n_bytes=11, metadata={"k": "v"})
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    assert header["__metadata__"] == {"k": "v"} and len(data) == 8 + size + 10 and size % 8 == 0
    assert make_png(4, 4).startswith(b"\x89PNG")


async def test_fake_requires_start_for_urls():
    fake = FakeCivitai()
    with pytest.raises(RuntimeError):
        fake.base_url
    await fake.close()  # closing an unstarted fake is harmless
