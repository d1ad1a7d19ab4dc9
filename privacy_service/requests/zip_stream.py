"""ZIP archives written front to back into a write-only stream, from DEFLATE data made as the
members are written or ahead of time.

The access export needs both: it writes ``data.json`` into the archive while it deflates
``report.html`` into a sealed spool, then copies the report's compressed bytes in. ``zipfile``
only deflates what it is given, which made the export spool the report in clear (sealed) and
deflate it at the end; and ISA-L's DEFLATE (python-isal) is five times as fast as zlib's at
level 1 for the same size, with a CRC-32 as fast (bench/access_export.py).

The records are those ``zipfile`` writes to an unseekable stream with ``force_zip64=True``
(PKWARE APPNOTE.TXT 6.3.9, §4.3), which ``zipfile`` and unzip tools read: per member a local
header (version 4.5, data-descriptor flag, ZIP64 extra field), the DEFLATE data, a ZIP64 data
descriptor (CRC-32, sizes); then the central directory, with ZIP64 fields and end records only
where sizes, offsets or the count need them. Members carry no date (1980-01-01, as ``zipfile``
gives a member opened by name): the export's date is in its content.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from isal import isal_zlib

# Past this, zipfile's own limit, a size or offset goes into a ZIP64 field.
ZIP64_LIMIT = (1 << 31) - 1
COUNT_LIMIT = (1 << 16) - 1
_VERSION = 45  # 4.5: ZIP64
_UNIX = 3
_DEFLATED = 8
_FLAG_DATA_DESCRIPTOR = 0x08
_FLAG_UTF8_NAME = 0x800
_DOS_DATE = (1980 - 1980) << 9 | 1 << 5 | 1  # 1980-01-01
_DOS_TIME = 0
_EXTERNAL_ATTR = 0o600 << 16  # -rw-------
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_DATA_DESCRIPTOR = struct.Struct("<LLQQ")
_CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")
_END_64 = struct.Struct("<4sQ2H2L4Q")
_END_64_LOCATOR = struct.Struct("<4sLQL")
_END = struct.Struct("<4s4H2LH")


class Deflater:
    """Raw DEFLATE of what is written to it, passed to ``sink``, with the CRC-32 and sizes of
    both sides (what a ZIP member's headers need)."""

    def __init__(self, sink: Callable[[bytes], Any], level: int) -> None:
        self._sink = sink
        self._compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
        self.crc = 0
        self.size = 0
        self.compressed_size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self.crc = isal_zlib.crc32(data, self.crc)
        self.size += len(data)
        compressed = self._compressor.compress(data)
        if compressed:
            self.compressed_size += len(compressed)
            self._sink(compressed)
        return len(data)

    def close(self, *, last: bool = True) -> None:
        """End the data: ``last=False`` leaves the DEFLATE stream open (a sync flush, ending on a
        byte boundary) so the stream of another ``Deflater`` may follow it (``joined``)."""
        compressed = self._compressor.flush(isal_zlib.Z_FINISH if last else isal_zlib.Z_SYNC_FLUSH)
        self.compressed_size += len(compressed)
        self._sink(compressed)


@dataclass(frozen=True)
class DeflatedData:
    crc: int
    size: int
    compressed_size: int


def joined(first: Deflater, then: Deflater) -> DeflatedData:
    """What the DEFLATE data of ``first`` (closed with ``last=False``) followed by that of
    ``then`` holds: a member may be made of both, written one after the other."""
    return DeflatedData(
        isal_zlib.crc32_combine(first.crc, then.crc, then.size),
        first.size + then.size,
        first.compressed_size + then.compressed_size,
    )


@dataclass(frozen=True)
class _Member:
    name: bytes
    flags: int
    offset: int
    data: DeflatedData


class ZipStream:
    """A ZIP archive written to ``sink`` as its members come; ``close()`` ends it."""

    def __init__(self, sink: Callable[[bytes], Any]) -> None:
        self._sink = sink
        self._members: list[_Member] = []
        self._names: set[bytes] = set()
        self.bytes_written = 0

    def _write(self, data: bytes) -> None:
        self.bytes_written += len(data)
        self._sink(data)

    @contextmanager
    def member(self, name: str, level: int) -> Iterator[Deflater]:
        """A member whose data is what is written to the given ``Deflater`` (closed at exit)."""
        offset, encoded, flags = self._start(name)
        deflater = Deflater(self._write, level)
        yield deflater
        deflater.close()
        self._end(
            offset,
            encoded,
            flags,
            DeflatedData(deflater.crc, deflater.size, deflater.compressed_size),
        )

    def add_deflated(self, name: str, data: DeflatedData, chunks: Iterable[bytes]) -> None:
        """A member whose DEFLATE data, described by ``data``, was made ahead: ``chunks``."""
        offset, encoded, flags = self._start(name)
        copied = 0
        for chunk in chunks:
            copied += len(chunk)
            self._write(chunk)
        if copied != data.compressed_size:
            raise ValueError(
                f"{name}: {copied} bytes of DEFLATE data, {data.compressed_size} expected"
            )
        self._end(offset, encoded, flags, data)

    def _start(self, name: str) -> tuple[int, bytes, int]:
        flags = _FLAG_DATA_DESCRIPTOR
        try:
            encoded = name.encode("ascii")
        except UnicodeEncodeError:
            encoded = name.encode()
            flags |= _FLAG_UTF8_NAME
        if encoded in self._names:
            raise ValueError(f"duplicate member {name!r}")
        self._names.add(encoded)
        offset = self.bytes_written
        # Sizes follow the data (data descriptor); the ZIP64 extra field says they are 64-bit.
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)
        self._write(
            _LOCAL_HEADER.pack(
                b"PK\x03\x04",
                _VERSION,
                0,
                flags,
                _DEFLATED,
                _DOS_TIME,
                _DOS_DATE,
                0,
                0xFFFFFFFF,
                0xFFFFFFFF,
                len(encoded),
                len(extra),
            )
            + encoded
            + extra
        )
        return offset, encoded, flags

    def _end(self, offset: int, encoded: bytes, flags: int, data: DeflatedData) -> None:
        self._write(_DATA_DESCRIPTOR.pack(0x08074B50, data.crc, data.compressed_size, data.size))
        self._members.append(_Member(encoded, flags, offset, data))

    def close(self) -> None:
        directory_offset = self.bytes_written
        for member in self._members:
            data = member.data
            wide: list[int] = []
            size, compressed_size, offset = data.size, data.compressed_size, member.offset
            if size > ZIP64_LIMIT or compressed_size > ZIP64_LIMIT:
                wide += [size, compressed_size]
                size = compressed_size = 0xFFFFFFFF
            if offset > ZIP64_LIMIT:
                wide.append(offset)
                offset = 0xFFFFFFFF
            extra = struct.pack(f"<HH{len(wide)}Q", 1, 8 * len(wide), *wide) if wide else b""
            self._write(
                _CENTRAL_HEADER.pack(
                    b"PK\x01\x02",
                    _VERSION,
                    _UNIX,
                    _VERSION,
                    0,
                    member.flags,
                    _DEFLATED,
                    _DOS_TIME,
                    _DOS_DATE,
                    data.crc,
                    compressed_size,
                    size,
                    len(member.name),
                    len(extra),
                    0,
                    0,
                    0,
                    _EXTERNAL_ATTR,
                    offset,
                )
                + member.name
                + extra
            )
        end_64_offset = self.bytes_written
        count = len(self._members)
        directory_size = end_64_offset - directory_offset
        if count > COUNT_LIMIT or directory_offset > ZIP64_LIMIT or directory_size > ZIP64_LIMIT:
            self._write(
                _END_64.pack(
                    b"PK\x06\x06",
                    44,
                    _VERSION,
                    _VERSION,
                    0,
                    0,
                    count,
                    count,
                    directory_size,
                    directory_offset,
                )
                + _END_64_LOCATOR.pack(b"PK\x06\x07", 0, end_64_offset, 1)
            )
            count = min(count, 0xFFFF)
            directory_size = min(directory_size, 0xFFFFFFFF)
            directory_offset = min(directory_offset, 0xFFFFFFFF)
        self._write(
            _END.pack(b"PK\x05\x06", 0, 0, count, count, directory_size, directory_offset, 0)
        )
