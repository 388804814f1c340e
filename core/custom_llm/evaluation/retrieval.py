"""The retrieval baseline: would the base model, given the training documents most relevant to a
case, do as well as the tuned model?

The training split is cut into passages of about ``PASSAGE_CHARS`` (whole lines where it can) and
indexed once per run with BM25 (``bm25s``). A :class:`RetrievalContext` is an ``EvalContext``
whose scoring puts the top-k passages found for each case in front of it, within the model's
context, so a domain's evaluators get the baseline without any code of their own:

- ``score_answers`` (instruction cases): the passages found for the prompt go at the start of the
  prompt, before the chat template lays it out, at most ``PASSAGE_TOKENS`` tokens of them and never
  more than leaves room for the case.
- ``predictions`` / ``score_spans`` (line cases, bits per byte): the document is scored in segments
  of ``SEGMENT_TOKENS``; each segment is read after the passages found for the text before it
  (the file's name and its previous ``LOCAL_TOKENS`` tokens: nothing of the segment itself) and
  those tokens of local context, all within ``min(WINDOW, the model's context)`` tokens: about
  2.7 tokens read per token scored, twice the plain pass's cost. Every position sees at least
  ``LOCAL_TOKENS`` tokens of its own document, the least the plain pass gives (``CONTEXT``).
- ``generate`` / ``answer`` (generated cases): the passages found for the prompt's end go first.

Every call the scoring makes is counted, so an evaluator that never asked the context to score
(one that runs the model itself) is left out of the retrieval columns instead of being reported
unchanged. Shown examples are not generated again (``max_examples`` is 0).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from custom_llm.evaluation.context import EvalContext
from custom_llm.evaluation.teacher_forcing import WINDOW, TokenPredictions
from custom_llm.records import Document

PASSAGE_CHARS = 600  # a passage: about 150 tokens of code, a paragraph of prose
PASSAGE_TOKENS = 384  # all of a case's passages together, at most
SEGMENT_TOKENS = 384  # document positions scored per forward pass of the span path
LOCAL_TOKENS = 256  # of the document's own text before each segment: the plain pass's least (teacher_forcing.CONTEXT)
BATCH = 2
DEFAULT_TOP_K = 3
TEMPLATE_TOKENS = 64  # room kept for a chat template's turns around a prompt
HEADER = "Passages from the training documents:\n\n"
SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Passage:
    """A piece of a training document, and where it comes from."""

    text: str
    source: str


def chunk_documents(documents: Iterable[Document], chars: int = PASSAGE_CHARS) -> list[Passage]:
    """Every document cut into passages of whole lines, at most ``chars`` each (a longer line is cut)."""
    passages: list[Passage] = []
    for document in documents:
        current = ""
        for line in document.text.splitlines(keepends=True):
            while len(line) > chars:
                if current.strip():
                    passages.append(Passage(current, document.source))
                current = ""
                passages.append(Passage(line[:chars], document.source))
                line = line[chars:]
            if len(current) + len(line) > chars and current.strip():
                passages.append(Passage(current, document.source))
                current = ""
            current += line
        if current.strip():
            passages.append(Passage(current, document.source))
    return passages


_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def terms(text: str) -> str:
    """Text as BM25 reads it: identifiers split at underscores and camel case (``parse_xml``,
    ``parseXml`` -> ``parse xml``), so code finds code and prose alike."""
    return _CAMEL.sub(r"\1 \2", text).replace("_", " ")


class Retriever:
    """BM25 over passages (bm25s, English stop words dropped)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        import bm25s

        self.passages = list(passages)
        self._index: Any = None
        if self.passages:
            self._index = bm25s.BM25()
            tokens = bm25s.tokenize([terms(p.text) for p in self.passages], stopwords="en", return_ids=False, show_progress=False)
            self._index.index(tokens, show_progress=False)

    def search(self, query: str, k: int) -> list[Passage]:
        """The ``k`` passages that score highest for ``query``, best first; none that share no term with it."""
        import bm25s

        if self._index is None or k <= 0 or not query.strip():
            return []
        tokens = bm25s.tokenize([terms(query)], stopwords="en", return_ids=False, show_progress=False)
        if not tokens or not tokens[0]:
            return []
        found, scores = self._index.retrieve(tokens, k=min(k, len(self.passages)), show_progress=False, n_threads=1)
        return [self.passages[int(i)] for i, s in zip(found[0], scores[0], strict=True) if s > 0]


