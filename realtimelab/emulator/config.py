"""`EmulatorConfig`: everything that shapes one emulator instance, in one frozen value.

Why one value: a test, a notebook and the CLI all build an emulator the same way, and every
dialect reads the same fields through its `ConnectionContext` (see `contract.py`). The timing
fields are the emulator's *generation model*, explained in `docs/emulator-timing.md`:

* `speed` compresses **all** time (model latency, generation, the playback the server assumes,
  session limits stay in wall seconds): tests use 8–50 to stay quick, 1.0 is real time.
* `*_generation_rate` is how much faster than real time the model produces audio. Both real
  services generate faster than real time (the openai SDK's `conversation.item.truncate`
  docstring: "The server will produce audio faster than realtime"; google-genai documents that
  `generationComplete` arrives before `turnComplete`, which waits for the assumed playback).
  Neither publishes a rate, so the defaults are a choice on the stricter side: a faster rate
  leaves more audio in the client's buffer, which exposes more playback and truncation bugs.
* `*_first_audio_ms` is the model's latency before its first audio, a floor under the
  emulator's own compute time (hearing, thinking and synthesis count towards it).

The transport limits (`max_outbound_*`, `stall_timeout_s`, `close_timeout_s`) protect the
emulator from clients that stop reading; `docs/emulator-server.md` explains each default.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from realtimelab.emulator.faults import FaultPlan

__all__ = ["LOOPBACK_HOSTS", "EmulatorConfig"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes an emulator instance. Tests shrink `speed` and the limits.

    Timing (see `docs/emulator-timing.md` for sources and how sure each default is):

    * `speed`: compresses all emulated time; 2.0 runs latencies, generation and the assumed
      playback twice as fast as real time.
    * `openai_generation_rate` (default 4.0): OpenAI audio is generated at 4× real time, so
      `response.done` arrives while a listener is still hearing the reply. No published rate;
      3–5× matches the "faster than realtime" wording and public reports of audio still
      playing after `response.done`; 4× is a stricter pick.
    * `gemini_generation_rate` (default 3.0): Gemini audio at 3× real time, so
      `generationComplete` precedes `turnComplete` (sent when the server assumes playback has
      ended). No published rate; 2–4× is plausible; 3× leaves a clear gap between the two.
    * `openai_first_audio_ms` / `gemini_first_audio_ms` (default 250): model time before the
      first audio of a reply, a floor under the emulator's own compute time.
    * A rate of 1.0 and a first-audio time of 0 reproduce the old real-time release.

    `today` is the date the emulator judges model shutdowns by (None: the real date), so a test
    can pin it and a deprecated model is refused once its announced shutdown day has come.
    """

    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 1.0  # compresses all emulated time: 2.0 = latencies and media twice as fast
    openai_max_session_s: float = 3600.0
    gemini_connection_s: float = 600.0
    gemini_session_audio_s: float = 900.0  # audio-only limit without contextWindowCompression
    seed: int = 0
    api_keys: frozenset[str] | None = None  # None: any non-empty key is accepted
    faults: FaultPlan | None = None
    latency_ms: float = 0.0  # extra delay on every server frame (order preserved)
    jitter_ms: float = 0.0
    allow_remote: bool = False
    tls: bool = False
    cert_dir: str | None = None  # where --tls keeps its self-signed cert (default: temp dir)
    openai_generation_rate: float = 4.0
    gemini_generation_rate: float = 3.0
    openai_first_audio_ms: float = 250.0
    gemini_first_audio_ms: float = 250.0
    today: _dt.date | None = None
    max_outbound_bytes: int = 4 * 2**20
    max_outbound_frames: int = 4096
    stall_timeout_s: float = 60.0
    close_timeout_s: float = 10.0
    reuse_port: bool = False

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise ValueError(
                f"refusing to listen on {self.host!r}: the emulator accepts any key, so it binds "
                "to loopback only unless allow_remote=True"
            )
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
        for name in ("openai_generation_rate", "gemini_generation_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 (1.0 = real time)")
        for name in ("openai_first_audio_ms", "gemini_first_audio_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("max_outbound_bytes", "max_outbound_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("stall_timeout_s", "close_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")

    def fault_plan(self) -> FaultPlan:
        base = FaultPlan(latency_ms=self.latency_ms, jitter_ms=self.jitter_ms)
        return base.merged(self.faults)

    def key_allowed(self, key: str | None) -> bool:
        if not key:
            return False
        return self.api_keys is None or key in self.api_keys

    def model_day(self) -> _dt.date:
        """The day model shutdowns are judged by."""
        return self.today or _dt.date.today()
