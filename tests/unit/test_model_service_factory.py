"""ModelServiceFactory: registration, clear errors, memoised route objects, isolated setup failures."""
from __future__ import annotations

import pytest
from aiohttp import web

from lora_manager.py.services.model_service_factory import ModelServiceFactory, UnknownModelType


class Service:
    def __init__(self, name, context):
        self.name = name


class Routes:
    built = 0

    def __init__(self, name, context):
        Routes.built += 1
        self.name = name

    def route_table(self):
        async def handler(request):
            return web.json_response({"type": self.name})

        return [web.get(f"/api/lm/{self.name}/ping", handler)]


class BrokenRoutes(Routes):
    def route_table(self):
        raise RuntimeError("cannot set up")


def test_registration_and_lookup():
    factory = ModelServiceFactory()
    factory.register_model_type("lora", Service, Routes)
    assert factory.get_service_class("lora") is Service
    assert factory.get_route_class("lora") is Routes
    assert factory.registered_types() == ["lora"]


def test_unknown_type_has_a_clear_error():
    factory = ModelServiceFactory()
    factory.register_model_type("lora", Service, Routes)
    with pytest.raises(UnknownModelType) as info:
        factory.get_service_class("vae")
    assert str(info.value) == "Unknown model type 'vae' (registered: lora)"
    with pytest.raises(UnknownModelType):
        factory.get_route_class("vae")


def test_empty_name_is_refused():
    with pytest.raises(ValueError):
        ModelServiceFactory().register_model_type("", Service, Routes)


def test_route_instances_are_memoised():
    factory = ModelServiceFactory()
    factory.register_model_type("lora", Service, Routes)
    first = factory.get_route_instance("lora", object())
    assert factory.get_route_instance("lora", object()) is first
    factory.register_model_type("lora", Service, Routes)  # re-registration drops the memo
    assert factory.get_route_instance("lora", object()) is not first


async def test_failing_route_setup_does_not_stop_the_others(aiohttp_client):
    factory = ModelServiceFactory()
    factory.register_model_type("broken", Service, BrokenRoutes)
    factory.register_model_type("lora", Service, Routes)
    errors = {}
    app = web.Application()
    registered = factory.setup_all_routes(app, object(), on_error=lambda n, e: errors.__setitem__(n, str(e)))
    assert registered == ["lora"]
    assert errors == {"broken": "cannot set up"}
    client = await aiohttp_client(app)
    assert await (await client.get("/api/lm/lora/ping")).json() == {"type": "lora"}


def test_clear_registrations():
    factory = ModelServiceFactory()
    factory.register_model_type("lora", Service, Routes)
    factory.get_route_instance("lora", None)
    factory.clear_registrations()
    assert factory.registered_types() == []
    with pytest.raises(UnknownModelType):
        factory.get_route_instance("lora", None)
