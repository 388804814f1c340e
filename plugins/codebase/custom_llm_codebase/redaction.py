"""Secret and e-mail redaction: typed placeholders replace credentials before anything is stored.

Two detectors work together:

* patterns for well-formed credentials, run over the whole text only when a cheap literal
  trigger ("AKIA", "ghp_", "-----BEGIN", ...) occurs in it: private keys (whole PEM blocks), AWS
  access keys, GitHub / GitLab / Slack / Hugging Face / npm / PyPI / Stripe / Google / OpenAI-style
  tokens, JWTs, connection strings with a password, e-mail addresses;
* on the few lines that name a secret and assign it a value (``password = "..."``,
  ``api_key: ...``, ``Authorization: Bearer ...``), our assignment rules (passwords, AWS secret
  keys, high-entropy tokens) plus detect-secrets' offline line plugins, whose findings pass through
  its false-positive filters (templated values, indirect references, ids, sequences).

Scanning every line with detect-secrets costs about 80 microseconds a line (minutes for a large
repository); the triggers and the per-line gate bring redaction to a small fraction of parse time
while every line that could hold a secret is still examined.

The placeholders look like ``<SECRET:aws_access_key>`` and ``<EMAIL>``; only counts by type are
reported, never a value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from custom_llm import Document, StageReport
from custom_llm_codebase.units import document_metadata

# (type, literal triggers (any must occur in the text), pattern, left boundary needed). Every pattern
# starts with a literal so that the regex engine can skip to it; priority is list order. An empty
# type means the pattern's named group that matched is the type.
PATTERNS: list[tuple[str, tuple[str, ...], re.Pattern[str], bool]] = [
    (
        "private_key",
        ("PRIVATE KEY",),
        re.compile(
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
        ),
        False,
    ),
    (
        "private_key",
        ("PRIVATE KEY",),
        re.compile(  # a block without its END line (cut, or split over strings)
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:(?:\\[nr]|[\s\"'+,;])*[A-Za-z0-9+/=]{8,})*"
        ),
        False,
    ),
    (
        "",
        (),
        re.compile(
            r"A(?:(?P<aws_access_key>KIA[A-Z0-9]{16}|SIA[A-Z0-9]{16})(?![A-Z0-9])"
            r"|(?P<google_api_key>Iza[0-9A-Za-z_-]{35}))"
        ),
        True,
    ),
    ("github_token", (), re.compile(r"gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9_])"), True),
    ("github_token", (), re.compile(r"github_pat_[A-Za-z0-9_]{22,255}"), True),
    ("gitlab_token", (), re.compile(r"glpat-[A-Za-z0-9_-]{20,}"), True),
    ("slack_token", (), re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"), True),
    ("slack_webhook", (), re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/-]+"), False),
    ("jwt", (), re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), True),
    ("stripe_key", (), re.compile(r"k_(?:live|test)_[A-Za-z0-9]{16,}"), True),  # sk_/rk_: see _pattern_spans
    ("api_key", (), re.compile(r"sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{32,}"), True),
    ("huggingface_token", (), re.compile(r"hf_[A-Za-z0-9]{34}(?![A-Za-z0-9_])"), True),
    ("npm_token", (), re.compile(r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])"), True),
    ("pypi_token", (), re.compile(r"pypi-AgE[A-Za-z0-9_-]{50,}"), False),
    ("sendgrid_key", (), re.compile(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"), True),
]
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# Lines naming a secret (keywords searched in lower-cased UTF-8 bytes) must pass a gate anchored right
# after the keyword: an assignment (``=``, ``:``, ``:=``, ``=>``, an argument) of a value of four or
# more characters, quoted in code files. ``[ \t]`` rather than ``\s`` keeps the gate on one line.
KEYWORDS = (b"pass", b"pwd", b"secret", b"token", b"key", b"credential", b"contrase")
_TAIL = rb"[\w\]'\"\-.]*[ \t]*(?::[ \t]*[\w\[\]., |]{1,40}?[ \t]*)?(?:=|:|=>|,)[ \t]*[@(]?"
# One pattern per keyword, each starting with its literal so the regex engine skips to it in C.
_GATES_QUOTED = [re.compile(k + _TAIL + rb"[\"'`][^\s\"'`]{4,}") for k in KEYWORDS]  # code: a literal value
_GATES_ANY = [re.compile(k + _TAIL + rb"[\"'`]?[^\s\"'`]{4,}") for k in KEYWORDS]  # configuration, text
_GATE_BEARER = re.compile(rb"bearer[ \t]+[a-z0-9._~+/\-]{16,}")
_ASSIGNMENT = re.compile(
    r"(?P<name>(?<![\w.\-])[\w.\-]*?(?:pass(?!age|ing|ed|es|through|thru|ive|enger)(?:word|wd|phrase)?|pwd|secret(?!ary)|token(?!iz)|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|priv[_-]?key|client[_-]?key|auth[_-]?key|credentials?|contrase(?:ñ|n)a)[\w.\-]*)"
    r"[\]'\"]{0,2}(?:\s*:\s*[A-Za-z_][\w\[\]., |]*?(?=\s*=))?\s*(?::=|=>|==|=|:)\s*@?"
    r"(?:(?P<q>[\"'`])(?P<quoted>[^\"'`\n]{4,}?)(?P=q)|(?P<bare>[^\s\"'`,;]{4,}))",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b[Bb]earer\s+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)")
_PASSWORD_NAME = re.compile(r"pass(?!age|ing|ed|es|through|thru|ive|enger)|pwd|contrase", re.IGNORECASE)
_AWS_SECRET = re.compile(r"aws|secret_access", re.IGNORECASE)
_BASE64_40 = re.compile(r"[A-Za-z0-9/+=]{40}")
_TEMPLATED = re.compile(r"^(?:\$\{?|\{\{?|%\(?|<[^>]*>$|\*+$|x{4,}$|\.\.\.|null$|none$|true$|false$|changeme$)", re.IGNORECASE)
_CODE_VALUE = re.compile(r"^[\w.]+\(|^[\w]+(?:\.[\w]+)+$|^(?:self|this|os|env|process|config|settings)\b")

_CONNECTION = re.compile(r"(?P<user>[^\s:/@\"'`<>{}]+):(?P<password>[^\s@/\"'`<>]+)@[A-Za-z0-9.\-\[\]]")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_EMAIL_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
    r"[A-Za-z0-9])?)*\.(?P<tld>[A-Za-z]{2,24})\b(?!\()"
)
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
# Top-level domains e-mail addresses use; any two-letter country code counts too. Keeps matrix
# products such as ``x@self.weight`` from being taken for addresses.
_TLDS = frozenset(
    {
        "com",
        "org",
        "net",
        "edu",
        "gov",
        "mil",
        "int",
        "info",
        "biz",
        "name",
        "pro",
        "dev",
        "app",
        "io",
        "ai",
        "co",
        "tech",
        "cloud",
        "online",
        "site",
        "xyz",
        "email",
        "mail",
        "local",
        "localdomain",
        "internal",
        "corp",
        "lan",
        "example",
        "test",
        "invalid",
        "localhost",
        "company",
        "team",
        "systems",
        "solutions",
        "software",
        "digital",
    }
)
_SSH_USERS = frozenset({"git", "hg", "ssh", "svn"})  # git@github.com:org/repo is a remote, not a person
_FILE_TLDS = frozenset({"py", "js", "ts", "md", "sh", "rs", "go", "cc", "hh", "in", "pl", "rb", "db", "gz", "so"})

# detect-secrets types -> our placeholder types.
_DS_TYPES = {
    "AWS Access Key": "aws_access_key",
    "Basic Auth Credentials": "connection_string",
    "GitHub Token": "github_token",
    "GitLab Token": "gitlab_token",
    "JSON Web Token": "jwt",
    "Private Key": "private_key",
    "Slack Token": "slack_token",
    "Stripe Access Key": "stripe_key",
    "OpenAI Token": "api_key",
    "PyPI Token": "pypi_token",
    "NPM tokens": "npm_token",
    "SendGrid API Key": "sendgrid_key",
}
_DS_SKIP = ("Base64 High Entropy String", "Hex High Entropy String", "Public IP (ipv4)")
CODE_LANGUAGES = frozenset(
    {
        "python",
        "javascript",
        "typescript",
        "tsx",
        "java",
        "go",
        "rust",
        "c",
        "cpp",
        "ruby",
        "php",
        "kotlin",
        "swift",
        "scala",
        "csharp",
        "lua",
        "perl",
        "dart",
        "groovy",
        "cuda",
        "objective-c",
        "julia",
        "r",
        "elixir",
        "haskell",
        "zig",
        "nim",
        "vue",
        "html",
    }
)
REDACTED_MARK = "secrets_redacted"
MIN_VALUE = 6  # detect-secrets findings shorter than this are fragments (it reports "ghp" for a GitHub token)


def placeholder(kind: str) -> str:
    return "<EMAIL>" if kind == "email" else f"<SECRET:{kind}>"


def redact(text: str, filename: str = "file.txt", language: str = "text") -> tuple[str, Counter]:
    """``text`` with every secret found replaced by its placeholder, and the count per type."""
    spans = list(_pattern_spans(text))
    spans += _connection_spans(text)
    spans += _email_spans(text)
    spans += _keyword_line_spans(text, filename, language)
    if not spans:
        return text, Counter()
    merged = _merge(spans)
    counts: Counter = Counter()
    pieces: list[str] = []
    last = 0
    for start, end, kind in merged:
        pieces.append(text[last:start])
        pieces.append(placeholder(kind))
        counts[kind] += 1
        last = end
    pieces.append(text[last:])
    return "".join(pieces), counts


def _merge(spans: list[tuple[int, int, str, int]]) -> list[tuple[int, int, str]]:
    """Overlapping findings become one span (their union) typed by the highest-priority finding,
    so a value that two detectors cut differently is still wholly replaced."""
    spans.sort()
    merged: list[list[Any]] = []
    for start, end, kind, priority in spans:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if priority < last[3]:
                last[2], last[3] = kind, priority
        else:
            merged.append([start, end, kind, priority])
    return [(s, e, k) for s, e, k, _ in merged]


def _pattern_spans(text: str) -> Iterator[tuple[int, int, str, int]]:
    for priority, (kind, triggers, pattern, left_boundary) in enumerate(PATTERNS):
        if triggers and not any(t in text for t in triggers):
            continue
        for match in pattern.finditer(text):
            start = match.start()
            found = kind or match.lastgroup or "secret"
            if found == "stripe_key":  # the regex starts at a literal for speed; the s/r comes before it
                if start == 0 or text[start - 1] not in "sr":
                    continue
                start -= 1
            if left_boundary and start > 0 and text[start - 1] in _WORD:
                continue  # inside a longer identifier: not a token
            yield start, match.end(), found, priority


def _connection_spans(text: str) -> list[tuple[int, int, str, int]]:
    """``scheme://user:password@host``: the credentials are replaced, scheme and host are kept."""
    spans = []
    position = text.find("://")
    while position >= 0:
        scheme_start = position
        while scheme_start > 0 and text[scheme_start - 1] in _SCHEME_CHARS:
            scheme_start -= 1
        match = _CONNECTION.match(text, position + 3) if scheme_start < position else None
        if match and not _TEMPLATED.match(match.group("password")) and not match.group("password").startswith("{"):
            spans.append((match.start(), match.end() - 2, "connection_string", 1))
        position = text.find("://", position + 3)
    return spans


