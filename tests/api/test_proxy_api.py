"""Every remote call goes through the configured proxy: a download's metadata call, the model file and its
preview image all reach the fake Civitai via a forwarding proxy on 127.0.0.1, which records them."""
from __future__ import annotations

import base64

import pytest

from support.downloads import add_lora, download_client, wait_history
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.loopback_proxy import LoopbackProxy


@pytest.fixture
async def proxy():
    server = LoopbackProxy()
    await server.start()
    yield server
    await server.close()


async def test_download_metadata_file_and_preview_go_through_settings_proxy(lib_env, make_client, fake_civitai,
                                                                              monkeypatch, proxy):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    version = add_lora(fake_civitai, "Proxied Style")
    file = version.files[0]
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, proxy_enabled=True,
                                   proxy_host="127.0.0.1", proxy_port=proxy.port, proxy_type="http",
                                   proxy_username="user", proxy_password="secret")

    response = await client.post("/api/lm/download-model", json={"model_version_id": version.id,
                                                                 "download_id": "px-1"})
    assert response.status == 200
    row = await wait_history(client, "px-1")
    assert row["status"] == "completed"
    assert (lib_env.loras / "SDXL 1.0" / "style" / file.name).read_bytes() == file.data

    seen = [r.url for r in proxy.requests]
    assert any(f"/api/v1/model-versions/{version.id}" in url for url in seen), seen
    assert any(url.startswith(fake_civitai.base_url) and "/download/" in url for url in seen), seen
    assert any(url.startswith(fake_civitai.base_url) and "/media/" in url for url in seen), seen
    expected = "Basic " + base64.b64encode(b"user:secret").decode()
    assert {r.proxy_authorization for r in proxy.requests} == {expected}

    settings = await (await client.get("/api/lm/settings")).json()
    assert "secret" not in str(settings)


async def test_env_proxy_is_used_when_settings_name_none(lib_env, make_client, fake_civitai, monkeypatch, proxy):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    version = add_lora(fake_civitai, "Env Proxied")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)

    response = await client.post("/api/lm/download-model", json={"model_version_id": version.id,
                                                                 "download_id": "px-2"})
    assert response.status == 200
    assert (await wait_history(client, "px-2"))["status"] == "completed"
    assert any(f"/api/v1/model-versions/{version.id}" in r.url for r in proxy.requests)
    assert any("/download/" in r.url for r in proxy.requests)


async def test_guard_still_judges_the_target_not_the_proxy(lib_env, make_client, fake_civitai, monkeypatch, proxy):
    """With a loopback proxy trusted, a client-chosen local-network target is still refused before the proxy."""
    from lora_manager.py.services.remote.clients import remote_clients
    from lora_manager.py.services.remote.errors import RemoteError

    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, proxy_enabled=True,
                                   proxy_host="127.0.0.1", proxy_port=proxy.port)
    session = await remote_clients(client.lm_context).http.session()
    with pytest.raises(RemoteError, match="local or private network"):
        async with session.get("http://10.1.2.3/secret"):
            pass
    assert proxy.requests == []


@pytest.mark.parametrize("values", [
    {}, {"proxy_enabled": False, "proxy_host": "p", "proxy_port": 8080},
    {"proxy_enabled": True, "proxy_port": 8080}, {"proxy_enabled": True, "proxy_host": "a/b", "proxy_port": 1},
    {"proxy_enabled": True, "proxy_host": "p", "proxy_port": "x"},
    {"proxy_enabled": True, "proxy_host": "p", "proxy_port": 70000},
    {"proxy_enabled": True, "proxy_host": "p", "proxy_port": 1080, "proxy_type": "socks5"},
    {"proxy_enabled": True, "proxy_host": "p", "proxy_port": 1080, "proxy_type": "gopher"},
])
def test_off_or_unusable_proxy_settings_mean_no_proxy(values):
    from lora_manager.py.services.remote.proxy import proxy_from_settings, session_options

    assert proxy_from_settings(values) is None
    assert session_options(None) == {"trust_env": True}


def test_proxy_settings_accept_anchor_spellings():
    from lora_manager.py.services.remote.proxy import proxy_from_settings, session_options

    config = proxy_from_settings({"proxy_enabled": "true", "proxy_host": " proxy.lan ", "proxy_port": "3128",
                                  "proxy_type": "HTTPS", "proxy_username": "u", "proxy_password": "p@ss"})
    assert config is not None and config.url == "https://proxy.lan:3128"
    assert str(session_options(config)["proxy"]) == "https://u:p%40ss@proxy.lan:3128"


async def test_unreachable_proxy_fails_the_download_clearly_and_keeps_nothing(lib_env, make_client, fake_civitai,
                                                                              monkeypatch, proxy):
    version = add_lora(fake_civitai, "Blocked Style")
    dead_port = proxy.port
    await proxy.close()
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, proxy_enabled=True,
                                   proxy_host="127.0.0.1", proxy_port=dead_port)
    from lora_manager.py.services.remote.clients import remote_clients
    from lora_manager.py.services.remote.resilience import RetryPolicy

    remote_clients(client.lm_context).http.policy = RetryPolicy(max_attempts=1)  # no backoff waits in the test
    response = await client.post("/api/lm/download-model", json={"model_version_id": version.id,
                                                                 "download_id": "px-3"})
    body = await response.json()
    if response.status == 200:
        body = await wait_history(client, "px-3")
        assert body["status"] == "failed"
    assert body.get("error"), body
    assert "Could not connect" in body["error"]
    assert not list(lib_env.loras.rglob("*.safetensors*"))
    assert fake_civitai.requests == []  # nothing went around the proxy
