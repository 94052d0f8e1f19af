"""The hub against its own OpenAPI document: schemathesis generates requests for every
operation (valid and invalid ones) and runs them on the real app and a migrated SQLite file, as
an admin and as a street operator. No answer may be a 5xx, every answer must match the
documented schema and content type. Bounded and derandomized, so CI sees the same examples.

``GRIDLINK_API_FUZZ_EXAMPLES`` raises the examples per operation (``make fuzz``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from hub.app import create_app
from hub.clock import FrozenClock
from hub.seed import DemoData
from hub.settings import Settings

EXAMPLES = int(os.environ.get("GRIDLINK_API_FUZZ_EXAMPLES", "20"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
STREET_OPERATOR = "street-330102001-operator"


@pytest.fixture
def hub_app(settings: Settings, clock: FrozenClock, demo: DemoData) -> Iterator[FastAPI]:
    app = create_app(settings=settings, clock=clock)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def api_schema(hub_app: FastAPI) -> BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", hub_app)


BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples on every run
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _walk(api_schema: BaseSchema, app: FastAPI, token: str) -> int:
    """Every operation, ``EXAMPLES`` cases each; fails listing each operation that failed.
    (One test per role rather than schemathesis' pytest plugin: its lazy ``from_fixture``
    loader does not run on pytest 9.)"""
    headers = {"Authorization": f"Bearer {token}"}
    calls = 0
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/live":
            continue  # a stream never ends in-process: tests/hub/live tests it over HTTP

        @BOUNDED
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(app=app, headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.label}: {exc}")
    assert failures == []
    return calls


def test_api_as_admin(api_schema: BaseSchema, hub_app: FastAPI, settings: Settings) -> None:
    calls = _walk(api_schema, hub_app, settings.admin_token.get_secret_value())
    print(f"schemathesis, admin: {calls} requests")  # noqa: T201


def test_api_as_street_operator(api_schema: BaseSchema, hub_app: FastAPI, demo: DemoData) -> None:
    calls = _walk(api_schema, hub_app, demo.tokens[STREET_OPERATOR])
    print(f"schemathesis, street operator: {calls} requests")  # noqa: T201


def _integers(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield where, node
        for key, value in node.items():
            yield from _integers(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _integers(value, f"{where}/{i}")


def test_every_integer_the_api_takes_is_bounded(hub_app: FastAPI) -> None:
    """Request parameters and bodies: each integer declares both a minimum and a maximum (the
    ``hub.bounds`` types), so no caller can hand the database a value it cannot hold."""
    doc = hub_app.openapi()
    inputs: list[tuple[str, Any]] = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            inputs.append((f"{method} {path}", op.get("parameters", [])))
            inputs.append((f"{method} {path} body", op.get("requestBody", {})))
    request_models = {ref.rsplit("/", 1)[-1] for _where, node in inputs for ref in _refs(node)}
    seen: set[str] = set()
    while request_models - seen:  # models nested in request bodies (Location in CloseBody, ...)
        name = sorted(request_models - seen)[0]
        seen.add(name)
        model = doc["components"]["schemas"][name]
        inputs.append((name, model))
        request_models |= {ref.rsplit("/", 1)[-1] for ref in _refs(model)}
    unbounded = [
        where
        for label, node in inputs
        for where, schema_ in _integers(node, label)
        if not ({"minimum", "exclusiveMinimum"} & schema_.keys())
        or not ({"maximum", "exclusiveMaximum"} & schema_.keys())
    ]
    assert unbounded == []


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
