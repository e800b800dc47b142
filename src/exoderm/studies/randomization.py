"""Permuted-block randomization from a recorded seed: balanced, reproducible, unpredictable.

The list is drawn from a deterministic random bit generator built on HMAC-SHA-256 keyed with the
study's seed (128 random bits from :mod:`secrets`): anyone holding the seed regenerates exactly
the same list (an auditor can check it), nobody without it can predict the next allocation (the
output of HMAC under an unknown key is indistinguishable from random). Each block holds every
treatment equally often, in an order shuffled by Fisher–Yates with unbiased (rejection-sampled)
draws; every stratum and block has its own stream, so extending one stratum's list never changes
another's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

SEED_BYTES = 16
#: The two orders of a split-face slot: the arm on the left half, then the one on the right.
SPLIT_FACE_ORDERS = ("AB", "BA")


def new_seed() -> str:
    return secrets.token_hex(SEED_BYTES)


class KeyedStream:
    """Uniform random integers from HMAC-SHA-256(seed, label:counter), reproducible from the seed."""

    def __init__(self, seed: str, label: str) -> None:
        self._key = bytes.fromhex(seed)
        self._label = label.encode()
        self._counter = 0
        self._pool = b""

    def _bytes(self, count: int) -> bytes:
        while len(self._pool) < count:
            block = hmac.new(self._key, self._label + b":" + str(self._counter).encode(), hashlib.sha256)
            self._pool += block.digest()
            self._counter += 1
        taken, self._pool = self._pool[:count], self._pool[count:]
        return taken

    def below(self, bound: int) -> int:
        """A uniform integer in ``range(bound)`` (rejection sampling: no modulo bias)."""
        if bound < 1:
            raise ValueError("bound must be positive")
        width = max(1, (bound - 1).bit_length())
        size = (width + 7) // 8
        while True:
            value = int.from_bytes(self._bytes(size), "big") >> (size * 8 - width)
            if value < bound:
                return value


def shuffled[T](items: Sequence[T], stream: KeyedStream) -> list[T]:
    """Fisher–Yates shuffle of ``items`` with draws from ``stream``."""
    result = list(items)
    for index in range(len(result) - 1, 0, -1):
        other = stream.below(index + 1)
        result[index], result[other] = result[other], result[index]
    return result


@dataclass(frozen=True)
class Slot:
    block: int
    sequence: int
    treatment: str


def treatments_for(design: str, arm_codes: Sequence[str]) -> tuple[str, ...]:
    """What one slot assigns: the order of the two arms on the halves (split-face), else an arm."""
    from exoderm.studies.models import Design

    if design == Design.SPLIT_FACE:
        first, second = sorted(arm_codes)
        return (first + second, second + first)
    return tuple(sorted(arm_codes))


def block(seed: str, *, stratum: str, number: int, size: int, treatments: Sequence[str]) -> list[str]:
    """Block ``number`` (from 1) of ``stratum``: each treatment size/len(treatments) times, shuffled."""
    if size % len(treatments):
        raise ValueError("the block size must be a multiple of the number of treatments")
    stream = KeyedStream(seed, f"{stratum}:{number}")
    return shuffled(list(treatments) * (size // len(treatments)), stream)


def blocks(
    seed: str, *, stratum: str, first: int, count: int, size: int, treatments: Sequence[str]
) -> list[Slot]:
    """Blocks ``first`` to ``first + count - 1`` of ``stratum`` as numbered slots."""
    slots = []
    for number in range(first, first + count):
        for position, treatment in enumerate(
            block(seed, stratum=stratum, number=number, size=size, treatments=treatments)
        ):
            slots.append(Slot(block=number, sequence=(number - 1) * size + position + 1, treatment=treatment))
    return slots