def _email_spans(text: str) -> list[tuple[int, int, str, int]]:
    spans = []
    at = text.find("@")
    while at >= 0:
        start = at
        while start > 0 and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        if start < at and text[start] not in ".-" and (start == 0 or text[start - 1] not in ":/") and text[start:at] not in _SSH_USERS:
            match = _EMAIL_DOMAIN.match(text, at + 1)
            if match:
                tld = match.group("tld").lower()
                if tld in _TLDS or (len(tld) == 2 and tld not in _FILE_TLDS):
                    spans.append((start, match.end(), "email", 50))
        at = text.find("@", at + 1)
    return spans


def _keyword_line_spans(text: str, filename: str, language: str) -> list[tuple[int, int, str, int]]:
    data = text.encode("utf-8")
    lowered = data.lower()
    line_starts: set[int] = set()
    for gate in (*(_GATES_QUOTED if language in CODE_LANGUAGES else _GATES_ANY), _GATE_BEARER):
        for match in gate.finditer(lowered):
            line_starts.add(lowered.rfind(b"\n", 0, match.start()) + 1)
    if not line_starts:
        return []
    to_chars = _char_offsets(data, text)
    suffix = PurePosixPath(filename).suffix.lower()
    quoted_only = language in CODE_LANGUAGES
    spans: list[tuple[int, int, str, int]] = []
    for line_start in sorted(line_starts):
        line_end = data.find(b"\n", line_start)
        line = data[line_start : len(data) if line_end < 0 else line_end].decode("utf-8", "replace")
        offset = to_chars(line_start)
        for start, end, kind, priority in _line_secrets(line, suffix, quoted_only):
            spans.append((offset + start, offset + end, kind, priority))
    return spans


