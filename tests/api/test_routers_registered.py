"""Every router is registered: each module of ``eotrust.api`` with a ``router`` or ``mount(app)``
is listed in ``ROUTERS``, imports, and every route it declares is served by ``create_app``.
A router that fails to import fails here, never becomes a silently missing part of the API."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi import APIRouter, FastAPI

import eotrust.api
from eotrust.api import app as app_module
from eotrust.settings import Settings


def _routers_on_disk() -> set[str]:
    found = set()
    for info in pkgutil.iter_modules(eotrust.api.__path__):
        module = importlib.import_module(f"eotrust.api.{info.name}")
        if isinstance(getattr(module, "router", None), APIRouter) or callable(getattr(module, "mount", None)):
            found.add(info.name)
    return found


def test_every_router_module_is_listed() -> None:
    assert _routers_on_disk() == set(app_module.ROUTERS)


def _routes(app: FastAPI) -> set[tuple[str, str, frozenset[str]]]:
    return {
        (type(r).__name__, getattr(r, "path", ""), frozenset(getattr(r, "methods", None) or ())) for r in app.routes
    }


@pytest.mark.parametrize("name", app_module.ROUTERS)
def test_router_is_served(name: str, settings: Settings) -> None:
    module = importlib.import_module(f"eotrust.api.{name}")
    alone = FastAPI()
    if callable(getattr(module, "mount", None)):
        module.mount(alone)
    else:
        alone.include_router(module.router)
    declared = _routes(alone) - _routes(FastAPI())  # without FastAPI's own (docs, openapi)
    assert declared, f"eotrust.api.{name} declares no route"
    missing = declared - _routes(app_module.create_app(settings))
    assert not missing, f"eotrust.api.{name}: {sorted(missing)} not served"
