"""A generated text corpus of a chosen size, for the memory and cache benchmarks.

Text-domain files (``.txt`` and ``.md``) in 64 folders, one document per file, with log-normal
sizes (median about 12 KB, from a few hundred bytes to about 400 KB). The words come from a fixed
vocabulary of 40,000 made-up words with Zipf frequencies, with punctuation, numbers and paragraph
breaks, so that a tokenizer has something to learn and every document is distinct (exact
deduplication keeps them all). Deterministic for a given seed and size.

    python benchmarks/corpus_gen.py DIR --mb 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "er", "an", "is")]
FOLDERS = 64


def vocabulary(rng: np.random.Generator, size: int = 40_000) -> tuple[np.ndarray, np.ndarray]:
    words = set()
    while len(words) < size:
        n = int(rng.integers(1, 5))
        words.add("".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), n)))
    ordered = sorted(words)
    rng.shuffle(ordered)
    tokens = ordered + [",", ".", ".\n", ".\n\n", "(", ")", ":", "0", "1", "2024", "3.5", "the", "and", "of"]
    words_weights = 1.0 / np.arange(1, size + 1) ** 1.05
    # shares of all tokens: punctuation, a few numbers and function words; the made-up words get the rest
    others = np.array([0.06, 0.05, 0.012, 0.008, 0.004, 0.004, 0.004, 0.003, 0.003, 0.002, 0.002, 0.06, 0.03, 0.03])
    weights = np.concatenate([words_weights / words_weights.sum() * (1 - others.sum()), others])
    # punctuation is glued to the previous word: give it a leading marker removed after joining
    tokens = np.array([t if t[0].isalnum() else "\x00" + t for t in tokens], dtype=object)
    return tokens, weights / weights.sum()


def document(rng: np.random.Generator, tokens: np.ndarray, weights: np.ndarray, n_bytes: int) -> str:
    n_words = max(8, n_bytes // 7)
    chosen = tokens[rng.choice(len(tokens), size=n_words, p=weights)]
    text = " ".join(chosen.tolist()).replace(" \x00", "").replace("\x00", "")
    return text.replace("\n ", "\n")


def generate(folder: Path, megabytes: float, seed: int = 0) -> tuple[int, int]:
    """Write about ``megabytes`` MB of documents under ``folder``; returns (files, bytes)."""
    rng = np.random.default_rng(seed)
    tokens, weights = vocabulary(rng)
    target = int(megabytes * 1e6)
    written, files = 0, 0
    for index in range(FOLDERS):
        (folder / f"part{index:02d}").mkdir(parents=True, exist_ok=True)
    while written < target:
        size = int(min(400_000, max(300, rng.lognormal(mean=np.log(12_000), sigma=1.0))))
        text = document(rng, tokens, weights, size)
        suffix = ".md" if files % 5 == 0 else ".txt"
        path = folder / f"part{files % FOLDERS:02d}" / f"doc{files:07d}{suffix}"
        data = text.encode("utf-8")
        path.write_bytes(data)
        written += len(data)
        files += 1
    return files, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    files, written = generate(args.folder, args.mb, args.seed)
    print(f"{files:,} files, {written / 1e6:,.1f} MB in {time.perf_counter() - started:.1f} s under {args.folder}")


if __name__ == "__main__":
    main()
