"""Spill segment files: record framing, header scan, ack sidecars, naming, live state.

A segment is an append-only file of records.  Each record is a 32-byte header
followed by `length` payload bytes::

    offset size field
    0      4    magic        b"\\xfdFSR" (0xFD never occurs in UTF-8 JSON, so a
                             resync scan cannot find it inside a payload)
    4      1    version      1
    5      1    flags        0 (reserved)
    6      2    meta_len     bytes of JSON metadata at the start of the payload
                             (0 for lane records; {"reason": ...} for rejected/)
    8      4    length       payload bytes (meta + batch JSON)
    12     4    event_count  events in the batch (for eviction accounting)
    16     4    payload_crc  CRC32C of the payload
    20     8    written_at   float64 epoch seconds when the record was spilled
    28     4    header_crc   CRC32C of bytes 0..27

The header CRC protects the length, so a damaged length is never trusted: the
scanner resyncs on the next magic whose header CRC checks out.  Payload CRCs are
checked lazily, when a record is read for replay.

The ack sidecar `<segment>.ack` is a sequence of 12-byte entries (u64 record
offset + CRC32C of those 8 bytes); a torn or damaged entry is ignored, which at
worst replays that record again (at-least-once).

Segment names are `<unix-ns:020d>-<seq:010d>.seg`, so lexical order is age order.
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import crc32c

MAGIC: Final = b"\xfdFSR"
VERSION: Final = 1
HEADER: Final = struct.Struct("<4sBBHIIIdI")
HEADER_SIZE: Final = HEADER.size  # 32
_HEADER_BODY: Final = HEADER_SIZE - 4
MAX_PAYLOAD: Final = 1 << 30  # a larger length is treated as damage
SEGMENT_SUFFIX: Final = ".seg"
ACK_SUFFIX: Final = ".ack"
_ACK: Final = struct.Struct("<QI")
_SCAN_CHUNK: Final = 1 << 16


class CorruptRecord(Exception):
    """A record failed its header or payload check when read back."""


@dataclass(frozen=True, slots=True)
class RecordHeader:
    """The decoded fields of one record header."""

    meta_len: int
    length: int
    event_count: int
    payload_crc: int
    written_at: float


def encode_header(meta: bytes, payload: bytes, event_count: int, written_at: float) -> bytes:
    """Build the 32-byte header for `meta + payload`."""
    length = len(meta) + len(payload)
    if length > MAX_PAYLOAD or len(meta) > 0xFFFF:
        raise ValueError(f"spill record too large: {length} bytes")
    pcrc = crc32c.crc32c(payload, crc32c.crc32c(meta))
    body = HEADER.pack(MAGIC, VERSION, 0, len(meta), length, event_count, pcrc, written_at, 0)
    hcrc = crc32c.crc32c(body[:_HEADER_BODY])
    return body[:_HEADER_BODY] + hcrc.to_bytes(4, "little")


def decode_header(raw: bytes) -> RecordHeader | None:
    """Parse and verify a header; None when it is not a valid record header."""
    if len(raw) < HEADER_SIZE or raw[:4] != MAGIC:
        return None
    _magic, version, _flags, meta_len, length, events, pcrc, written_at, hcrc = HEADER.unpack_from(
        raw
    )
    if crc32c.crc32c(raw[:_HEADER_BODY]) != hcrc or version != VERSION:
        return None
    if length > MAX_PAYLOAD or meta_len > length:
        return None
    return RecordHeader(meta_len, length, events, pcrc, written_at)


@dataclass(slots=True)
class ScanResult:
    """Records found by a header scan of one segment (payloads not yet verified)."""

    size: int
    offsets: array[int] = field(default_factory=lambda: array("q"))
    lengths: array[int] = field(default_factory=lambda: array("I"))
    events: array[int] = field(default_factory=lambda: array("I"))
    times: array[float] = field(default_factory=lambda: array("d"))
    corrupt: int = 0


def _find_magic(fd: int, start: int, size: int) -> int:
    """Offset of the next valid header at or after `start`, or `size` if none."""
    pos = start
    while pos + HEADER_SIZE <= size:
        chunk = os.pread(fd, min(_SCAN_CHUNK, size - pos), pos)
        i = chunk.find(MAGIC)
        while i >= 0:
            cand = pos + i
            if decode_header(os.pread(fd, HEADER_SIZE, cand)) is not None:
                return cand
            i = chunk.find(MAGIC, i + 1)
        # keep 3 bytes of overlap so a magic split across chunks is still found
        pos += max(1, len(chunk) - (len(MAGIC) - 1))
    return size


def scan_segment(path: Path) -> ScanResult:
    """Walk a segment's headers; count torn tails and damaged regions (one per region)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        res = ScanResult(size=size)
        off = 0
        while off < size:
            if off + HEADER_SIZE > size:
                res.corrupt += 1  # torn header at the tail
                break
            hdr = decode_header(os.pread(fd, HEADER_SIZE, off))
            if hdr is None:
                res.corrupt += 1
                off = _find_magic(fd, off + 1, size)
                continue
            end = off + HEADER_SIZE + hdr.length
            if end > size:
                res.corrupt += 1  # torn payload at the tail
                break
            res.offsets.append(off)
            res.lengths.append(hdr.length)
            res.events.append(hdr.event_count)
            res.times.append(hdr.written_at)
            off = end
        return res
    finally:
        os.close(fd)


