"""What an evaluator gets, :class:`EvalContext` (public as ``custom_llm.EvalContext``): a model, its
tokenizer, the held-out documents, and the shared ways to score them. It lives above the records
it carries, so the records never import the chat layout, the storage or the scoring they call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.records import Document, Example


@dataclass
class EvalContext:
    """What an evaluator gets: a model, its tokenizer and the held-out documents of the domain.

    ``training_split`` is where the training documents come from (the stored split's file, or the
    documents themselves in tests); evaluators read it through :meth:`training_documents`."""

    model: Any
    tokenizer: Any
    documents: list[Document]
    settings: Mapping[str, Any]
    domain_options: Mapping[str, Any]
    packed_eval: Any = None
    device: str = "cpu"
    max_examples: int = 64
    seed: int = 0
    max_cases: int = 20_000
    training_split: Path | Sequence[Document] | None = None
    # called as progress(kind, done, total) while cases are scored: the evaluation's progress bar
    progress: Callable[[str, int, int | None], None] | None = field(default=None, repr=False, compare=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def _tick(self, kind: str, done: int = 1, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(kind, done, total)

    def training_documents(self) -> list[Document]:
        """The documents the model was trained on (the run's training split), read once on first
        use and shared by every evaluator: what a metric needs to tell knowledge learned in
        training from text seen only in the held-out files. Empty when the context has no split."""
        if "training-documents" not in self._memo:
            source = self.training_split
            if source is None:
                documents: list[Document] = []
            elif isinstance(source, Path):
                from custom_llm.data.storage import iter_documents

                documents = list(iter_documents(source)) if source.is_file() else []
            else:
                documents = list(source)
            self._memo["training-documents"] = documents
        return list(self._memo["training-documents"])

    def predictions(self, document: Document) -> Any:
        """The teacher-forced pass over ``document`` (``custom_llm.evaluation.teacher_forcing``),
        made once per model and shared by every evaluator of the run."""
        if document.id not in self._memo:
            from custom_llm.evaluation.teacher_forcing import predict_tokens

            self._memo[document.id] = predict_tokens(self.model, self.tokenizer, document.text)
            self._tick("documents", 1, len(self.documents))
        return self._memo[document.id]

    def score_spans(self, document: Document, spans: Iterable[tuple[int, int]], stop: str | None = None) -> list[Any]:
        """For each ``(start, end)`` character span of ``document.text``: would greedy completion of
        the text before it reproduce it (and then stop at ``stop``)? With its log-probability.
        One forward pass per document answers every span (see docs/plugins/hooks.md)."""
        from custom_llm.evaluation.teacher_forcing import score_spans

        return score_spans(self.predictions(document), document.text, list(spans), stop, self._stop_ids(stop))

    def score_answers(self, cases: Iterable[tuple[str, str]], stop: str | None = "\n") -> list[Any]:
        """For each ``(prompt, answer)`` instruction pair, laid out as in training (the chat
        template when the tokenizer has one): would greedy decoding answer exactly ``answer`` (cut
        at ``stop``, as :meth:`answer` cuts) and then stop? With the answer's log-probability and
        how many of its characters greedy decoding gets right. Batched forward passes, no generation."""
        from custom_llm.data.chat import laid_out
        from custom_llm.evaluation.teacher_forcing import score_answers

        pairs = []
        for prompt, answer in cases:
            example = laid_out(Example(completion=answer, prompt=prompt, kind="instruction"), self.tokenizer)
            target = example.completion
            if stop and stop in target:
                target = target[: target.index(stop)]
            pairs.append((example.prompt, target))
        return score_answers(self.model, self.tokenizer, pairs, stop, self._stop_ids(stop), progress=lambda n: self._tick("answers", n, len(pairs)))

    def _stop_ids(self, stop: str | None) -> frozenset[int]:
        if stop is None:
            return frozenset()
        key = f"stop-ids\x1f{stop}"
        if key not in self._memo:
            from custom_llm.evaluation.teacher_forcing import stop_token_ids

            started = time.perf_counter()
            self._memo[key] = stop_token_ids(self.tokenizer, stop)
            self._memo["once-seconds"] = self._memo.get("once-seconds", 0.0) + time.perf_counter() - started  # reused by later contexts
        return self._memo[key]

    def show(self, key: str, prompt: str, truth: str, output: str, correct: bool | None = None) -> None:
        """Offer one case for the report's side-by-side examples (the end of the prompt, the truth,
        this model's output); cases with the same ``key`` in the base and the tuned run are paired.
        ``correct`` is whether the metric counts this output right (default: output equals truth,
        whitespace trimmed), so the report can show cases by outcome."""
        case: dict[str, Any] = {"prompt": prompt[-300:], "truth": truth, "output": output}
        if correct is not None:
            case["correct"] = bool(correct)
        self._memo.setdefault("examples", {})[key] = case

    def shown(self) -> dict[str, dict[str, Any]]:
        """The cases evaluators offered with :meth:`show`, by key."""
        return dict(self._memo.get("examples", {}))

    def generate(self, prompt: str, max_new_tokens: int = 64, stop: Iterable[str] = ()) -> str:
        """Greedy completion of ``prompt``, cut at the first stop string: the shared way to sample.
        In eval mode (no dropout, whatever training left) and with the key-value cache."""
        from custom_llm.generation import greedy_generate

        was_training = self.model.training
        self.model.eval()
        try:
            return greedy_generate(self.model, self.tokenizer, prompt, max_new_tokens, stop)
        finally:
            self.model.train(was_training)
            self._tick("generated", 1, self.max_examples)

    def answer(self, prompt: str, max_new_tokens: int = 64, stop: Iterable[str] = (), messages: Iterable[Mapping[str, str]] = ()) -> str:
        """Greedy answer to an instruction, asked in the layout the model was trained with: the base
        tokenizer's chat template when it has one, else ``prompt`` as it is (see ``Example``)."""
        from custom_llm.data.chat import instruction_prompt

        return self.generate(instruction_prompt(self.tokenizer, prompt, tuple(messages)), max_new_tokens, stop)
