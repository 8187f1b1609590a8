"""256-bit DCT perceptual hashes of frames and near-duplicate signatures of whole videos.

A pHash keeps only the low spatial frequencies, so re-encoding or sensor noise barely changes it while a
different shot changes about half of its bits. The classic 64-bit hash (8x8 block) is too coarse for static
cameras: on vtest.avi, frames 0.5 s apart with pedestrians in new places are within 4 bits of each other
half of the time. The 16x16 block sees them: 6 to 62 bits apart (median 34), while a JPEG re-encode of one
frame at quality 50 moves 2 bits.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

_LOW = 16
_DCT_SIZE = 4 * _LOW
HASH_BITS = _LOW * _LOW
HEX_DIGITS = HASH_BITS // 4
_WORDS = HASH_BITS // 64


def perceptual_hash(image: np.ndarray) -> int:
    """pHash of a BGR or grayscale uint8 image: the low 16x16 DCT block of a 64x64 gray copy, one bit per
    coefficient above the block's median."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    # INTER_AREA averages every source pixel, so the hash does not depend on which pixels a sparse
    # resampler happens to pick.
    small = cv2.resize(gray, (_DCT_SIZE, _DCT_SIZE), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small.astype(np.float32))[:_LOW, :_LOW].ravel()
    bits = low > np.median(low)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def hash_to_hex(value: int) -> str:
    return f"{value:0{HEX_DIGITS}x}"


def hash_from_hex(text: str) -> int:
    return int(text, 16)


def signature_to_hex(hashes: Sequence[int]) -> str:
    """A video signature as one string: 64 hex digits per point, in time order (Parquet- and JSON-friendly)."""
    return "".join(hash_to_hex(value) for value in hashes)


def signature_from_hex(text: str) -> list[int]:
    return [hash_from_hex(text[i:i + HEX_DIGITS]) for i in range(0, len(text), HEX_DIGITS)]


def signature_distance(a: str | Sequence[int], b: str | Sequence[int]) -> float:
    """Mean Hamming distance over the aligned points of two video signatures (hex strings or hash lists).

    0 means the same footage, about 128 unrelated footage. A signature without points carries no evidence of
    similarity, so it is as far as possible (256) from everything.
    """
    left = signature_from_hex(a) if isinstance(a, str) else list(a)
    right = signature_from_hex(b) if isinstance(b, str) else list(b)
    pairs = list(zip(left, right))
    if not pairs:
        return float(HASH_BITS)
    return sum(hamming(x, y) for x, y in pairs) / len(pairs)


class NearDuplicateIndex:
    """The hashes kept so far, answering "is this within distance of any of them?" in one vectorised pass,
    so a long video with thousands of kept frames does not slow down quadratically in Python."""

    def __init__(self) -> None:
        self._hashes = np.zeros((64, _WORDS), dtype=np.uint64)  # a hash as 64-bit words
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _words(value: int) -> np.ndarray:
        return np.frombuffer(value.to_bytes(HASH_BITS // 8, "big"), dtype=">u8").astype(np.uint64)

    def near(self, value: int, distance: int) -> bool:
        if not self._count:
            return False
        differing = np.bitwise_count(self._hashes[:self._count] ^ self._words(value)).sum(axis=1)
        return bool((differing <= distance).any())

    def add(self, value: int) -> None:
        if self._count == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[self._count] = self._words(value)
        self._count += 1
