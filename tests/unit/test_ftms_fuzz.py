"""Random bytes into every decoder: a record or the codec's own error, nothing else.

100 000 frames per decoder from a seeded generator, biased towards the short
frames and plausible flag values where parser bugs live.
"""

from __future__ import annotations

import random

import pytest

from gateway.ftms import DECODERS, FtmsDecodeError, to_jsonable

FRAMES_PER_DECODER = 100_000


def _frames(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    frames = []
    for _ in range(FRAMES_PER_DECODER):
        length = rng.choice((rng.randrange(0, 4), rng.randrange(0, 32), rng.randrange(0, 600)))
        frames.append(rng.randbytes(length))
    return frames


@pytest.mark.parametrize("kind", sorted(DECODERS))
def test_random_bytes_never_escape_the_codec(kind: str) -> None:
    decode = DECODERS[kind]
    decoded = failed = 0
    for frame in _frames(hash(kind) & 0xFFFF):
        try:
            record = decode(frame)
        except FtmsDecodeError:
            failed += 1
            continue
        to_jsonable(record)  # every record must also be presentable
        decoded += 1
    assert decoded + failed == FRAMES_PER_DECODER
    assert decoded > 0  # the fuzz reached the decoding paths, not only the length checks
