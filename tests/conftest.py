"""Fixtures every test folder may use: the one Chromium of a test process."""

from tests.support.browser import chromium  # noqa: F401 - fixture
