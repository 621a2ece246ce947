"""Remove secrets from anything the lab writes down (logs, notes, tables, notebooks).

Realtime sessions handle three kinds of credential, and all of them turn up in places a log
would happily copy: OpenAI API keys (``sk-…``) and ephemeral client secrets (``ek_…``) in
``Authorization: Bearer`` headers and token-mint responses; Gemini API keys (``AIza…``) in the
``x-goog-api-key`` header or the ``?key=`` query parameter; Gemini ephemeral tokens
(``auth_tokens/…``) in ``?access_token=`` or ``Authorization: Token``. A log that leaks one of
them cannot be shared, so redaction happens *before* a line is written, never as an afterthought.

Three layers, each catching what the previous one cannot:

1. **Key names.** A dict value stored under a secret-looking key (``authorization``,
   ``api_key``, ``x-goog-api-key``, ``token``, ``client_secret``…) is replaced whatever it looks
   like. Containers under such keys keep their shape; only their scalar leaves are replaced.
2. **Patterns.** Strings are scanned for known credential shapes and URL query parameters
   (``key=``, ``access_token=``), so a secret inside free text or a URL is caught too.
3. **Known secrets.** :class:`Redactor` takes ``extra_secrets`` (the session's own key), and
   removes those exact strings wherever they occur, even when they match no pattern.

Redaction never changes the shape of the data: dicts keep their keys, lists their length, so a
redacted frame still reads like the wire frame it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

#: What a secret is replaced with.
REDACTED: Final = "[REDACTED]"

#: Dict keys whose values are always secret (compared lower-cased with ``-`` read as ``_``).
#: Deliberately exact: ``input_tokens`` or ``tokenCount`` are usage counters, not secrets.
_SECRET_KEY_RE: Final = re.compile(
    r"""^(?:
        authorization | proxy_authorization
      | api_?key | x_goog_api_key | x_api_key | key
      | token | access_token | refresh_token | id_token | auth_token | bearer
      | client_secret | secret | password | passwd | ephemeral_key
    )$""",
    re.VERBOSE,
)

#: Query parameters that carry credentials (Gemini ``?key=``/``?access_token=`` and friends).
_QUERY_RE: Final = re.compile(
    r"(?i)([?&;](?:key|api_key|apikey|access_token|token|client_secret)=)[^&#\s\"'<>]+"
)

#: Credential shapes found in free text, with what replaces them (the scheme word is kept so a
#: redacted header still reads as one).
_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # `Authorization: Bearer <x>` values, wherever they were pasted
    (re.compile(r"(?i)(?<![A-Za-z0-9])(bearer)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 " + REDACTED),
    # `Authorization: Token <x>` (Gemini ephemeral tokens in the Python SDK)
    (
        re.compile(r"(?<![A-Za-z0-9])(Token)\s+(?=\S*[0-9_/])[A-Za-z0-9._~+/=\-]{8,}"),
        r"\1 " + REDACTED,
    ),
    # browsers put the OpenAI key in a subprotocol: `openai-insecure-api-key.<KEY>`
    (re.compile(r"(openai-insecure-api-key\.)[^\s,\"']+"), r"\1" + REDACTED),
    # OpenAI API keys (sk-..., sk-proj-...) and ephemeral client secrets (ek_...)
    (re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9][A-Za-z0-9_\-]{3,}"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9])ek_[A-Za-z0-9][A-Za-z0-9_\-]{3,}"), REDACTED),
    # Gemini ephemeral tokens and API keys
    (re.compile(r"auth_tokens/[A-Za-z0-9._\-]+"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{8,}"), REDACTED),
)


def _secret_text(secret: object) -> str | None:
    """Strings as they are; credential wrappers (anything with ``reveal()``, such as
    :class:`realtimelab.auth.Secret` or an ephemeral token) by their revealed value."""
    if isinstance(secret, str):
        return secret.strip() or None
    reveal = getattr(secret, "reveal", None)
    if callable(reveal):
        value = reveal()
        return value if isinstance(value, str) and value else None
    return None


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY_RE.match(key.lower().replace("-", "_")))


class Redactor:
    """Deep redaction with a set of known secret strings.

    ``Redactor(extra_secrets=[api_key])`` is what a session's log should use (strings, or
    objects with ``reveal()`` like :class:`realtimelab.auth.Secret`): the patterns
    catch credentials of known shapes, the extra secrets catch the session's own key even if a
    provider invents a new shape. Empty and very short strings (< 4 characters) are ignored as
    extra secrets, since replacing every "a" in a log protects nothing and ruins the log.
    """

    def __init__(self, extra_secrets: Iterable[object] = ()) -> None:
        secrets = {s for s in map(_secret_text, extra_secrets) if s is not None and len(s) >= 4}
        # longest first, so a secret that contains another is removed whole
        self._secrets: tuple[str, ...] = tuple(sorted(secrets, key=len, reverse=True))

    @property
    def extra_secrets(self) -> tuple[str, ...]:
        return self._secrets

    def with_secrets(self, *secrets: object) -> Redactor:
        """A new redactor that also removes ``secrets``."""
        return Redactor([*self._secrets, *secrets])

    def text(self, s: str) -> str:
        """Redact one string: known secrets, then query parameters, then credential shapes."""
        for secret in self._secrets:
            if secret in s:
                s = s.replace(secret, REDACTED)
        s = _QUERY_RE.sub(lambda m: m.group(1) + REDACTED, s)
        for pattern, replacement in _PATTERNS:
            s = pattern.sub(replacement, s)
        return s

    def __call__(self, obj: Any) -> Any:
        """Return a redacted copy of ``obj`` (dicts, lists, tuples and strings; other values
        are returned unchanged). The input is never modified."""
        return self._walk(obj, secret=False)

    def _walk(self, obj: Any, *, secret: bool, names: bool = False) -> Any:
        """``names``: the keys of this mapping are parameter names (JSON Schema
        ``properties``), so a tool parameter called ``token`` does not hide its schema."""
        if isinstance(obj, str):
            return REDACTED if secret else self.text(obj)
        if isinstance(obj, Mapping):
            return {
                (self.text(k) if isinstance(k, str) else k): self._walk(
                    v,
                    secret=secret or (not names and _is_secret_key(k)),
                    names=not names and k == "properties",
                )
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self._walk(v, secret=secret) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self._walk(v, secret=secret) for v in obj)
        if secret and isinstance(obj, bytes | bytearray):
            return REDACTED
        return obj


class SplitSecretGuard:
    """Catches a credential split across consecutive strings: streamed deltas.

    A transcript or text reply arrives in pieces; a key the model reads out ("sk-proj-Ab",
    "c123...") is split between two of them, and each piece alone matches no pattern and no
    known secret. The guard follows the *text payloads* of successive log lines (values under
    `TEXT_KEYS`: `text`, `delta`, `transcript`), in order: a payload that ends like the start
    of a credential (a known secret's first characters, or a credential prefix such as `sk-`)
    has that tail redacted and is remembered, and the next payload's continuation of it is
    redacted too. What is removed from a payload is removed from every other string of the
    line as well (a summary quotes the text). Deterministic and cheap (a regex per string).
    """

    TEXT_KEYS: frozenset[str] = frozenset({"text", "delta", "transcript"})
    _START = re.compile(r"(?<![A-Za-z0-9])(?:sk-|ek_|AIza|auth_tokens/)[A-Za-z0-9_\-/]*$")
    _CONTINUE = re.compile(r"^[A-Za-z0-9_\-/]+")

    def __init__(self, extra_secrets: Iterable[object] = ()) -> None:
        self._secrets = tuple(
            s for s in map(_secret_text, extra_secrets) if s is not None and len(s) >= 8
        )
        self._open = False  # the previous payload ended like the start of a credential

    def __call__(self, line: Any) -> Any:
        """A copy of `line` with split credentials redacted."""
        removed: list[str] = []

        def payload(s: str, under_text: bool) -> str:
            return self._string(s, removed) if under_text else s

        out = self._map_strings(line, payload, under_text=False)
        if not removed:
            return out
        fragments = sorted({r for r in removed if len(r) >= 3}, key=len, reverse=True)

        def other(s: str, under_text: bool) -> str:
            if not under_text:
                for fragment in fragments:
                    s = s.replace(fragment, REDACTED)
            return s

        return self._map_strings(out, other, under_text=False)

    def _map_strings(self, obj: Any, fn: Callable[[str, bool], str], *, under_text: bool) -> Any:
        """A copy of `obj` with `fn(string, under_text)` applied to every string in it, in
        order; `under_text` says whether it sits under one of `TEXT_KEYS`."""
        if isinstance(obj, str):
            return fn(obj, under_text)
        if isinstance(obj, Mapping):
            return {
                k: self._map_strings(v, fn, under_text=k in self.TEXT_KEYS) for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self._map_strings(v, fn, under_text=under_text) for v in obj]
        return obj

    def _string(self, s: str, removed: list[str]) -> str:
        if not s:
            return s
        if self._open:
            head = self._CONTINUE.match(s)
            if head is not None:
                removed.append(head.group(0))
                rest = s[head.end() :]
                s = REDACTED + rest
                if not rest:
                    return s  # the credential may go on in the next payload
            self._open = False
        start = self._tail_start(s)
        if start is not None:
            self._open = True
            removed.append(s[start:])
            return s[:start] + REDACTED
        return s

    def _tail_start(self, s: str) -> int | None:
        """Where a tail of `s` that starts a credential begins, or None."""
        m = self._START.search(s)
        if m is not None:
            return m.start()
        longest = max((len(x) for x in self._secrets), default=0)
        for size in range(min(len(s), longest - 1), 3, -1):
            tail = s[-size:]
            if any(secret.startswith(tail) for secret in self._secrets):
                return len(s) - size
        return None


_DEFAULT = Redactor()


def redact(obj: Any, extra_secrets: Iterable[object] = ()) -> Any:
    """Deep-redact secrets in ``obj`` (see the module docstring for what counts as secret)."""
    return (Redactor(extra_secrets) if extra_secrets else _DEFAULT)(obj)


def redact_text(s: str, extra_secrets: Iterable[object] = ()) -> str:
    """Redact one string (a URL, a header line, an error message)."""
    return (Redactor(extra_secrets) if extra_secrets else _DEFAULT).text(s)


__all__ = ["REDACTED", "Redactor", "SplitSecretGuard", "redact", "redact_text"]
