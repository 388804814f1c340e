"""The records that travel between pipeline stages: the public API a plugin author imports.

Every record is a small frozen dataclass holding plain JSON-able values, so that core can store
it in Arrow datasets, hash it for caching and show it in reports without knowing the domain.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custom_llm.errors import InputError

if TYPE_CHECKING:
    from custom_llm.evaluation.context import EvalContext

_PART = re.compile(r"(?::\d+|#\d+)$")  # "a.jsonl:3", "report.txt#2": a part of a file, not the file
JSON = dict[str, Any]


def stable_id(*parts: str) -> str:
    """A short content-derived identifier; the same parts always give the same id."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10)
    return digest.hexdigest()


@dataclass(frozen=True)
class Document:
    """One unit of source text with where it came from.

    ``source`` is the path relative to the source root (provenance); ``group`` decides the
    train/eval split (all documents of one group land on the same side), defaulting to ``source``
    so that units of one file never straddle the split.

    ``identifiers`` marks values of a structured record that name a person (field -> value, or a
    list of values): ``{"patient_name": "Jane Doe", "mrn": "123"}``. Core's personal-data step
    replaces every occurrence of them in the text, metadata, source and group by a placeholder
    named after the field (``<PATIENT_NAME>``), whether or not ``redact_personal_data`` is on; they
    are never stored, shown or compared (docs/plugins/hooks.md).
    """

    text: str
    source: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    group: str = ""
    identifiers: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", stable_id(self.source, self.text))
        if not self.group:
            object.__setattr__(self, "group", self.source)

    def to_row(self) -> JSON:
        import json

        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "group": self.group,
            "metadata": json.dumps(dict(self.metadata), sort_keys=True, default=str),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Document:
        import json

        return cls(
            text=row["text"],
            source=row["source"],
            metadata=json.loads(row["metadata"]),
            id=row["id"],
            group=row["group"],
        )

    def replace(self, **changes: Any) -> Document:
        """A copy with some fields changed; the id is kept so provenance survives redaction."""
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class Example:
    """One training or evaluation sequence made from a document.

    ``prompt`` is context the model sees but is not trained to produce (an instruction, the
    prefix and suffix of an infilling example); ``completion`` is what the loss is computed on.
    A plain causal example has an empty prompt.

    An ``instruction`` example is laid out with the base model's chat template when its tokenizer
    has one (the prompt becomes the user's turn, the completion the assistant's answer), in
    training and in ``EvalContext.answer`` alike; ``messages`` gives the whole conversation before
    the answer instead (``{"role", "content"}`` turns), for data that has one.
    """

    completion: str
    prompt: str = ""
    kind: str = "causal"
    doc_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    messages: tuple[Mapping[str, str], ...] = ()

    @property
    def text(self) -> str:
        return self.prompt + self.completion


def printable(text: str) -> str:
    """``text`` safe to store, print and write as UTF-8: a file name that is not valid UTF-8 (its
    undecodable bytes arrive as lone surrogates) shows them as ``\\xff``, and control characters
    such as a newline inside a file name are escaped, so a name stays one readable line."""
    if text.isprintable():
        return text
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that did not come from undecodable bytes
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


@dataclass(frozen=True)
class FileIssue:
    """A file that could not be used, and why; shown in the ingest report, never a crash.

    Both fields are made printable (see :func:`printable`), whatever the file's name holds, and a
    reason is cut at ``MAX_REASON`` characters (it may quote a line of the file, which can be huge)."""

    MAX_REASON = 500

    path: str
    reason: str

    def __post_init__(self) -> None:
        reason = str(self.reason)
        if len(reason) > self.MAX_REASON:
            reason = f"{reason[: self.MAX_REASON]}... ({len(reason) - self.MAX_REASON:,} more characters)"
        object.__setattr__(self, "path", printable(str(self.path)))
        object.__setattr__(self, "reason", printable(reason))


