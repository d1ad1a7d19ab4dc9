"""ZIP archives written front to back, members deflated as written or ahead (zip_stream.py)."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from privacy_service.requests import zip_stream
from privacy_service.requests.zip_stream import Deflater, ZipStream, joined


def _archive(build) -> bytes:
    out = io.BytesIO()
    archive = ZipStream(out.write)
    build(archive)
    archive.close()
    assert archive.bytes_written == len(out.getvalue())
    return out.getvalue()


def _ahead(archive: ZipStream, name: str, head: bytes, body: bytes) -> None:
    """A member made of two DEFLATE streams, the body deflated before the head is known."""
    body_data: list[bytes] = []
    body_part = Deflater(body_data.append, 1)
    for start in range(0, len(body), 7000):
        body_part.write(body[start : start + 7000])
    body_part.close()
    head_data: list[bytes] = []
    head_part = Deflater(head_data.append, 1)
    head_part.write(head)
    head_part.close(last=False)
    archive.add_deflated(name, joined(head_part, body_part), [*head_data, *body_data])


def test_members_read_back_checked_and_described_as_zipfile_describes_its_own():
    noise = os.urandom(50_000)  # does not compress: deflate's stored blocks
    text = "Été — <b>ok</b>\n".encode() * 20_000

    def build(archive: ZipStream) -> None:
        with archive.member("data.json", 1) as entry:
            entry.write(b'{"a":')
            entry.write(text)
        _ahead(archive, "report.html", b"<!doctype html><h1>Head</h1>", text + noise)
        with archive.member("empty.txt", 1):
            pass
        _ahead(archive, "donnees-été.bin", b"", noise)

    content = _archive(build)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None  # every CRC-32 checks
        assert archive.namelist() == ["data.json", "report.html", "empty.txt", "donnees-été.bin"]
        assert archive.read("data.json") == b'{"a":' + text
        assert archive.read("report.html") == b"<!doctype html><h1>Head</h1>" + text + noise
        assert archive.read("empty.txt") == b""
        assert archive.read("donnees-été.bin") == noise
        ours = archive.infolist()

    # What zipfile itself writes to an unseekable stream, member for member.
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            self.data += data
            return len(data)

    target = Unseekable()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as reference:
        for info in ours:
            with reference.open(info.filename, "w", force_zip64=True) as entry:
                entry.write(b"x")
    with zipfile.ZipFile(io.BytesIO(bytes(target.data))) as reference:
        for mine, theirs in zip(ours, reference.infolist(), strict=True):
            for attribute in (
                "filename",
                "flag_bits",
                "compress_type",
                "date_time",
                "create_system",
                "create_version",
                "extract_version",
                "external_attr",
                "header_offset",
            ):
                if attribute != "header_offset" or mine is ours[0]:
                    assert getattr(mine, attribute) == getattr(theirs, attribute), attribute


def test_large_sizes_offsets_and_counts_use_zip64_records(monkeypatch):
    # The limits lowered: the ZIP64 fields of a multi-gigabyte export, on a few bytes.
    monkeypatch.setattr(zip_stream, "ZIP64_LIMIT", 100)
    monkeypatch.setattr(zip_stream, "COUNT_LIMIT", 2)
    payload = os.urandom(300)

    def build(archive: ZipStream) -> None:
        for number in range(4):
            with archive.member(f"part-{number}.bin", 1) as entry:
                entry.write(payload)

    with zipfile.ZipFile(io.BytesIO(_archive(build))) as archive:
        assert archive.testzip() is None
        assert [archive.read(f"part-{number}.bin") for number in range(4)] == [payload] * 4
        assert archive.getinfo("part-3.bin").header_offset > 100


def test_wrong_or_duplicate_members_are_refused():
    archive = ZipStream(io.BytesIO().write)
    with archive.member("a.txt", 1) as entry:
        entry.write(b"a")
    with pytest.raises(ValueError, match="duplicate"), archive.member("a.txt", 1):
        pass
    part = Deflater([].append, 1)
    part.write(b"data")
    part.close()
    with pytest.raises(ValueError, match="DEFLATE data"):
        archive.add_deflated("b.txt", joined(Deflater([].append, 1), part), [b"short"])
