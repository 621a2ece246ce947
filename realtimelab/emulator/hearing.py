"""The emulator's ears: offline recognition with pocketsphinx and a per-session JSGF grammar.

Why a grammar: pocketsphinx is the only English recogniser that ships its model in a pip wheel,
and with its generic language model it mis-hears synthetic speech badly (~90% word error rate on
espeak audio). The emulator only needs to understand what its brain can answer anyway, so each
session gets a grammar of exactly those phrases (`Brain.phrases`) with slots filled from the
session's vocabulary (cities, numbers, enum values of the declared tools). Measured with the demo
tools' grammar on 800 phrases spoken by the 40 provider voices and cut as a VAD cuts them (300 ms
of silence either side), clean and with noise at -50 dBFS: 791 recognised exactly. Very short
utterances ("bye") and unusual voices are the weak spot.

Why it listens while the user speaks: the reply cannot start before the words are known, and
decoding a whole utterance after it ended took 70-350 ms (plus ~40 ms to build a decoder). So
`Hearing.stream` returns an `Utterance` that takes audio as it arrives (`feed`) and is decoded
on the way; `finish` at the end of speech only has the last few frames left (a few ms). The
one-shot `transcribe` is the same path with all the audio at once, and gives the same
transcript: `realtimelab.emulator.hearing_decoder` explains the four rules that make the words
depend on the audio alone (fixed blocks, a fresh front end per utterance, a cepstral mean from
the start of speech, Viterbi words), so decoders are built once per grammar and reused.

Why worker processes: pocketsphinx holds the GIL while it decodes (measured: a 155 ms decode
froze every other thread for 115 ms), so decoding on a thread stalls the paced audio of every
other session in the emulator. Decoding runs in helper processes instead
(`realtimelab.emulator.decoding`; `REALTIMELAB_HEARING_WORKERS`, default 2; 0 decodes
in-process). An utterance streams to one worker; the audio it was fed is also kept here, so if
that worker dies the utterance is decoded in-process instead, to the same words.

Audio is resampled to 16 kHz, led by 300 ms of silence (recognition of speech that starts
abruptly, as a VAD cuts it, is much worse without) and dithered with seeded noise at ~3 LSB
(pure digital silence upsets pocketsphinx's feature extraction). Both are streamed: soxr's
stream resampler and the seeded generator give the same samples however the audio is chunked.
No silence is appended any more: with Viterbi words, 0 and 700 ms of trailing silence gave the
same words on all 800 test phrases, and each 100 ms of it would cost ~3 ms after speech ends.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import itertools
import os
import re
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from realtimelab.emulator.decoding import (
    Channel,
    DecoderProcesses,
    WorkerCannotStart,
    WorkerUnavailable,
)
from realtimelab.emulator.hearing_decoder import RATE, DecoderHost, Result
from realtimelab.emulator.hearing_decoder import model_dir as _model_dir

if TYPE_CHECKING:
    from realtimelab.emulator.brain import Brain
    from realtimelab.emulator.model import ToolSpec

__all__ = [
    "RATE",
    "WORKERS_ENV",
    "Hearing",
    "HearingWarning",
    "Transcript",
    "Utterance",
    "decode_utterance",
    "normalise_words",
    "preload",
    "warm_workers",
]

_SLOT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_LEAD_MS = 300
_DITHER_LSB = 3.0
_DITHER_SEED = 0


@dataclass(frozen=True)
class Transcript:
    """What the emulator heard.

    `recognised` is True only when the words form one complete phrase of the grammar; a decoder
    that gave up half way returns its partial path, which we report as `text` with
    `recognised=False` so the brain can answer honestly ("Sorry, I didn't catch that").
    """

    text: str
    recognised: bool
    confidence: float | None = None
    """None: pocketsphinx's posterior needs a lattice pass (15-200 ms after the end of speech,
    more than the emulator's whole latency budget), so it is not computed."""


