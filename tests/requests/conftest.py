"""Fixtures for request tests: a stand-in for another feature's subject data, and helpers."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from privacy_service.crypto import blind_index
from privacy_service.subjects import (
    ErasureOutcome,
    Subject,
    register_provider,
    unregister_provider,
)
from tests.support.smtp import links_in


class MemoryProvider:
    """Another feature's data (think consent records) kept in memory, per subject.

    ``export`` yields only the asked subject's records; ``erase`` removes them and remembers it
    was called, so a test fails if fulfilment forgets a provider or leaks another subject.
    """

    section = "test_feature"

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.erased: list[str] = []
        self.fail_with: Exception | None = None

    def add(self, email: str, **record: Any) -> None:
        self.records.setdefault(blind_index(email), []).append({"email": email, **record})

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        if self.fail_with is not None:
            raise self.fail_with
        for record in self.records.get(subject.email_index, []):
            yield dict(record)

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        if self.fail_with is not None:
            raise self.fail_with
        self.erased.append(subject.email_index)
        removed = len(self.records.pop(subject.email_index, []))
        outcome = ErasureOutcome(self.section)
        if removed:
            outcome.removed["records"] = removed
        outcome.kept.append("test records under a legal hold")
        return outcome


@pytest.fixture
def memory_provider() -> Iterator[MemoryProvider]:
    provider = MemoryProvider()
    register_provider(provider)
    try:
        yield provider
    finally:
        unregister_provider(provider.section)


def path_of(link: str) -> str:
    """``http://localhost/a/b`` -> ``/a/b`` (emails link to BASE_URL)."""
    return "/" + link.split("/", 3)[3]


def link_in(smtp: Any, to: str, fragment: str, count: int = 1) -> str:
    messages = smtp.wait_for(to=to, count=count)
    for message in reversed(messages):
        for link in links_in(message):
            if fragment in link:
                return path_of(link)
    raise AssertionError(f"no link with {fragment!r} in mail to {to}")


def unzip(content: bytes) -> tuple[dict[str, Any], str]:
    """(data.json parsed, report.html text) of an export ZIP."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == ["data.json", "report.html"]
        return json.loads(archive.read("data.json")), archive.read("report.html").decode()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64