def retriever_for(run: Any, context: EvalContext) -> tuple[Retriever, float]:
    """The run's index over its training passages, built on first use and kept for the run; with
    the seconds building it took (paid once, so not part of what scales with the cases)."""
    cached = run.artifacts.get("retriever")
    if cached is None:
        started = time.perf_counter()
        cached = (Retriever(chunk_documents(context.training_documents())), time.perf_counter() - started)
        run.artifacts["retriever"] = cached
    return cached


def truncated(tokenizer: Any, text: str, tokens: int) -> str:
    """``text`` cut after its first ``tokens`` tokens."""
    if tokens <= 0:
        return ""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    return text if len(offsets) <= tokens else text[: offsets[tokens - 1][1]]


def passage_block(tokenizer: Any, passages: Sequence[Passage], budget: int) -> str:
    """The passages as one block, each cut to an equal share of ``budget`` tokens; "" for none."""
    if not passages or budget <= 0:
        return ""
    share = budget // len(passages)
    kept = [truncated(tokenizer, p.text.strip("\n"), share) for p in passages]
    kept = [k for k in kept if k.strip()]
    return SEPARATOR.join(kept) + SEPARATOR if kept else ""


def model_limit(model: Any) -> int:
    return int(getattr(model.config, "max_position_embeddings", WINDOW) or WINDOW)


