"""Canaries: random secret-shaped lines planted in a seeded handful of training documents, so a
run can measure what its model memorized (Carlini et al., "The Secret Sharer", USENIX Security 2019).

Redaction removes the secrets it recognizes; one it misses can be learned verbatim, and nothing in
the data says whether it was. A canary is a secret the run itself plants and knows: a line
``api_key_<tag> = "<12 random characters>"`` (a unique tag per canary, the secret drawn from 36
characters), inserted at a line boundary of ``2 ** (i % 4)`` training documents (1, 2, 4, 8 copies:
the paper's question, "how many repetitions make a secret extractable?"). The audit
(:mod:`custom_llm.evaluation.memorization`) then ranks each canary's likelihood among random
candidates of the same shape.

Only the training examples see them: the planted copy of the training split is what the tokenize
stage packs; the split itself (what retrieval, the xz baseline and the memorization audit's
passages read) stays as prepared. The canaries are drawn from the seed and the split's key, so the
same seed and data give the same canaries and the same training tokens (reproducibility), and
they are kept in the stage cache and the run's manifest (``canaries``) only: never in a report,
a card, a log or an export's record.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, replace
from typing import Any

from custom_llm.data.stage_results import SplitResult
from custom_llm.data.storage import iter_documents, read_json, write_documents, write_json
from custom_llm.records import Document
from custom_llm.run.cache import key_of
from custom_llm.run.run_state import Run

ALPHABET = string.ascii_lowercase + string.digits
SECRET_LENGTH = 12  # 36**12: 62 bits of randomness, far more than any audit can enumerate
TAG_LENGTH = 4
MAX_CANARIES = 64


@dataclass(frozen=True)
class Canary:
    """One planted secret: ``prefix + secret + '"'`` is the line in the training text."""

    index: int
    prefix: str
    secret: str
    copies: int  # documents it was planted in
    documents: tuple[str, ...] = ()  # their ids

    @property
    def line(self) -> str:
        return f'{self.prefix}{self.secret}"'

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "prefix": self.prefix, "secret": self.secret, "copies": self.copies, "documents": list(self.documents)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Canary:
        return cls(int(data["index"]), str(data["prefix"]), str(data["secret"]), int(data["copies"]), tuple(data.get("documents") or ()))


def random_secret(rng: random.Random, length: int = SECRET_LENGTH) -> str:
    """A secret of the canaries' shape: ``length`` characters drawn uniformly from ``ALPHABET``."""
    return "".join(rng.choice(ALPHABET) for _ in range(length))


def make_canaries(seed: int, salt: str, count: int, train_documents: int) -> list[Canary]:
    """``count`` canaries with distinct tags, ``2 ** (i % 4)`` copies each (at most one per training document)."""
    rng = random.Random(f"canaries\x1f{seed}\x1f{salt}")
    tags: set[str] = set()
    canaries = []
    for index in range(count):
        tag = random_secret(rng, TAG_LENGTH)
        while tag in tags:
            tag = random_secret(rng, TAG_LENGTH)
        tags.add(tag)
        copies = max(1, min(2 ** (index % 4), train_documents))
        canaries.append(Canary(index, f'api_key_{tag} = "', random_secret(rng), copies))
    return canaries


def plant(text: str, line: str, rng: random.Random) -> str:
    """``text`` with ``line`` inserted at a line boundary chosen with ``rng``."""
    lines = text.split("\n")
    at = rng.randrange(len(lines) + 1)
    return "\n".join([*lines[:at], line, *lines[at:]])


def planted_split(run: Run, split: SplitResult) -> SplitResult:
    """The split the tokenize stage packs: ``split`` with the run's canaries planted in a copy of
    its training documents (cached by the split's key, the seed and the count); ``split`` itself
    when ``canaries`` is 0. The canaries go to ``run.artifacts["canaries"]``."""
    count = int(getattr(run.config, "canaries", 0) or 0)
    run.artifacts["canaries"] = []
    if count <= 0 or split.train_documents == 0:
        return split
    key = key_of("canaries", split.key, run.config.seed, count, SECRET_LENGTH)
    folder = run.cache.folder("canaries", key)
    if not run.cache.hit("canaries", key) or "pack" in run.cache.refresh:
        folder = run.cache.begin("canaries", key)
        canaries = make_canaries(run.config.seed, split.key, count, split.train_documents)
        rng = random.Random(f"canary-places\x1f{run.config.seed}\x1f{split.key}")
        chosen: dict[int, list[Canary]] = {}
        for canary in canaries:
            for position in rng.sample(range(split.train_documents), canary.copies):
                chosen.setdefault(position, []).append(canary)
        holders: dict[int, list[str]] = {}

        def documents() -> Any:
            for position, document in enumerate(iter_documents(split.train)):
                text = document.text
                for canary in chosen.get(position, []):
                    text = plant(text, canary.line, rng)
                    holders.setdefault(canary.index, []).append(document.id)
                yield document if text == document.text else Document(text, document.source, document.metadata, document.id, document.group)

        write_documents(folder / "train.arrow", documents())
        canaries = [replace(c, documents=tuple(holders.get(c.index, []))) for c in canaries]
        write_json(folder / "canaries.json", [c.to_json() for c in canaries])
        run.cache.commit("canaries", key)
    run.artifacts["canaries"] = [Canary.from_json(c) for c in read_json(folder / "canaries.json")]
    run.artifacts["canary_train"] = folder / "train.arrow"
    return replace(split, key=key, train=folder / "train.arrow")


def manifest_entry(canaries: list[Canary]) -> list[dict[str, Any]]:
    """What the manifest keeps of the canaries: everything the audit needs to be redone."""
    return [c.to_json() for c in canaries]


def canaries_of_finished_run(run: Run) -> None:
    """For ``custom-llm eval`` of a finished run: the canaries its model was trained with, from its
    manifest (none for a run trained before canaries existed, whose model never saw the ones the
    data preparation plants now)."""
    path = run.output / "manifest.json"
    recorded = read_json(path).get("canaries") if path.is_file() else None
    run.artifacts["canaries"] = [Canary.from_json(c) for c in recorded or []]
