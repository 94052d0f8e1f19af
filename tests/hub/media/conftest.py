"""Media fixtures: the S3-compatible server (moto's, its own process; one per test session) and
a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.s3 import MotoS3


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


@pytest.fixture
def bucket(s3_server: MotoS3) -> str:
    name = f"gridlink-media-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(s3_server: MotoS3) -> Any:
    """A plain boto3 client on the server: what the test checks the bucket with."""
    return s3_server.client()