@dataclass
class StageReport:
    """Counts and per-file problems a stage collects; plugins add to it, core prints and stores it."""

    counts: Counter = field(default_factory=Counter)
    issues: list[FileIssue] = field(default_factory=list)
    fallbacks: list[FileIssue] = field(default_factory=list)  # kept, read a simpler way: not left out

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    current: str = ""
    tracebacks: list[str] = field(default_factory=list)

    def skip(self, path: str | Path, reason: str) -> None:
        """Record a file that is left out, with a reason a user can act on. Its count key is the
        reason up to its first colon (``unsupported file type``), so give reasons of one kind the
        same words before the colon and the details after it."""
        self.issues.append(FileIssue(str(path), reason))
        self.counts[f"skipped: {reason.split(':')[0]}"] += 1

    def kept_with_fallback(self, path: str | Path, reason: str) -> None:
        """Record a file that is kept but read a simpler way than intended (``parse error: kept as
        plain python text``): listed apart from the files left out, so neither list misleads. Its
        count key is ``kept with fallback: `` plus the reason's words before the first colon."""
        self.fallbacks.append(FileIssue(str(path), reason))
        self.counts[f"kept with fallback: {reason.split(':')[0]}"] += 1

    @contextmanager
    def reading(self, path: str | Path) -> Iterator[None]:
        """Read one unit of input (a file, a crash test) inside this block: an ``InputError``
        raised in it leaves that unit out with the error's message as the reason (the parser
        named it); any other exception leaves it out as ``parser failed: ...`` and keeps the
        traceback for the run's log. Either way the run goes on with the rest. This is the one
        rule for parser errors (docs/plugins/hooks.md); do not ``yield`` inside the block."""
        self.current = str(path)
        try:
            yield
        except InputError as error:  # the parser's own reason, as reason: no traceback, no "parser failed"
            self.skip(path, str(error) or type(error).__name__)
        except Exception as error:  # one unreadable unit must never stop the run
            import traceback

            self.skip(path, f"parser failed: {type(error).__name__}: {error}")
            self.tracebacks.append(f"{path}\n{traceback.format_exc()}")

    def left_out(self) -> tuple[int, int]:
        """(whole files left out, parts left out of files that were read: lines ``a.jsonl:3``,
        sections ``r.txt#2``), each counted once."""
        parts = {i.path for i in self.issues if _PART.search(i.path)}
        files = {i.path for i in self.issues} - parts
        return len(files), len(parts)

    def to_json(self) -> JSON:
        return {
            "counts": dict(sorted(self.counts.items())),
            "issues": [{"path": i.path, "reason": i.reason} for i in self.issues],
            "kept_with_fallback": [{"path": i.path, "reason": i.reason} for i in self.fallbacks],
        }


@dataclass(frozen=True)
class Domain:
    """A vertical: how its sources are read and turned into examples, its options, and how its
    models are judged. Core calls the domain's own functions, and only for runs of this domain:

    - ``discover(source, options, report) -> list[Path]``: the files of ``source`` the domain
      will read, reporting the rest with ``report.skip``; core hashes exactly these for the cache.
    - ``ingest(source, files, options, report) -> Iterable[Document]``: the discovered files as a
      stream of documents; read each unit of input inside ``with report.reading(name):``.
    - ``make_examples(document, options, rng, tokenizer, settings) -> Iterable[Example]``: one
      prepared document as training examples; ``rng`` is a seeded ``random.Random``, ``settings``
      holds ``seq_len`` and ``seed``.
    - ``special_tokens(options, tokenizer) -> list[str]`` (optional): tokens the vocabulary needs;
      ``tokenizer`` is the base tokenizer, or None while a scratch tokenizer is trained.

    Each function may accept only the arguments it uses, by name (``make_examples(document)`` is
    fine). ``recipe_defaults`` maps a recipe name to the settings the domain prefers for it (user
    config and options still win). ``options`` maps every domain-specific setting to its default;
    the config's ``domain_options`` are validated against it; ``training_options`` names those of
    them that change only what is trained, never what an evaluator asks, so runs that differ only in
    them evaluate the same cases and are paired case by case (a stage with the original base,
    ``custom-llm runs compare``). ``evaluators`` names the evaluators
    run besides perplexity. ``default_source`` is used when the user gives no ``--source``.
    ``default_base_model`` names the base model (see :class:`BaseModel`) ``default_recipe`` tunes
    when the user names none; when that base is not available here, a run that set neither
    ``--recipe`` nor ``--base-model`` falls back to ``scratch`` and says how to get it.
    ``redact_personal_data`` is the default of the option of that name every domain has: whether
    core's personal-data step looks for e-mail addresses, phone numbers, national identifiers ...
    (on for domains whose records are about people; users switch it with ``--option``).

    For the preference and reward recipes (``dpo``, ``orpo``, ``grpo``), both optional:

    - ``checkable(example) -> bool``: whether an instruction example has one right answer (its
      ``completion``) that a model's answer can be checked against. Such examples give on-policy
      negatives (the starting model's own wrong greedy answer is the rejected one) and GRPO's prompts.
    - ``reward(example, completion) -> float``: the domain's own score of a sampled answer to
      ``example`` (1.0 right, 0.0 wrong, partial credit between), the reward ``grpo`` maximizes.
    """

    name: str
    description: str
    discover: Callable[..., list[Path]]
    ingest: Callable[..., Iterable[Document]]
    make_examples: Callable[..., Iterable[Example]]
    special_tokens: Callable[..., Iterable[str]] | None = None
    recipe_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    training_options: tuple[str, ...] = ()
    evaluators: tuple[str, ...] = ()
    default_recipe: str = "scratch"
    default_source: str | None = None
    default_base_model: str | None = None
    redact_personal_data: bool = False
    # preference tuning and rewards (docs/plugins/hooks.md#preferences-and-rewards)
    checkable: Callable[..., bool] | None = None
    reward: Callable[..., float] | None = None


