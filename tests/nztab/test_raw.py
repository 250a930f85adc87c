"""Recorded bodies: packed with zstd, older zlib recordings still read, a corrupt one named as such."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from raceday.nztab.raw import CorruptRecording, pack, unpack
from tests.samples import sample_path


@pytest.fixture
def body() -> bytes:
    return sample_path("race-event-full-response.json").read_bytes()


def test_a_race_event_packs_to_a_zstd_frame_an_eighth_of_its_size(body: bytes) -> None:
    packed = pack(body)
    assert packed[:4] == b"\x28\xb5\x2f\xfd"
    assert len(packed) < len(body) / 7
    assert unpack(packed) == body


def test_bodies_packed_on_many_threads_at_once_each_unpack_to_themselves(body: bytes) -> None:
    """Packing runs on the executor's threads, and a zstd compressor must never be shared by two."""
    bodies = [body.replace(b"generated_time", f"generated_{n:04d}".encode()) for n in range(64)]
    with ThreadPoolExecutor(max_workers=8) as threads:
        packed = list(threads.map(pack, bodies))
    assert [unpack(p) for p in packed] == bodies


def test_recordings_made_with_zlib_are_still_read(body: bytes) -> None:
    assert unpack(zlib.compress(body, 3)) == body


@pytest.mark.parametrize("packed", [b"not zlib", b"\x28\xb5\x2f\xfd" + b"not zstd", b""])
def test_a_corrupt_recording_is_named(packed: bytes) -> None:
    with pytest.raises(CorruptRecording, match="does not decompress"):
        unpack(packed)