def _char_offsets(data: bytes, text: str) -> Callable[[int], int]:
    """Byte offset -> character offset (the identity for ASCII text)."""
    if len(data) == len(text):
        return int
    return lambda offset: len(data[:offset].decode("utf-8", "replace"))


def _line_secrets(line: str, suffix: str, quoted_only: bool) -> Iterator[tuple[int, int, str, int]]:
    """Secrets on one line that names one: our assignment rules, then detect-secrets' plugins."""
    for match in _ASSIGNMENT.finditer(line):
        group = "quoted" if match.group("quoted") is not None else "bare"
        if group == "bare" and quoted_only:
            continue
        value = match.group(group)
        if _TEMPLATED.match(value) or (group == "bare" and _CODE_VALUE.match(value)):
            continue
        name = match.group("name")
        if _AWS_SECRET.search(name) and _BASE64_40.fullmatch(value):
            yield match.start(group), match.end(group), "aws_secret_key", 20
        elif _PASSWORD_NAME.search(name):
            yield match.start(group), match.end(group), "password", 20
        elif looks_random(value):
            yield match.start(group), match.end(group), "generic_token", 20
    for match in _BEARER.finditer(line):
        if looks_random(match.group("value")):
            yield match.start("value"), match.end("value"), "bearer_token", 20
    for kind, value in _detect_secrets(line, suffix):
        position = line.find(value)
        while position >= 0:
            yield position, position + len(value), kind, 30
            position = line.find(value, position + len(value))


