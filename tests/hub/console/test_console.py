"""The console page and the OpenAPI document are served."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_openapi_and_console_page(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/cases/{case_id}/close" in schema["paths"]
    assert "Gridlink" in client.get("/console").text
    assert client.get("/", follow_redirects=False).headers["location"] == "/console"