class HearingWarning(UserWarning):
    """A phrase or slot value was left out of the grammar (usually: a word pocketsphinx lacks)."""


@lru_cache(maxsize=1)
def _pronunciations() -> dict[str, tuple[str, ...]]:
    """The CMU dictionary shipped with pocketsphinx: word -> every pronunciation (~0.2 s, once)."""
    path = Path(_model_dir()) / "en-us" / "cmudict-en-us.dict"
    prons: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            word, _, phones = line.strip().partition(" ")
            if not phones:
                continue
            base = word.split("(", 1)[0]
            prons.setdefault(base, []).append(phones.strip())
    return {w: tuple(p) for w, p in prons.items()}


def preload() -> None:
    """Parse the CMU dictionary now (~0.2 s, once per process), e.g. in a thread at server start,
    so the first session's `Hearing` does not pay for it on the event loop."""
    _pronunciations()


def normalise_words(text: str) -> list[str]:
    """Lowercase words as the grammar spells them: letters and apostrophes only."""
    return re.findall(r"[a-z']+", text.lower().replace("’", "'"))


class Hearing:
    """Recognises the phrases one session can say.

    `phrases` are templates of lowercase words with optional `{slot}` references; every slot
    must appear in `vocabulary`, whose values fill it (one or more words each). Words missing
    from pocketsphinx's dictionary are left out with a `HearingWarning`: a slot value with such a
    word is dropped, and so is a template with such a literal word.

    `stream` hears an utterance while it is spoken; `transcribe` hears a whole one at once.
    Both give the same transcript for the same audio, whatever was heard before.
    Thread-safe: `transcribe` may run in `asyncio.to_thread`, concurrently.

    `min_confidence` is kept for compatibility: no confidence is computed any more (see
    `Transcript.confidence`), so it has no effect.
    """

    def __init__(
        self,
        phrases: Sequence[str],
        *,
        vocabulary: Mapping[str, Sequence[str]] | None = None,
        min_confidence: float = 0.0,
    ) -> None:
        started = time.perf_counter()
        prons = _pronunciations()
        vocabulary = vocabulary or {}
        self.min_confidence = min_confidence
        dropped: set[str] = set()

        slots: dict[str, list[list[str]]] = {}
        for name, values in vocabulary.items():
            kept: list[list[str]] = []
            for value in values:
                words = normalise_words(value)
                missing = [w for w in words if w not in prons]
                if missing or not words:
                    dropped.update(missing)
                    continue
                if words not in kept:
                    kept.append(words)
            slots[name] = kept

        templates: list[list[str]] = []  # tokens: a word or "{slot}"
        for phrase in phrases:
            tokens = _tokenise(phrase)
            if not tokens:
                continue
            missing_slots = [t[1:-1] for t in tokens if t.startswith("{") and t[1:-1] not in slots]
            if missing_slots:
                raise ValueError(
                    f"phrase {phrase!r} uses slot(s) {missing_slots} that the vocabulary lacks; "
                    f"vocabulary has {sorted(slots)}"
                )
            missing = [t for t in tokens if not t.startswith("{") and t not in prons]
            empty = [t for t in tokens if t.startswith("{") and not slots[t[1:-1]]]
            if missing or empty:
                dropped.update(missing)
                continue
            if tokens not in templates:
                templates.append(tokens)
        if dropped:
            warnings.warn(
                "left out of the hearing grammar (not in pocketsphinx's dictionary): "
                + ", ".join(sorted(dropped)),
                HearingWarning,
                stacklevel=2,
            )
        if not templates:
            raise ValueError(
                "no phrase left to recognise: every phrase was empty or used unknown words"
            )

        used_slots = sorted({t[1:-1] for tpl in templates for t in tpl if t.startswith("{")})
        self.phrases: tuple[str, ...] = tuple(" ".join(t) for t in templates)
        self.vocabulary: dict[str, tuple[str, ...]] = {
            s: tuple(" ".join(v) for v in slots[s]) for s in used_slots
        }
        self.grammar = _jsgf(templates, {s: slots[s] for s in used_slots})
        words = sorted(
            {t for tpl in templates for t in tpl if not t.startswith("{")}
            | {w for s in used_slots for v in slots[s] for w in v}
        )
        self.words: tuple[str, ...] = tuple(words)
        self._matcher = re.compile(
            "|".join(f"(?:{_template_regex(t, self.vocabulary)})" for t in templates)
        )
        dictionary = "".join(
            f"{word}{'' if i == 0 else f'({i + 1})'} {phones}\n"
            for word in words
            for i, phones in enumerate(prons[word])
        )
        fd, dict_path = tempfile.mkstemp(prefix="realtimelab-hearing-", suffix=".dict")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dictionary)
        self._dict_path = dict_path
        # decoders are shared by grammar: two sessions with the same tools reuse the same ones
        self._key = hashlib.sha256(f"{dictionary}\0{self.grammar}".encode()).hexdigest()
        self._finalizer = weakref.finalize(self, _remove, dict_path)
        self.build_ms = (time.perf_counter() - started) * 1000
        """Time spent building this grammar (dictionary lookups, files), in milliseconds."""
        self.last_decode_ms: float | None = None
        """Wall time from asking for the latest transcript (`transcribe`, `Utterance.finish`)
        to having it: for a stream, what is left to decode once speech has ended."""

    @classmethod
    def for_session(cls, tools: Sequence[ToolSpec], brain: Brain) -> Hearing:
        """The hearing for a session: what `brain` understands, with the session's tools."""
        return cls(brain.phrases(tools), vocabulary=brain.vocabulary(tools))

    def close(self) -> None:
        """Delete the grammar's dictionary file now rather than at garbage collection."""
        self._finalizer()

    def matches(self, text: str) -> bool:
        """Whether `text` is one complete phrase of this grammar (after normalising)."""
        return self._matcher.fullmatch(" ".join(normalise_words(text))) is not None

    def stream(self, rate: int) -> Utterance:
        """Start hearing one utterance of PCM16 mono audio at `rate` Hz, fed as it arrives."""
        if not 8000 <= rate <= 96000:
            raise ValueError(f"rate must be within 8000..96000 Hz, got {rate}")
        self._check_open()
        return Utterance(self, rate)

    def transcribe(self, pcm: bytes, rate: int) -> Transcript:
        """Recognise one whole utterance of PCM16 mono audio at `rate` Hz.

        Deterministic: the same audio always gives the same transcript, and the same one as
        `stream` fed with it in any pieces.
        """
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        with self.stream(rate) as utterance:
            utterance.feed(pcm)
            return utterance.finish()

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise RuntimeError("this Hearing was closed")

    def _transcript(self, result: Result | None) -> Transcript:
        if result is None or not result[0].strip():
            return Transcript("", False, None)
        text = " ".join(result[0].split())
        return Transcript(text, self.matches(text), result[1])