STAGES = ("ingest", "split", "tokenizer", "tokenize", "train", "evaluate", "export")
"""The stages of a run, in order, as lifecycle hooks name them: ``ingest`` (discover, read and
prepare: redact, filter, deduplicate), ``split`` (train / held-out), ``tokenizer`` (the base's, or a
new one trained for scratch), ``tokenize`` (examples made and packed into blocks), ``train``,
``evaluate`` (base and tuned) and ``export``. ``custom-llm eval`` runs only ``evaluate``."""


@dataclass(frozen=True)
class StageEvent:
    """What lifecycle hooks receive about a stage (read-only): its name (one of :data:`STAGES`), the
    domain, the run directory, the stage's counts (files read, documents, blocks, steps ...),
    a short summary of its result, and on failure the error's one-line description."""

    stage: str
    domain: str
    run_dir: Path
    counts: Mapping[str, int] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Recipe:
    """A named way of training: its hyperparameter defaults and how it gets its model.

    ``defaults`` holds training settings (learning_rate, batch_size, ...); the domain may override
    them with its ``recipe_defaults`` and the user through config and options.
    ``needs_base_model`` says whether ``--base-model`` is required (otherwise core builds a
    small model from a config, sized to the corpus); ``adapter`` is ``"lora"`` for peft adapters;
    ``quantize_4bit`` loads the base in 4 bits (bitsandbytes).
    ``check`` runs before any work and raises ConfigError when the machine cannot run the recipe.
    ``trainer`` says what trains it: ``causal`` (core's Trainer on the packed blocks), ``dpo`` or
    ``orpo`` (TRL's preference trainers on chosen/rejected pairs), ``grpo`` (TRL's GRPO trainer on the
    domain's ``reward``).
    """

    name: str
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    needs_base_model: bool = False
    adapter: str | None = None
    quantize_4bit: bool = False
    check: Callable[[], None] | None = None
    trainer: str = "causal"


@dataclass(frozen=True)
class BaseModel:
    """A named pretrained model a run can start from (``--base-model NAME``).

    ``locate()`` returns the local file or folder holding it (a GGUF file, a folder holding one, or
    a ``save_pretrained`` folder), or None when it is not available on this machine; it must not
    download anything. ``how_to_get`` tells a user what to do when it is not available (an install
    command, the share to copy it from). ``licence`` and ``source`` are shown by
    ``custom-llm base-models`` and recorded in the model card.
    """

    name: str
    description: str
    locate: Callable[[], Path | None]
    licence: str = "unknown"
    source: str = ""
    how_to_get: str = ""


@dataclass(frozen=True)
class Cases:
    """A metric's value per case (a held-out line, an answer, a document), so that core can give it
    a 95% interval and compare base and tuned on the same cases with a paired test. The metric is
    the mean of ``values`` (0/1 outcomes, such as exact match, are tested with McNemar), or
    ``sum(values) / sum(weights)`` when weights are given (bits per byte: bits and bytes per document)."""

    values: tuple[float, ...]
    weights: tuple[float, ...] | None = None

    def __init__(self, values: Iterable[float], weights: Iterable[float] | None = None) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in values))
        object.__setattr__(self, "weights", None if weights is None else tuple(float(w) for w in weights))

    @property
    def value(self) -> float:
        if self.weights is not None:
            return sum(self.values) / max(sum(self.weights), 1e-12)
        return sum(self.values) / max(1, len(self.values))


@dataclass(frozen=True)
class Evaluator:
    """A named metric family; ``evaluate`` returns metric name -> value (higher is better unless
    the name is listed in ``lower_is_better``). A value given as :class:`Cases` gets an interval and
    a paired base-versus-tuned test in the report; a plain number is shown as it is."""

    name: str
    description: str
    evaluate: Callable[[EvalContext], Mapping[str, float]]
    lower_is_better: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preparer:
    """A preparation step (redaction, filtering, deduplication) for some domains.

    ``start(options, report)`` is called once per run and returns the function applied to each
    document in order; it returns the (possibly rewritten) document, or None to drop it. Being a
    factory lets a step keep state across documents, as deduplication must. Steps run by
    ascending ``order``: redaction (10) before filtering (20) before deduplication (30), so no
    secret reaches a later step or any file.
    """

    name: str
    start: Callable[[Mapping[str, Any], StageReport], Callable[[Document], Document | None]]
    domains: tuple[str, ...] | None = None
    order: int = 50

    def applies_to(self, domain: str) -> bool:
        return self.domains is None or domain in self.domains
