"""Planted secrets of every kind are replaced by typed placeholders and appear nowhere after
preparation; only counts reach the report. The values are assembled at run time so that this file
itself holds no credential-shaped string."""

from __future__ import annotations

import json
import random
import string

import pytest

from custom_llm_codebase.redaction import redact


def _random(alphabet: str, n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits
B64 = ALNUM + "/+"
PEM_BODY = "\n".join(_random(B64, 64, 100 + i) for i in range(4))

# kind -> (file name, file text with {value}, the planted value)
PLANTED: dict[str, tuple[str, str, str]] = {
    "aws_access_key": ("settings.py", 'AWS_ACCESS_KEY_ID = "{value}"\n', "AKIA" + _random(UPPER, 16, 1)),
    "aws_secret_key": ("settings.py", 'aws_secret_access_key = "{value}"\n', _random(B64, 40, 2)),
    "github_token": ("deploy.js", 'const auth = "token {value}";\n', "gh" + "p_" + _random(ALNUM, 36, 3)),
    "gitlab_token": ("ci.yaml", "token: {value}\n", "glp" + "at-" + _random(ALNUM, 20, 4)),
    "slack_token": ("notify.go", 'var slack = "{value}"\n', "xo" + "xb-" + _random(string.digits, 12, 5) + "-" + _random(ALNUM, 24, 6)),
    "slack_webhook": (
        "notify.py",
        'HOOK = "{value}"\n',
        "https://hooks.slack.com/services/T" + _random(UPPER, 8, 7) + "/B" + _random(UPPER, 8, 8) + "/" + _random(ALNUM, 24, 9),
    ),
    "jwt": (
        "session.ts",
        "const session = '{value}';\n",
        "ey" + "J" + _random(ALNUM, 20, 10) + ".ey" + "J" + _random(ALNUM, 30, 11) + "." + _random(ALNUM, 43, 12),
    ),
    "password": ("db.py", 'def connect(user, password="{value}"):\n    return user\n', "Tr0ub4dor&3-" + _random(ALNUM, 6, 13)),
    "connection_string": ("Main.java", 'String url = "postgres://admin:{value}@db.internal:5432/app";\n', "p4ss" + _random(ALNUM, 10, 14)),
    "generic_token": ("client.rs", 'let api_token = "{value}";\n', _random(ALNUM, 30, 15) + "9"),
    "private_key": ("deploy_key", "{value}\n", "-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "\n-----END RSA PRIVATE KEY-----"),
    "stripe_key": ("pay.py", 'stripe.api_key = "{value}"\n', "sk" + "_live_" + _random(ALNUM, 24, 16)),
    "google_api_key": ("maps.js", "const key = '{value}';\n", "AI" + "za" + _random(ALNUM, 35, 17)),
    "api_key": ("llm.py", 'client = OpenAI(api_key="{value}")\n', "sk" + "-proj-" + _random(ALNUM, 40, 18)),
    "huggingface_token": ("hub.py", 'login("{value}")\n', "hf" + "_" + _random(ALNUM, 34, 19)),
    "bearer_token": ("api.sh", 'curl -H "Authorization: Bearer {value}" https://api.internal\n', _random(ALNUM, 32, 20) + "7"),
    "email": ("AUTHORS.md", "Maintainer: Jane Roe <{value}>\n", "jane.roe@corp-mail.com"),
}
ENV_FILE = ("DB_PASSWORD={pw}\nSECRET_KEY={sk}\n", "hunter2-" + _random(ALNUM, 8, 21), _random(ALNUM, 40, 22) + "1")


@pytest.fixture(scope="module")
def planted_repo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    texts: dict[str, str] = {}
    for name, template, value in PLANTED.values():
        texts[name] = texts.get(name, "") + template.format(value=value)
    texts["config/.env"] = ENV_FILE[0].format(pw=ENV_FILE[1], sk=ENV_FILE[2])
    texts["tool.py"] = "def run(tokenizer, password_prompt):\n    return tokenizer.encode(password_prompt)\n"
    for name, text in texts.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def prepared(planted_repo, ingest):
    return ingest(planted_repo)


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_each_kind_of_secret_is_replaced_by_its_placeholder(prepared, kind):
    name, _, value = PLANTED[kind]
    text = prepared.by_source()[name].text
    assert value not in text
    placeholder = "<EMAIL>" if kind == "email" else f"<SECRET:{kind}>"
    assert placeholder in text, text
    assert prepared.report.counts[f"redacted: {kind}"] >= 1


def test_no_planted_value_survives_anywhere_and_the_report_holds_only_counts(prepared):
    everything = json.dumps([d.to_row() for d in prepared.documents]) + json.dumps(prepared.report.to_json())
    values = [v for _, _, v in PLANTED.values()] + [ENV_FILE[1], ENV_FILE[2]]
    values += PEM_BODY.splitlines()
    for value in values:
        assert value not in everything
    env = prepared.by_source()["config/.env"].text
    assert env == "DB_PASSWORD=<SECRET:password>\nSECRET_KEY=<SECRET:generic_token>\n"


def test_ordinary_code_is_left_alone(prepared, click_ingested):
    assert prepared.by_source()["tool.py"].text.startswith("def run(tokenizer, password_prompt):")
    redacted = {k: v for k, v in click_ingested.report.counts.items() if k.startswith("redacted")}
    assert redacted == {}  # click's 10,000 lines hold no secret: nothing is replaced


def test_units_are_rederived_after_redaction(prepared):
    document = prepared.by_source()["db.py"]
    unit = next(u for u in document.metadata["units"] if u["name"] == "connect")
    assert document.text[unit["start"] : unit["end"]].startswith('def connect(user, password="<SECRET:password>"):')
    assert document.metadata["chars"] == len(document.text)


@pytest.mark.parametrize(
    "line",
    [
        'password = os.environ["DB_PASSWORD"]',
        'password = "{password}"',
        'PASSWORD_FIELD = "${DB_PASSWORD}"',
        "x = weights@self.proj.T",
        'url = "https://user@github.com/org/repo"',
        'tokenizer_class = "PreTrainedTokenizerFast"',
        "git clone git@github.com:org/repo.git",
    ],
)
def test_templated_or_indirect_values_are_not_secrets(line):
    text, counts = redact(line + "\n", "example.py", "python")
    assert counts == {}, (text, counts)