class Utterance:
    """One utterance heard while it is spoken: `feed` audio as it arrives, `finish` at its end.

    Audio streams to a decoding worker that decodes it on the way, so `finish` only waits for
    the last few frames. The transcript is exactly `Hearing.transcribe` of everything fed.
    Give `finish` the utterance's authoritative audio (e.g. the turn a VAD cut) and it feeds
    whatever part of it was not fed yet; if what was fed is not the start of that audio, it
    hears that audio afresh instead, so the answer is always `transcribe(pcm)`.

    One owner at a time (not thread-safe). `cancel` (or leaving a `with` block without
    finishing) frees the worker's decoder; an utterance dropped unfinished is cancelled when it
    is garbage collected.
    """

    _ids = itertools.count(1)

    def __init__(self, hearing: Hearing, rate: int) -> None:
        self.hearing = hearing
        self.rate = rate
        self._raw = bytearray()  # everything fed, for the prefix check and for fallbacks
        self._carry = b""  # an odd trailing byte waiting for its partner
        self._sound = False  # any non-zero sample yet (digital silence is not decoded)
        self._preparer = _Preparer(rate)
        self._uid = next(Utterance._ids)
        self._state = "open"
        self._channel: Channel | None = None
        pool = _processes()
        if pool is not None:
            try:
                self._channel = pool.channel()
                self._channel.send("open", self._uid, hearing._key, hearing._dict_path,
                                   hearing.grammar)  # fmt: skip
            except WorkerUnavailable as exc:
                self._lose_worker(exc)
        self._finalizer = weakref.finalize(self, _abandon, self._channel, self._uid)

    @property
    def fed_bytes(self) -> int:
        """How many bytes of audio have been fed so far."""
        return len(self._raw) + len(self._carry)

    def feed(self, pcm: bytes) -> None:
        """Add the next piece of audio (any length; an odd byte waits for the next piece).

        Quick and non-blocking (~0.1 ms for 20 ms of audio): safe to call on an event loop.
        """
        if self._state != "open":
            raise RuntimeError(f"this utterance is {self._state}")
        data = self._carry + bytes(pcm)
        if len(data) % 2:
            data, self._carry = data[:-1], data[-1:]
        else:
            self._carry = b""
        if not data:
            return
        self._raw += data
        samples = np.frombuffer(data, dtype="<i2")
        if not self._sound and samples.any():
            self._sound = True
        if self._channel is not None:
            prepared = self._preparer.feed(samples)
            if prepared:
                try:
                    self._channel.send("append", self._uid, prepared)
                except WorkerUnavailable as exc:
                    self._lose_worker(exc)

    def finish(self, pcm: bytes | None = None) -> Transcript:
        """The transcript of the utterance, blocking until it is decoded (use `finish_async` on
        an event loop). `pcm`: the utterance's whole audio, if the caller has it (see above)."""
        started = time.perf_counter()
        pending = self._conclude(pcm)
        if isinstance(pending, Transcript):
            return self._done(pending, started)
        if isinstance(pending, _Afresh):
            return self._done(self.hearing.transcribe(pending.pcm, self.rate), started)
        if pending is not None:
            try:
                return self._done(self.hearing._transcript(pending.result()), started)
            except WorkerUnavailable as exc:
                self._lose_worker(exc)
            finally:
                self._close_channel()
        return self._done(self._decode_here(), started)

    async def finish_async(self, pcm: bytes | None = None) -> Transcript:
        """`finish` for an event loop: awaits the worker's answer without occupying a thread."""
        started = time.perf_counter()
        pending = self._conclude(pcm)
        if isinstance(pending, Transcript):
            return self._done(pending, started)
        if isinstance(pending, _Afresh):  # as `transcribe` does, without blocking
            afresh = self.hearing.stream(self.rate)
            afresh.feed(pending.pcm)
            return self._done(await afresh.finish_async(), started)
        if pending is not None:
            try:
                result = await asyncio.wrap_future(pending)
                return self._done(self.hearing._transcript(result), started)
            except WorkerUnavailable as exc:
                self._lose_worker(exc)
            finally:
                self._close_channel()
        return self._done(await asyncio.to_thread(self._decode_here), started)

    def cancel(self) -> None:
        """Stop hearing this utterance (e.g. the audio buffer was cleared)."""
        if self._state == "open":
            self._state = "cancelled"
        self._finalizer()
        self._channel = None

    def __enter__(self) -> Utterance:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state == "open":
            self.cancel()

    # -- internals --------------------------------------------------------------------------
    def _conclude(self, pcm: bytes | None) -> Transcript | _Afresh | Future[Result] | None:
        """End the utterance: a transcript already known, audio to hear afresh, the worker's
        pending answer, or None (decode in-process)."""
        if self._state != "open":
            raise RuntimeError(f"this utterance is {self._state}")
        self.hearing._check_open()
        if pcm is not None:
            fed = bytes(self._raw) + self._carry
            if len(pcm) >= len(fed) and pcm[: len(fed)] == fed:
                self.feed(pcm[len(fed) :])
            else:  # what was fed is not where this audio starts: hear it afresh
                self.cancel()
                self._state = "finishing"
                return _Afresh(bytes(pcm))
        self._state = "finishing"
        if self._carry:
            self.cancel()
            odd = self.fed_bytes
            raise ValueError(f"PCM16 audio must have an even number of bytes, got {odd}")
        if not self._sound:
            self.cancel()
            return Transcript("", False, None)
        if self._channel is None:
            return None
        try:
            tail = self._preparer.finish()
            if tail:
                self._channel.send("append", self._uid, tail)
            future: Future[Result] = self._channel.submit("finish", self._uid)
        except WorkerUnavailable as exc:
            self._lose_worker(exc)
            return None
        self._finalizer.detach()  # the worker forgets the utterance when it finishes it
        return future

    def _decode_here(self) -> Transcript:
        h = self.hearing
        audio = _prepare(np.frombuffer(bytes(self._raw), dtype="<i2"), self.rate)
        return h._transcript(_decode_locally(h._key, h._dict_path, h.grammar, audio))

    def _done(self, transcript: Transcript, started: float) -> Transcript:
        self._state = "finished"
        self.hearing.last_decode_ms = (time.perf_counter() - started) * 1000
        return transcript

    def _lose_worker(self, exc: WorkerUnavailable) -> None:
        """The worker died (or could not start): this utterance will be decoded in-process."""
        _worker_failed(exc)
        self._close_channel()

    def _close_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()


