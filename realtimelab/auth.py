"""Credentials: a redacting `Secret`, keys from the environment, and ephemeral tokens.

Why a wrapper type: an API key that is a plain `str` ends up in reprs, log lines, notebook
outputs and tracebacks. `Secret` prints as `Secret('…abcd')` (at most the last 4 characters)
and must be unwrapped explicitly with `.reveal()` at the one place that puts it on the wire.

Ephemeral tokens let a browser or a less-trusted process open a realtime session without the
real key. Each provider mints its own kind (OpenAI `ek_…` client secrets, Gemini
`auth_tokens/…`) in its folder's `auth.py`; `mint_token(provider, api_key, ...)` reaches any of
them through the provider registry. The minting helpers use only the standard library
(`urllib` in a worker thread, `post_json` below), so no HTTP dependency is added, and work
against the emulator, which serves the same endpoints. Which environment variables hold a key
is also the provider's to say (`ProviderSpec.env_keys`).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from realtimelab.errors import RealtimeLabError
from realtimelab.events import Provider
from realtimelab.providers.registry import get
from realtimelab.redact import redact_text

__all__ = [
    "AuthError",
    "EphemeralToken",
    "Secret",
    "api_key_from_env",
    "http_base",
    "mint_token",
    "post_json",
]

_PREFIXES = ("sk-proj-", "sk-", "ek_", "auth_tokens/", "AIza")


class Secret:
    """A credential that does not print itself. Compare, hash and pickle are deliberately not
    offered: the only way out is `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        raw = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError("a secret must be a non-empty string")
        self._value = raw.strip()

    def reveal(self) -> str:
        """The raw value, for the single place that sends it."""
        return self._value

    def __repr__(self) -> str:
        prefix = next((p for p in _PREFIXES if self._value.startswith(p)), "")
        tail = self._value[-4:] if len(self._value) - len(prefix) >= 16 else ""
        return f"Secret('{prefix}…{tail}')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not picklable")

    def scrub(self, text: str) -> str:
        """`text` with every occurrence of this secret replaced by its redacted form."""
        return text.replace(self._value, repr(self)) if self._value in text else text


class SecretHeaders(dict[str, str]):
    """HTTP headers that hold a credential: a plain `dict` to the libraries that send them,
    but its `repr` (what a traceback with locals, a debugger or a log shows) redacts every
    value that looks like one."""

    def __repr__(self) -> str:
        return repr({k: redact_text(v) if _looks_secret(k) else v for k, v in self.items()})

    __str__ = __repr__


class QuietText(str):
    """A string that may carry a credential (a URL with `?key=`): itself to everything that
    uses it, redacted in its `repr` (what tracebacks with locals and debuggers print)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_text(str.__str__(self)))


def _looks_secret(header: str) -> bool:
    return header.lower() in {
        "authorization",
        "x-goog-api-key",
        "api-key",
        "x-api-key",
        "sec-websocket-protocol",
    }


def api_key_from_env(provider: Provider, env: Mapping[str, str] | None = None) -> Secret | None:
    """The provider's key from the environment, or None: the first of its
    `ProviderSpec.env_keys` that is set (e.g. `GEMINI_API_KEY`, then `GOOGLE_API_KEY`).
    An unknown provider raises `UnknownProviderError` (a ValueError)."""
    env = os.environ if env is None else env
    for name in get(provider).env_keys:
        if env.get(name, "").strip():
            return Secret(env[name])
    return None


class AuthError(RealtimeLabError, RuntimeError):
    """Minting a token failed. The message never contains the key."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class EphemeralToken:
    """A short-lived credential for one provider. Pass it as `connect(..., token=tok)`."""

    provider: Provider
    value: Secret
    expires_at: float | None = None
    """Unix seconds after which no *new* session may be opened with it."""
    session: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """OpenAI: the session configuration the server locked into the secret."""


def http_base(base_url: str) -> str:
    """Accept ws(s):// (an emulator URL) or http(s)://, with or without a trailing /v1."""
    url = base_url.rstrip("/")
    for ws, http in (("wss://", "https://"), ("ws://", "http://")):
        if url.startswith(ws):
            url = http + url[len(ws) :]
    for suffix in ("/v1", "/v1beta", "/v1alpha"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def post_json(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str], secret: Secret, timeout: float
) -> dict[str, Any]:
    """POST `body` as JSON and return the JSON object answered; `AuthError` otherwise, with
    `secret` scrubbed from every message (an error body can echo the request).

    Errors are raised *outside* the `except` blocks: an exception raised while handling
    another keeps it as `__context__` (even with `from None`), and that one's traceback holds
    urllib's frames, whose locals include the request headers."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    _add_headers(req, headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    error: AuthError | None = None
    try:
        with opener.open(req, timeout=timeout) as resp:
            payload = json.loads(resp.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        detail = secret.scrub(e.read().decode("utf-8", "replace")[:500])
        error = AuthError(f"POST {url} failed: HTTP {e.code}: {redact_text(detail)}", e.code)
    except (urllib.error.URLError, OSError) as e:
        error = AuthError(f"POST {url} failed: {redact_text(secret.scrub(str(e)))}")
    except json.JSONDecodeError:
        error = AuthError(f"POST {url}: the response was not JSON")
    if error is not None:
        raise error
    if not isinstance(payload, dict):
        raise AuthError(f"POST {url}: expected a JSON object, got {type(payload).__name__}")
    return payload


def _add_headers(req: urllib.request.Request, headers: Mapping[str, str]) -> None:
    """In a frame of its own: its locals (a header value) are gone once it returns."""
    req.add_header("Content-Type", "application/json")
    for k, v in headers.items():
        req.add_header(k, v)


async def mint_token(provider: Provider, api_key: str | Secret, **options: Any) -> EphemeralToken:
    """A short-lived token for `provider`, minted with `api_key` by the provider's own helper
    (`ProviderSpec.mint_token`); `options` are that helper's keyword arguments (`base_url`,
    expiry, locked-in session settings: see `realtimelab/providers/<name>/auth.py`)."""
    key = Secret(api_key)
    del api_key  # only the Secret stays in this frame's locals (tracebacks can show them)
    spec = get(provider)
    if spec.mint_token is None or not spec.capabilities.ephemeral_tokens:
        raise AuthError(f"{spec.title} has no ephemeral tokens")
    return await spec.mint_token(key, **options)
