"""Near-duplicate files removed with MinHash LSH, as the BigCode datasets do.

Shingles are 5-grams of alphanumeric tokens; each file gets a MinHash signature of ``num_perm``
(256) values and a datasketch MinHashLSH index at Jaccard ``near_dedup_threshold`` (0.7) finds the
files it probably resembles; a candidate is confirmed with the signatures' estimated Jaccard
before the later file is dropped (the first one in document order is kept).

The signature is datasketch's own "affine32" MinHash (MurmurHash3 pre-mix, then a*h + b mod 2^32
with datasketch's permutations, taken from a ``MinHash(scheme="affine32")``), computed in chunks
over arrays of shingle hashes rather than through ``update_batch``, which calls a Python hash
function per shingle and materializes a shingles x permutations matrix: the same values (a test
checks it), several times faster and in bounded memory. Token hashes are polynomial hashes computed
for all tokens of a file at once with numpy, never Python's randomized ``hash``, so the same files
are dropped in every run and every process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from custom_llm import Document, StageReport

MINHASH_KEY = "_minhash"
NGRAM = 5
_MIX = 0x9E3779B97F4A7C15  # odd constant that mixes the n token hashes of a shingle, order-sensitive
SEED = 1
CHUNK = 1024
# Bytes kept in tokens: ASCII letters, digits, underscore and every non-ASCII byte.
_KEEP = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") | set(range(128, 256))
_TABLE = bytes(c if c in _KEEP else 32 for c in range(256))


def tokens(text: str) -> list[bytes]:
    """Alphanumeric tokens (everything else separates them), as the BigCode near-dedup does."""
    return text.encode("utf-8").translate(_TABLE).split()


_BASE = 0x100000001B3  # odd, so invertible modulo 2^64
_BASE_INVERSE = pow(_BASE, -1, 2**64)
_powers: dict[str, Any] = {}


def _power_tables(n: int) -> tuple[Any, Any]:
    """BASE^i and BASE^-i modulo 2^64 for i < n (cached, grown on demand)."""
    if "up" not in _powers or len(_powers["up"]) < n:
        size = max(n, 1 << 20)
        _powers["up"] = _geometric(_BASE, size)
        _powers["down"] = _geometric(_BASE_INVERSE, size)
    return _powers["up"], _powers["down"]


def _geometric(base: int, size: int) -> Any:
    import numpy as np

    values = np.full(size, base, dtype=np.uint64)
    values[0] = 1
    return np.cumprod(values, dtype=np.uint64)  # wraps modulo 2^64, as intended


def token_hashes(text: str) -> Any:
    """A 64-bit polynomial hash (base ``_BASE`` modulo 2^64) of each alphanumeric token, computed for
    all tokens at once from prefix sums: the same tokens as :func:`tokens`, without a Python-level
    call per token."""
    import numpy as np

    data = np.frombuffer(text.encode("utf-8").translate(_TABLE), dtype=np.uint8)
    if data.size == 0:
        return np.zeros(0, dtype=np.uint64)
    inside = data != 32
    edges = np.flatnonzero(np.diff(inside, prepend=False, append=False))
    starts, ends = edges[0::2], edges[1::2]
    up, down = _power_tables(data.size + 1)
    prefix = np.zeros(data.size + 1, dtype=np.uint64)
    np.cumsum(data.astype(np.uint64) * up[: data.size], out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * down[starts]


def shingle_hashes(text: str, ngram: int = NGRAM) -> Any:
    """One 32-bit hash per token n-gram (the whole token list when shorter than ``ngram``)."""
    import numpy as np

    hashes = token_hashes(text)
    if len(hashes) == 0:
        return np.zeros(0, dtype=np.uint32)
    if len(hashes) < ngram:
        combined = hashes[:1].copy()
        for value in hashes[1:]:
            combined = combined * np.uint64(_MIX) ^ value
    else:
        count = len(hashes) - ngram + 1
        combined = hashes[:count].copy()
        for k in range(1, ngram):
            combined *= np.uint64(_MIX)
            combined ^= hashes[k : k + count]
    combined ^= combined >> np.uint64(32)
    return combined.astype(np.uint32)


SCHEME = "affine32"
_LITTLE_ENDIAN = sys.byteorder == "little"
_SIGN = -(2**31)
TORCH_CHUNK = 4096


def fmix32(values: Any) -> Any:
    """The MurmurHash3 32-bit finalizer (datasketch's pre-mix for the affine32 scheme)."""
    import numpy as np

    values = values ^ (values >> np.uint32(16))
    values *= np.uint32(0x85EBCA6B)
    values ^= values >> np.uint32(13)
    values *= np.uint32(0xC2B2AE35)
    values ^= values >> np.uint32(16)
    return values


class Signer:
    """MinHash signatures with datasketch's affine32 permutations for ``num_perm`` and ``seed``.
    Not thread-safe (one buffer); each process and each index has its own."""

    def __init__(self, num_perm: int, seed: int = SEED) -> None:
        import numpy as np
        from datasketch import MinHash

        a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
        self.num_perm = num_perm
        self.seed = seed
        self.a = np.asarray(a, dtype=np.uint64)[:, None]
        self.b = np.asarray(b, dtype=np.uint64)[:, None]
        self._buffer = np.empty((num_perm, CHUNK), dtype=np.uint64)
        self._mins = np.empty(num_perm, dtype=np.uint32)
        self._torch: tuple[Any, Any, Any] | None = None

    def signature(self, hashes: Any, backend: str | None = None) -> Any:
        """min over the shingles of (a * fmix(h) + b) mod 2^32, per permutation (uint32 array).

        With torch at hand (custom-llm depends on it) the arithmetic runs on one torch thread in
        int32, whose wrap-around is the same modulo 2^32 and whose multiply is vectorized: about
        three times faster than numpy here, which does not vectorize 32-bit integer products. The
        numpy path gives the same values (a test checks both against datasketch)."""
        if (backend or _backend()) == "torch":
            return self._signature_torch(hashes)
        return self._signature_numpy(hashes)

    def _signature_numpy(self, hashes: Any) -> Any:
        """Products in uint64 (faster than uint32 in numpy), the minimum over their low halves,
        chunks written into one preallocated buffer (a fresh matrix per chunk doubled the cost)."""
        import numpy as np

        result = np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        mixed = fmix32(hashes.astype(np.uint32)).astype(np.uint64)
        for start in range(0, len(mixed), CHUNK):
            chunk = mixed[None, start : start + CHUNK]
            block = self._buffer[:, : chunk.shape[1]]
            np.multiply(chunk, self.a, out=block)
            np.add(block, self.b, out=block)
            if _LITTLE_ENDIAN:  # the low halves, read in place
                np.minimum.reduce(block.view(np.uint32)[:, 0::2], axis=1, out=self._mins)
            else:
                self._mins[:] = np.minimum.reduce(block & np.uint64(0xFFFFFFFF), axis=1)
            np.minimum(result, self._mins, out=result)
        return result

    def _signature_torch(self, hashes: Any) -> Any:
        """int32 arithmetic; unsigned order is signed order after flipping the sign bit."""
        import numpy as np
        import torch

        if self._torch is None:
            a = torch.from_numpy(self.a.astype(np.uint32).view(np.int32))
            b = torch.from_numpy(self.b.astype(np.uint32).view(np.int32))
            self._torch = (a, b, torch.empty((self.num_perm, TORCH_CHUNK), dtype=torch.int32))
        a, b, buffer = self._torch
        mixed = torch.from_numpy(fmix32(hashes.astype(np.uint32)).view(np.int32))
        result = torch.full((self.num_perm,), 0x7FFFFFFF, dtype=torch.int32)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small blocks: a second thread only contends (badly, on a busy machine)
        try:
            for start in range(0, len(mixed), TORCH_CHUNK):
                chunk = mixed[None, start : start + TORCH_CHUNK]
                block = buffer[:, : chunk.shape[1]]
                torch.mul(chunk, a, out=block)
                block.add_(b)
                block.bitwise_xor_(_SIGN)
                torch.minimum(result, block.amin(dim=1), out=result)
        finally:
            torch.set_num_threads(threads)
        return (result.numpy() ^ np.int32(_SIGN)).view(np.uint32)


@lru_cache(maxsize=1)
def _backend() -> str:
    try:
        import torch  # noqa: F401
    except ImportError:
        return "numpy"
    return "torch"


class NearDuplicateIndex:
    """Keeps the first of each group of near-duplicate texts."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 256) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.signer = Signer(num_perm)
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.signatures: dict[int, Any] = {}

    def signature(self, text: str) -> Any:
        return self.signer.signature(shingle_hashes(text))

    def is_duplicate(self, signature: Any) -> bool:
        """Whether an earlier text resembles this one; if not, it is added to the index."""
        from datasketch import LeanMinHash

        minhash = LeanMinHash(seed=self.signer.seed, hashvalues=signature, scheme=SCHEME)
        for key in self.lsh.query(minhash):
            if float((self.signatures[key] == signature).mean()) >= self.threshold:
                return True
        key = len(self.signatures)
        self.signatures[key] = signature
        self.lsh.insert(key, minhash, check_duplication=False)
        return False


@lru_cache(maxsize=4)
def _signer(num_perm: int) -> Signer:
    return Signer(num_perm)


def signature_bytes(text: str, num_perm: int) -> bytes:
    """The signature as bytes, for a worker process to hand to the near-dedup step."""
    return _signer(num_perm).signature(shingle_hashes(text)).tobytes()


def near_dedup_step(options: Mapping[str, Any], report: StageReport) -> Callable[[Document], Document | None]:
    """The Preparer factory: one index per run, documents dropped in order. A signature computed by
    an ingest worker (``_minhash``) is used and removed from the metadata."""
    import numpy as np

    num_perm = int(options.get("num_perm", 256))
    index = NearDuplicateIndex(float(options.get("near_dedup_threshold", 0.7)), num_perm)

    def step(document: Document) -> Document | None:
        carried = document.metadata.get(MINHASH_KEY)
        if carried is not None:
            document = document.replace(metadata={k: v for k, v in document.metadata.items() if k != MINHASH_KEY})
        if isinstance(carried, bytes) and len(carried) == 4 * num_perm:
            signature = np.frombuffer(carried, dtype=np.uint32)
        else:
            signature = index.signature(document.text)
        if index.is_duplicate(signature):
            report.count("dropped: near duplicate")
            return None
        return document

    return step