def predict_with_passages(model: Any, tokenizer: Any, text: str, lookup: Callable[[str, int], str], window: int = WINDOW) -> TokenPredictions:
    """The teacher-forced pass over ``text`` (as ``teacher_forcing.predict_tokens``: the same ids,
    offsets and fields), each segment read after the passages ``lookup(query, budget)`` gives
    for the text before it (see the module docstring)."""
    import torch

    from custom_llm.data.document_start import document_start_ids
    from custom_llm.evaluation.position_scores import score_rows

    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    start_ids = document_start_ids(tokenizer)  # as in training and the plain pass: BOS where the tokenizer adds one
    ids = np.array([*start_ids, *encoded["input_ids"]], dtype=np.int64)
    offsets = np.array([(0, 0), *encoded["offset_mapping"]], dtype=np.int64).reshape(-1, 2)
    n = len(ids)
    predicted: np.ndarray = np.zeros(n, dtype=np.int64)
    logprob: np.ndarray = np.zeros(n, dtype=np.float64)
    seen_from: np.ndarray = np.zeros(n, dtype=np.int64)
    window = max(8, min(window, model_limit(model)))
    segment = max(1, min(SEGMENT_TOKENS, window * 3 // 8))
    local = max(1, min(LOCAL_TOKENS, window // 4))
    budget = window - segment - local - 1
    rows_input: list[tuple[list[int], int, int, int]] = []  # (input ids, first scored row position, a, b)
    for a in range(0, n, segment):
        b = min(n, a + segment)  # positions a..b-1 predict ids[a+1..b] (the last one: what follows the text)
        start = max(1, a - local + 1)  # the document's tokens before the segment that the row holds
        query = text[int(offsets[start][0]) : int(offsets[a][1])] if a >= 1 else ""
        block = lookup(query, budget)
        prefix = [*start_ids, *(tokenizer(block, add_special_tokens=False)["input_ids"][:budget] if block else [])]
        row = prefix + ids[start:b].tolist()
        rows_input.append((row, len(prefix) + (a - start), a, b))
        seen_from[a:b] = start
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(rows_input), BATCH):
            group = rows_input[first : first + BATCH]
            length = max(len(r[0]) for r in group)
            batch: np.ndarray = np.full((len(group), length), eos, dtype=np.int64)
            rows = []
            for index, (row, at, a, b) in enumerate(group):
                batch[index, : len(row)] = row
                rows.append((index, np.arange(at, at + (b - a)), ids[np.minimum(np.arange(a, b) + 1, n - 1)]))
            best, gathered, _ = score_rows(model, torch.as_tensor(batch, device=device), rows, use_cache=False)
            for (_, _, a, b), guess, value in zip(group, best, gathered, strict=True):
                predicted[a:b] = guess
                logprob[a:b] = value
    model.train(was_training)
    logprob[n - 1] = 0.0
    return TokenPredictions(ids, offsets, predicted, logprob, seen_from, len(text.encode("utf-8")))


@dataclass
class RetrievalContext(EvalContext):
    """An ``EvalContext`` whose scoring and generation read the top-k retrieved passages first."""

    retriever: Retriever | None = None
    top_k: int = DEFAULT_TOP_K
    calls: int = 0  # scoring calls made through the retrieval paths
    retrieved: list[int] = field(default_factory=list)  # passages put in front of each case

    @classmethod
    def around(cls, context: EvalContext, retriever: Retriever, top_k: int) -> RetrievalContext:
        """The same model, documents and case limits as ``context``, with retrieval and no shown examples."""
        values = {f.name: getattr(context, f.name) for f in fields(EvalContext) if f.init and f.name not in ("_memo", "progress")}
        values["max_examples"] = 0
        made = cls(**values, retriever=retriever, top_k=top_k)
        made._memo.update({k: v for k, v in context._memo.items() if k.startswith("stop-ids") or k == "training-documents"})
        return made

    def passages(self, query: str, budget: int) -> str:
        """The block of passages found for ``query``, within ``budget`` tokens (memoized by query)."""
        key = f"retrieved\x1f{budget}\x1f{query}"
        if key not in self._memo:
            found = self.retriever.search(query, self.top_k) if self.retriever is not None else []
            self._memo[key] = passage_block(self.tokenizer, found, min(budget, PASSAGE_TOKENS))
            self.retrieved.append(len(found) if self._memo[key] else 0)
        return str(self._memo[key])

    def predictions(self, document: Document) -> Any:
        key = f"retrieval-pass\x1f{document.id}"
        self.calls += 1  # every call, the memoized ones too: each evaluator that asks is a retrieval evaluator
        if key not in self._memo:
            source = document.source

            def lookup(query: str, budget: int) -> str:
                return self.passages(f"{source}\n{query}", budget)

            self._memo[key] = predict_with_passages(self.model, self.tokenizer, document.text, lookup)
            self._tick("documents", 1, len(self.documents))
        return self._memo[key]

    def _room(self, prompt: str, answer: str) -> int:
        """Tokens left for passages beside this case in the model's context (a margin for a chat template)."""
        from custom_llm.data.chat import has_chat_template

        margin = TEMPLATE_TOKENS if has_chat_template(self.tokenizer) else 2
        used = len(self.tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]) + margin
        return max(0, min(PASSAGE_TOKENS, model_limit(self.model) - used))

    def with_passages(self, prompt: str, answer: str = "") -> str:
        block = self.passages(prompt, self._room(prompt, answer))
        return f"{HEADER}{block}{prompt}" if block else prompt

    def score_answers(self, cases: Iterable[tuple[str, str]], stop: str | None = "\n") -> list[Any]:
        self.calls += 1
        return super().score_answers([(self.with_passages(p, a), a) for p, a in cases], stop)

    def generate(self, prompt: str, max_new_tokens: int = 64, stop: Iterable[str] = ()) -> str:
        self.calls += 1
        block = self.passages(prompt[-2000:], self._room(prompt, "x" * max_new_tokens))
        return super().generate(block + prompt, max_new_tokens, stop)

    def answer(self, prompt: str, max_new_tokens: int = 64, stop: Iterable[str] = (), messages: Iterable[Mapping[str, str]] = ()) -> str:
        from custom_llm.data.chat import instruction_prompt

        self.calls += 1
        laid = instruction_prompt(self.tokenizer, self.with_passages(prompt), tuple(messages))
        return EvalContext.generate(self, laid, max_new_tokens, stop)