@dataclass(frozen=True)
class _Afresh:
    """`finish` was given audio that does not start with what was fed: hear it from scratch."""

    pcm: bytes


def _abandon(channel: Channel | None, uid: int) -> None:
    """Tell the worker to drop an utterance nobody will finish (cancel or garbage collection)."""
    if channel is None:
        return
    with contextlib.suppress(WorkerUnavailable, RuntimeError):
        channel.send("cancel", uid)
    channel.close()


class _Preparer:
    """Turns audio at any rate into what the decoder hears, piece by piece.

    The output is the same bytes however the input is chunked: soxr's stream resampler gives
    the same samples as its one-shot `resample` (checked by a test), and the dither comes from
    one seeded generator read in order.
    """

    def __init__(self, rate: int) -> None:
        self._resampler: Any = None
        if rate != RATE:
            import soxr

            self._resampler = soxr.ResampleStream(rate, RATE, 1, dtype="float64", quality="HQ")
        self._rng = np.random.default_rng(_DITHER_SEED)
        self._started = False

    def feed(self, samples: np.ndarray) -> bytes:
        x = samples.astype(np.float64)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x, last=False)
        return self._dither(x)

    def finish(self) -> bytes:
        x = np.zeros(0)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x, last=True)
        return self._dither(x)

    def _dither(self, x: np.ndarray) -> bytes:
        if not self._started:
            self._started = True
            x = np.concatenate([np.zeros(RATE * _LEAD_MS // 1000), x])
        if not x.size:
            return b""
        x = x + self._rng.normal(0.0, _DITHER_LSB, x.size)
        return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def _prepare(samples: np.ndarray, rate: int) -> bytes:
    """16 kHz, led by silence, dithered with seeded noise: what pocketsphinx decodes best."""
    preparer = _Preparer(rate)
    return preparer.feed(samples) + preparer.finish()


# ------------------------------------------------------------------------------------------
# Where decoding runs: helper processes, or this process when they are off or cannot run

WORKERS_ENV = "REALTIMELAB_HEARING_WORKERS"
_MAX_WORKER_DEATHS = 3  # then decode in-process: something kills them, replacing them won't help
_pool_lock = threading.Lock()
_pool: DecoderProcesses | None = None
_pool_broken = False  # workers cannot run here: decode in-process from then on
_dead_workers: set[int | None] = set()  # pids of workers that died under an utterance
_local_lock = threading.Lock()
_local_host: DecoderHost | None = None


def _workers() -> int:
    try:
        return max(0, int(os.environ.get(WORKERS_ENV, "2")))
    except ValueError:
        return 2


def _processes() -> DecoderProcesses | None:
    """The shared decoding processes (see `realtimelab.emulator.decoding`); None when off."""
    global _pool
    workers = _workers()
    if workers == 0 or _pool_broken:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = DecoderProcesses(workers)
            atexit.register(_pool.close)
        return _pool


def _decode_locally(key: str, dict_path: str, grammar: str, audio: bytes) -> Result:
    """Decode prepared audio in this process (serialised: one decoder host for the process)."""
    global _local_host
    with _local_lock:
        if _local_host is None:
            _local_host = DecoderHost()
        _local_host.tidy()
        return _local_host.decode(key, dict_path, grammar, audio)


def decode_utterance(dict_path: str, grammar: str, audio: bytes) -> Result:
    """Decode one whole prepared utterance in this process: the words and a confidence (None).

    What a worker's `decode` operation returns for the same arguments (with `key` any string
    naming this dictionary and grammar).
    """
    key = hashlib.sha256(f"{dict_path}\0{grammar}".encode()).hexdigest()
    return _decode_locally(key, dict_path, grammar, audio)


def warm_workers() -> None:
    """Start the decoding processes now (each takes ~0.5 s to import pocketsphinx)."""
    pool = _processes()
    if pool is None:
        return
    try:
        pool.start()
    except WorkerUnavailable as exc:
        _worker_failed(exc if isinstance(exc, WorkerCannotStart) else WorkerCannotStart(str(exc)))


def _worker_failed(exc: WorkerUnavailable) -> None:
    """A worker could not start (processes probably cannot run here) or died: decode in-process
    from now on if so, or after a few deaths; a single death only costs the utterances it was
    serving a decode in-process."""
    _dead_workers.add(exc.pid)
    if isinstance(exc, WorkerCannotStart) or len(_dead_workers) >= _MAX_WORKER_DEATHS:
        _give_up_on_workers()


def _give_up_on_workers() -> None:
    """Worker processes cannot run here: decode in-process (correct, but one session's decode
    then pauses the others), and say so once."""
    global _pool, _pool_broken
    with _pool_lock:
        if not _pool_broken:
            warnings.warn(
                "the emulator's speech decoding processes could not run; decoding in-process "
                f"(set {WORKERS_ENV}=0 to choose this and silence the warning)",
                HearingWarning,
                stacklevel=3,
            )
        _pool_broken = True
        if _pool is not None:
            _pool.close()
        _pool = None


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _tokenise(phrase: str) -> list[str]:
    tokens: list[str] = []
    for part in re.split(r"(\{[a-z_][a-z0-9_]*\})", phrase.lower()):
        if _SLOT.fullmatch(part):
            tokens.append(part)
        else:
            tokens.extend(normalise_words(part))
    return tokens


def _rule(slot: str) -> str:
    return f"<slot_{slot}>"


def _jsgf(templates: list[list[str]], slots: Mapping[str, list[list[str]]]) -> str:
    def render(tokens: list[str]) -> str:
        return " ".join(_rule(t[1:-1]) if t.startswith("{") else t for t in tokens)

    lines = ["#JSGF V1.0;", "grammar session;"]
    lines.append("public <utterance> = " + " | ".join(f"( {render(t)} )" for t in templates) + " ;")
    for name, values in slots.items():
        lines.append(f"{_rule(name)} = " + " | ".join(f"( {' '.join(v)} )" for v in values) + " ;")
    return "\n".join(lines) + "\n"


def _template_regex(tokens: list[str], vocabulary: Mapping[str, Sequence[str]]) -> str:
    parts = []
    for token in tokens:
        if token.startswith("{"):
            parts.append("(?:" + "|".join(re.escape(v) for v in vocabulary[token[1:-1]]) + ")")
        else:
            parts.append(re.escape(token))
    return " ".join(parts)
