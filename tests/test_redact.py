"""No secret survives redaction, and nothing that is not a secret is damaged."""

from __future__ import annotations

import copy
import json
from typing import Any

from realtimelab.redact import REDACTED, Redactor, redact, redact_text

OPENAI_KEY = "sk-test-SECRET123456"
PROJ_KEY = "sk-proj-AbCdEf0123456789xyz"
EPHEMERAL = "ek_68af2c9e1a2b3c4d5e6f"
GEMINI_KEY = "AIzaSyA-1234567890abcdefGHIJKLmnop"
GEMINI_TOKEN = "auth_tokens/abc"
SECRETS = (OPENAI_KEY, PROJ_KEY, EPHEMERAL, GEMINI_KEY, GEMINI_TOKEN)


def _dirty() -> dict[str, Any]:
    return {
        "headers": {
            "Authorization": f"Bearer {OPENAI_KEY}",
            "x-goog-api-key": GEMINI_KEY,
            "User-Agent": "realtimelab/0.1",
        },
        "url": (
            "wss://generativelanguage.googleapis.com/ws/x.BidiGenerateContentConstrained"
            f"?access_token={GEMINI_TOKEN}&alt=json"
        ),
        "url2": f"wss://host/ws/x?key={GEMINI_KEY}",
        "client_secret": {"value": EPHEMERAL, "expires_at": 1767233035},
        "subprotocols": ["realtime", f"openai-insecure-api-key.{PROJ_KEY}"],
        "log": [f"retrying with {OPENAI_KEY} ...", {"note": f"token was {EPHEMERAL}"}],
        "name": GEMINI_TOKEN,
        "usage": {"input_tokens": 12, "total_tokens": 30, "tokenCount": 5},
    }


def test_no_secret_survives_and_shape_is_kept() -> None:
    dirty = _dirty()
    before = copy.deepcopy(dirty)
    clean = redact(dirty)
    text = json.dumps(clean)
    for secret in SECRETS:
        assert secret not in text, secret
    assert "SECRET123456" not in text
    assert "auth_tokens/" not in text
    # shape: same keys at every level, same list lengths
    assert clean.keys() == dirty.keys()
    assert clean["headers"].keys() == dirty["headers"].keys()
    assert len(clean["subprotocols"]) == 2 and len(clean["log"]) == 2
    assert clean["client_secret"] == {"value": REDACTED, "expires_at": 1767233035}
    # non-secrets untouched
    assert clean["headers"]["User-Agent"] == "realtimelab/0.1"
    assert clean["usage"] == {"input_tokens": 12, "total_tokens": 30, "tokenCount": 5}
    assert clean["url"].endswith(f"?access_token={REDACTED}&alt=json")
    assert clean["headers"]["Authorization"] == REDACTED  # secret header: value replaced whole
    assert redact_text(f"Authorization: Bearer {OPENAI_KEY}") == f"Authorization: Bearer {REDACTED}"
    assert clean["subprotocols"][1] == f"openai-insecure-api-key.{REDACTED}"
    assert dirty == before, "redact must not modify its input"


def test_secret_key_names_are_redacted_whatever_the_value() -> None:
    clean = redact(
        {
            "api_key": "plain-looking-value",
            "API-KEY": "x" * 10,
            "token": "opaque",
            "access_token": "opaque2",
            "password": "hunter2",
            "nested": {"authorization": ["Token a", "Token b"]},
        }
    )
    assert clean == {
        "api_key": REDACTED,
        "API-KEY": REDACTED,
        "token": REDACTED,
        "access_token": REDACTED,
        "password": REDACTED,
        "nested": {"authorization": [REDACTED, REDACTED]},
    }


def test_extra_secrets_are_removed_anywhere() -> None:
    r = Redactor(extra_secrets=["my-custom-key-42", None, "ab"])  # "ab" too short to matter
    out = r({"text": "the key my-custom-key-42 leaked", "about": "abba"})
    assert out == {"text": f"the key {REDACTED} leaked", "about": "abba"}
    assert "my-custom-key-42" not in json.dumps(
        r.with_secrets("other-secret-9")(["other-secret-9"])
    )


def test_no_false_positives_on_ordinary_text() -> None:
    text = "task-list disk-cache speak_english token limits tokens=5 skill-set Bearer"
    assert redact_text(text) == text
    assert redact({"input_tokens": 7, "key_count": 3}) == {"input_tokens": 7, "key_count": 3}


def test_patterns_in_free_text() -> None:
    s = redact_text(
        f"Authorization: Token {GEMINI_TOKEN} x-goog-api-key {GEMINI_KEY} and {OPENAI_KEY}"
    )
    for secret in SECRETS:
        assert secret not in s
    assert s.startswith("Authorization: Token ")


def test_tool_schemas_with_secret_sounding_parameter_names_survive() -> None:
    tool = {
        "type": "function",
        "name": "login",
        "parameters": {
            "type": "object",
            "properties": {"token": {"type": "string", "description": "the user's token"}},
            "required": ["token"],
        },
    }
    assert redact(tool) == tool
    # ...but a value under a secret key inside the arguments is still redacted
    assert redact({"arguments": {"token": "abc123"}}) == {"arguments": {"token": REDACTED}}