def read_record(fd: int, offset: int, length: int) -> tuple[bytes, bytes]:
    """Read and verify one record; returns (meta, batch_json) or raises CorruptRecord."""
    raw = os.pread(fd, HEADER_SIZE + length, offset)
    hdr = decode_header(raw)
    if hdr is None or hdr.length != length or len(raw) != HEADER_SIZE + length:
        raise CorruptRecord(f"bad header at offset {offset}")
    body = memoryview(raw)[HEADER_SIZE:]
    if crc32c.crc32c(body) != hdr.payload_crc:
        raise CorruptRecord(f"payload CRC mismatch at offset {offset}")
    return bytes(body[: hdr.meta_len]), bytes(body[hdr.meta_len :])


def encode_ack(offset: int) -> bytes:
    """One ack sidecar entry for the record at `offset`."""
    off = offset.to_bytes(8, "little")
    return _ACK.pack(offset, crc32c.crc32c(off))


def read_acks(path: Path) -> set[int]:
    """Acked record offsets from a sidecar; missing file = none, bad entries ignored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    acked: set[int] = set()
    for i in range(0, len(data) - _ACK.size + 1, _ACK.size):
        offset, crc = _ACK.unpack_from(data, i)
        if crc32c.crc32c(data[i : i + 8]) == crc:
            acked.add(offset)
    return acked


def ack_path(segment: Path) -> Path:
    """The sidecar path of a segment."""
    return segment.with_name(segment.name + ACK_SUFFIX)


def segment_name(ns: int, seq: int) -> str:
    """File name of a segment created at `ns` with sequence number `seq`."""
    return f"{ns:020d}-{seq:010d}{SEGMENT_SUFFIX}"


def parse_segment_name(name: str) -> tuple[int, int] | None:
    """(ns, seq) of a segment file name, or None for anything else."""
    if not name.endswith(SEGMENT_SUFFIX):
        return None
    stem = name[: -len(SEGMENT_SUFFIX)]
    ns, sep, seq = stem.partition("-")
    if not sep or not ns.isdigit() or not seq.isdigit():
        return None
    return int(ns), int(seq)


IOV_MAX = 1024  # writev's limit on parts per call (Linux)


def write_all(fd: int, parts: list[bytes]) -> None:
    """One writev per up to IOV_MAX parts; loops only on a short write."""
    for start in range(0, len(parts), IOV_MAX):
        chunk = parts[start:start + IOV_MAX]
        total = sum(len(p) for p in chunk)
        written = os.writev(fd, chunk)
        if written < total:
            rest = b"".join(chunk)[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]


def make_private_dir(path: Path) -> None:
    """Create (or tighten) a directory to mode 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def fsync_dir(path: Path) -> None:
    """fsync a directory so new or removed entries are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentState:
    """Live state of one segment file: record index, ack marks, open fds (store-internal)."""

    def __init__(self, lane: str, path: Path, scan: ScanResult, acked: set[int]) -> None:
        self.lane = lane
        self.path = path
        self.size = scan.size
        self.offsets = scan.offsets
        self.lengths = scan.lengths
        self.events = scan.events
        self.times = scan.times
        self.done = bytearray(1 if o in acked else 0 for o in self.offsets)
        self.pending = self.done.count(0)
        self.pending_events = sum(e for e, d in zip(self.events, self.done, strict=True) if not d)
        self.first_pending = 0
        self.wfd: int | None = None  # set while this is the lane's active (unsealed) segment
        self.afd: int | None = None
        self.alive = True

    def oldest_pending(self) -> float | None:
        while self.first_pending < len(self.done) and self.done[self.first_pending]:
            self.first_pending += 1
        return self.times[self.first_pending] if self.first_pending < len(self.done) else None

    def mark_done(self, idx: int) -> bool:
        if self.done[idx]:
            return False
        self.done[idx] = 1
        self.pending -= 1
        self.pending_events -= self.events[idx]
        try:
            if self.afd is None:
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                self.afd = os.open(ack_path(self.path), flags, 0o600)
            os.write(self.afd, encode_ack(self.offsets[idx]))
        except OSError:
            pass  # the ack stays in memory; a restart would replay this record again
        return True

    def index_of(self, offset: int) -> int | None:
        i = bisect_left(self.offsets, offset)
        return i if i < len(self.offsets) and self.offsets[i] == offset else None

    def close_fds(self, sync: bool) -> None:
        for fd in (self.wfd, self.afd):
            if fd is not None:
                try:
                    if sync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
        self.wfd = self.afd = None