def looks_random(value: str) -> bool:
    """A token rather than a word or an identifier: long, mixed character classes, high entropy."""
    if len(value) < 12 or " " in value:
        return False
    if not any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
        return False  # CamelCase names and words have no digits; real tokens almost always do
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.0


@lru_cache(maxsize=65536)
def _detect_secrets(line: str, suffix: str) -> tuple[tuple[str, str], ...]:
    """detect-secrets' findings on one line as (type, value); cached, since boilerplate lines repeat
    across the files of a repository."""
    return tuple(_detect_secrets_uncached(line, "file" + suffix))


def _detect_secrets_uncached(line: str, filename: str) -> Iterator[tuple[str, str]]:
    plugins, filters = _detect_secrets_setup()
    for plugin in plugins:
        try:
            found = plugin.analyze_line(filename=filename, line=line, line_number=0)
        except Exception:  # a plugin bug must not stop a run; our own rules still apply
            continue
        for secret in found:
            value = secret.secret_value or ""
            if len(value) < MIN_VALUE or any(f(value, line, plugin) for f in filters):
                continue
            kind = _DS_TYPES.get(secret.type)
            if kind is None and secret.type == "Secret Keyword":
                kind = "password" if _PASSWORD_NAME.search(line) else "generic_token"
            yield kind or re.sub(r"[^a-z0-9]+", "_", secret.type.lower()).strip("_"), value


@lru_cache(maxsize=1)
def _detect_secrets_setup() -> tuple[list[Any], list[Callable[[str, str, Any], bool]]]:
    """detect-secrets' line plugins (no entropy or IP plugins: too noisy in code) and its heuristic
    false-positive filters. Verification (network) is never enabled."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.filters import heuristic

    plugins = [cls() for kind, cls in sorted(get_mapping_from_secret_type_to_class().items()) if kind not in _DS_SKIP]
    filters: list[Callable[[str, str, Any], bool]] = [
        lambda v, line, p: heuristic.is_templated_secret(v),
        lambda v, line, p: heuristic.is_prefixed_with_dollar_sign(v),
        lambda v, line, p: heuristic.is_indirect_reference(line),
        lambda v, line, p: heuristic.is_sequential_string(v),
        lambda v, line, p: heuristic.is_potential_uuid(v),
        lambda v, line, p: heuristic.is_likely_id_string(v, line, p),
        lambda v, line, p: heuristic.is_not_alphanumeric_string(v),
    ]
    return plugins, filters


def redact_document(document: Document, report: StageReport, mark: bool = False) -> Document:
    """``document`` with its secrets replaced and units re-derived when the text changed
    (placeholders shift every offset after them). ``mark`` records that it was done, so that the
    redaction preparer does not redo it (for documents redacted in an ingest worker)."""
    language = str(document.metadata.get("language", "text"))
    text, counts = redact(document.text, document.source, language)
    if not counts and not mark:
        return document
    metadata = {**document.metadata, REDACTED_MARK: True} if mark else dict(document.metadata)
    if counts:
        for kind, n in sorted(counts.items()):
            report.count(f"redacted: {kind}", n)
        metadata.update(document_metadata(text, language), redacted=sum(counts.values()))
    return document.replace(text=text, metadata=metadata)


def redaction_step(options: Mapping[str, Any], report: StageReport) -> Callable[[Document], Document | None]:
    """The Preparer factory. Documents ingested by worker processes arrive already redacted (and
    marked); every other document is redacted here. Either way the stored documents are the same."""

    def step(document: Document) -> Document | None:
        if document.metadata.get(REDACTED_MARK):  # done in a worker: drop the mark, keep the result
            return document.replace(metadata={k: v for k, v in document.metadata.items() if k != REDACTED_MARK})
        return redact_document(document, report)

    return step
