"""The roots of everything realtimelab raises or warns about on purpose.

Why a common root: a notebook cell or an application that wants "anything this kit refused"
can write `except RealtimeLabError` instead of listing `ConfigError`, `SchemaError`,
`ConnectError`, ... one by one, and still let genuine bugs (a `TypeError` from a typo) through.

Every error class the client package defines derives from `RealtimeLabError`. Where a class
already had a built-in base that callers may catch (`ValueError` for bad settings,
`ConnectionError` for sessions, `RuntimeError` for failed token mints), it keeps that base too,
through multiple inheritance, so `except ValueError` code written before this root existed
keeps working:

    RealtimeLabError
    ├── ConfigError(ValueError)            realtimelab.config     a SessionConfig/Vad setting
    ├── VoiceError(ValueError)             realtimelab.voices     a voice name
    ├── SchemaError(ValueError)            realtimelab.schema     a tool schema
    ├── UnknownProviderError(ValueError)   realtimelab.providers  a provider name
    ├── ProviderAlreadyRegistered(ValueError)
    ├── AuthError(RuntimeError)            realtimelab.auth       minting a token
    ├── DeviceUnavailable(RuntimeError)    realtimelab.devices    no sound card
    ├── ToolError                          realtimelab.tools      a tool the model called
    ├── AudioInputError(ValueError)        realtimelab.contract   audio or text a session refuses
    ├── SessionClosedError(ConnectionError) realtimelab.errors    a verb after close
    ├── FrameError(ValueError)             realtimelab.errors     a frame too big / not JSON
    ├── AudioInputError(ValueError)        realtimelab.contract   audio that is not PCM16
    ├── SampleRateError(ValueError)        realtimelab.audio      a rate nothing converts
    ├── WavFormatError(ValueError)         realtimelab.audio      a WAV file that is not PCM16
    ├── RetiredModelError(ValueError)      realtimelab.catalogue  a model no longer served
    ├── StoreError(RuntimeError)           realtimelab.store      a damaged store file
    └── ConnectError(ConnectionError)      realtimelab.session    opening a session
        └── Unreachable, HandshakeRefused, SessionRefused, SetupTimeout

Not yet on the tree: `realtimelab.audio`'s `WavFormatError` / `SampleRateError` and
`realtimelab.catalogue`'s `RetiredModelError` (both `ValueError`s), whose modules are being
reworked separately; the emulator's errors are internal to the emulator.

Warnings have their own root, `RealtimeLabWarning` (a `UserWarning`): a warning is advice,
not a failure, so it is deliberately *not* a `RealtimeLabError`.
"""

from __future__ import annotations

__all__ = [
    "FrameError",
    "RealtimeLabError",
    "RealtimeLabWarning",
    "SessionClosedError",
    "UnsupportedSetting",
]


class RealtimeLabError(Exception):
    """Base class of every error realtimelab raises deliberately (see the module docstring)."""


class SessionClosedError(RealtimeLabError, ConnectionError):
    """A verb was used after the session closed (or its connection went away under it)."""


class FrameError(RealtimeLabError, ValueError):
    """A frame the session was asked to send cannot go on the wire (too big for the
    provider's frame limit, or not valid JSON: NaN/Infinity); nothing was sent."""


class RealtimeLabWarning(UserWarning):
    """Base class of every warning realtimelab issues."""


class UnsupportedSetting(RealtimeLabWarning):
    """A `SessionConfig` setting the chosen provider cannot honour; the session goes on without it.

    Issued by a codec when it builds the session's setup, so nothing is dropped without a
    trace. The message names the field, the provider and what happens instead; the same facts
    are attributes, for code that wants to react (or to turn the warning into an error with
    `warnings.simplefilter("error", UnsupportedSetting)`).
    """

    def __init__(self, field: str, provider: str, instead: str, *, title: str = "") -> None:
        super().__init__(f"{field} is not supported by {title or provider}: {instead}")
        self.field = field
        """The setting, as written: `Vad.threshold`, `SessionConfig.temperature`."""
        self.provider = provider
        """The registered provider name (`realtimelab.providers.names()`)."""
        self.instead = instead
        """What happens instead, in a sentence."""
