"""What each feature holds about a data subject: the seam between features and fulfilment.

Every feature that stores personal data registers one ``SubjectDataProvider``. An access request
asks every provider to ``export`` the subject; an erasure asks every provider to ``erase`` it.
The requests feature never reaches into another feature's tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Subject:
    """A data subject, known by address; ``email_index`` is its blind index."""

    email: str
    email_index: str


@dataclass
class ErasureOutcome:
    """What a provider removed, anonymised and (by legal obligation) kept."""

    section: str
    removed: dict[str, int] = field(default_factory=dict)
    anonymised: dict[str, int] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)


class SubjectDataProvider(Protocol):
    section: str

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        """Yield the subject's records, JSON-serialisable, one at a time (exports are streamed)."""
        ...

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        """Remove or anonymise the subject; running it twice must be harmless."""
        ...


_providers: dict[str, SubjectDataProvider] = {}


def register_provider(provider: SubjectDataProvider) -> None:
    _providers[provider.section] = provider


def unregister_provider(section: str) -> None:
    """Forget a provider (tests register temporary ones); unknown sections are ignored."""
    _providers.pop(section, None)


def providers() -> list[SubjectDataProvider]:
    return list(_providers.values())
