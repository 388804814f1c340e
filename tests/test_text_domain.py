"""The built-in text domain on real and broken files: every problem reported by name, never a crash."""

from __future__ import annotations

import json

from custom_llm.plugins import Plugins
from custom_llm.testing import domain_examples, domain_special_tokens, ingest_domain


def _ingest(folder):
    read = ingest_domain("text", folder, Plugins(load_entry_points=False))
    return read.documents, read.report


def test_bad_files_are_reported_and_the_rest_is_read(tmp_path):
    (tmp_path / "good.md").write_text("# Title\n\nSome real text.\n")
    (tmp_path / "binary.txt").write_bytes(b"abc\x00def")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("   \n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "chat.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
        + "\n"
        + "{not json\n"
        + json.dumps({"text": "a line of text"})
        + "\n"
        + json.dumps({"other": 1})
        + "\n"
    )
    outside = tmp_path.parent / "outside-secret.txt"
    outside.write_text("must not be read")
    (tmp_path / "link.txt").symlink_to(outside)
    documents, report = _ingest(tmp_path)
    reasons = {issue.path: issue.reason for issue in report.issues}
    assert sorted(d.source for d in documents) == ["chat.jsonl:1", "chat.jsonl:3", "good.md"]
    assert reasons["binary.txt"].startswith("binary")
    assert reasons["latin1.txt"].startswith("invalid UTF-8")
    assert reasons["empty.txt"].startswith("empty")
    assert "unsupported file type" in reasons["image.png"]
    assert reasons["chat.jsonl:2"].startswith("invalid JSON")
    assert reasons["chat.jsonl:4"].startswith("no usable field")
    assert any("outside the source" in r for p, r in reasons.items() if p.endswith("link.txt"))
    assert all("must not be read" not in d.text for d in documents)


def test_messages_become_instruction_examples(tmp_path):
    (tmp_path / "chat.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}) + "\n"
    )
    (tmp_path / "b.txt").write_text("plain")
    documents, _ = _ingest(tmp_path)
    chat = next(d for d in documents if d.source.startswith("chat"))
    plugins = Plugins(load_entry_points=False)
    [example] = domain_examples("text", chat, plugins)
    assert example.kind == "instruction" and example.completion == "4\n" and "2+2?" in example.prompt
    assert domain_special_tokens("text", None, plugins) == ["<|system|>", "<|user|>", "<|assistant|>"]
