"""ModelServiceFactory: the registry that maps a model type to its service class and its route class.

Why: LoRAs, checkpoints and embeddings share one API shape; a new model type is one registration, and one
type whose routes fail to set up never takes the others down with it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

logger = logging.getLogger(__name__)


class UnknownModelType(KeyError):
    """Asked for a model type nobody registered."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        super().__init__(name)

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none"
        return f"Unknown model type '{self.name}' (registered: {known})"


@dataclass(frozen=True)
class Registration:
    name: str
    service_class: type
    route_class: type


class ModelServiceFactory:
    """Registry of model types. One instance lives on the app context; tests build their own."""

    def __init__(self) -> None:
        self._registrations: dict[str, Registration] = {}
        self._route_instances: dict[str, Any] = {}

    def register_model_type(self, name: str, service_class: type, route_class: type) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a model type needs a non-empty name")
        self._registrations[name] = Registration(name, service_class, route_class)
        self._route_instances.pop(name, None)

    def registered_types(self) -> list[str]:
        return list(self._registrations)

    def _get(self, name: str) -> Registration:
        try:
            return self._registrations[name]
        except KeyError:
            raise UnknownModelType(name, self.registered_types()) from None

    def get_service_class(self, name: str) -> type:
        return self._get(name).service_class

    def get_route_class(self, name: str) -> type:
        return self._get(name).route_class

    def get_route_instance(self, name: str, context: Any) -> Any:
        """The route object of a type, built once per factory (route classes take ``(name, context)``)."""
        if name not in self._route_instances:
            self._route_instances[name] = self.get_route_class(name)(name, context)
        return self._route_instances[name]

    def setup_all_routes(self, app: web.Application, context: Any,
                         on_error: Callable[[str, Exception], None] | None = None) -> list[str]:
        """Register every type's routes; a failing type is logged and skipped. Returns the types that registered."""
        registered: list[str] = []
        for name in self.registered_types():
            try:
                routes = self.get_route_instance(name, context).route_table()
                app.router.add_routes(routes)
            except Exception as exc:  # noqa: BLE001 - isolate one type's failure from the others
                logger.exception("Routes for model type '%s' failed to set up", name)
                self._route_instances.pop(name, None)
                if on_error:
                    on_error(name, exc)
                continue
            registered.append(name)
        return registered

    def clear_registrations(self) -> None:
        self._registrations.clear()
        self._route_instances.clear()
