"""The emulator's ears: offline recognition with pocketsphinx and a per-session JSGF grammar.

Why a grammar: pocketsphinx is the only English recogniser that ships its model in a pip wheel,
and with its generic language model it mis-hears synthetic speech badly (~90% word error rate on
espeak audio). The emulator only needs to understand what its brain can answer anyway, so each
session gets a grammar of exactly those phrases (`Brain.phrases`) with slots filled from the
session's vocabulary (cities, numbers, enum values of the declared tools). Measured with the demo
tools' grammar (58 templates, 71 words): 63 of 64 sampled phrases spoken by the default voice came
back exactly, and the six fixture sentences on every voice tried. Very short utterances ("hi",
"bye") are the weak spot: other voices sometimes hear them as "how are you".

Why a fresh decoder per utterance: a reused pocketsphinx decoder carries feature state from one
utterance to the next (measured: the same audio decoded in a different order gave different
words, even after resetting CMN). A decoder built from the session's small dictionary costs about
40 ms (15 ms decoder, 25 ms JSGF), far less than the ~0.3 s of one that loads the full 135k-word
dictionary; so each `Hearing` writes its small dictionary file and grammar once (~3 ms after the
CMU dictionary was parsed once per process, ~0.2 s), and `transcribe` builds a decoder from them.
The result depends only on the audio and the grammar, never on what was heard before.

Why a worker process: pocketsphinx holds the GIL while it decodes (measured: a 155 ms decode
froze every other thread for 115 ms), so decoding on a thread stalls the paced audio of every
other session in the emulator. Decoding runs in helper processes instead
(`realtimelab.emulator.decoding`; `REALTIMELAB_HEARING_WORKERS`, default 2; 0 decodes
in-process). A worker gets the dictionary path, the grammar and the prepared audio, and builds
its decoder exactly as in-process decoding does, so the transcript is the same either way.

Audio is resampled to 16 kHz, padded with silence (recognition of speech that starts or ends
abruptly, as a VAD cuts it, is much worse without) and dithered with seeded noise at ~3 LSB
(pure digital silence upsets pocketsphinx's feature extraction).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from realtimelab.emulator.decoding import DecoderProcesses, WorkerUnavailable

if TYPE_CHECKING:
    from realtimelab.emulator.brain import Brain
    from realtimelab.emulator.model import ToolSpec

RATE = 16000
"""The rate pocketsphinx's en-US acoustic model was trained at."""

_SLOT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_LEAD_MS = 300
_TRAIL_MS = 700
_DITHER_LSB = 3.0


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


@lru_cache(maxsize=1)
def _model_dir() -> str:
    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise RuntimeError(
            "The emulator's hearing needs pocketsphinx: pip install pocketsphinx"
        ) from exc
    return str(pocketsphinx.get_model_path())


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

    Thread-safe: `transcribe` may run in `asyncio.to_thread`; calls on one instance are
    serialised by a lock.
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
        self._lock = threading.Lock()
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
        fd, dict_path = tempfile.mkstemp(prefix="realtimelab-hearing-", suffix=".dict")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for word in words:
                for i, phones in enumerate(prons[word]):
                    fh.write(f"{word}{'' if i == 0 else f'({i + 1})'} {phones}\n")
        self._dict_path = dict_path
        self._finalizer = weakref.finalize(self, _remove, dict_path)
        self.build_ms = (time.perf_counter() - started) * 1000
        """Time spent building this grammar (dictionary lookups, files), in milliseconds."""
        self.last_decode_ms: float | None = None
        """Wall time of the latest `transcribe` (decoder set-up plus decoding)."""

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

    def transcribe(self, pcm: bytes, rate: int) -> Transcript:
        """Recognise one utterance of PCM16 mono audio at `rate` Hz.

        Deterministic: the same audio always gives the same transcript.
        """
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        if not 8000 <= rate <= 96000:
            raise ValueError(f"rate must be within 8000..96000 Hz, got {rate}")
        if not self._finalizer.alive:
            raise RuntimeError("this Hearing was closed")
        samples = np.frombuffer(pcm, dtype=np.int16)
        if samples.size == 0 or not np.any(samples):
            return Transcript("", False, None)
        audio = _prepare(samples, rate)
        started = time.perf_counter()
        hyp = _decode_anywhere(self._dict_path, self.grammar, audio, self._lock)
        self.last_decode_ms = (time.perf_counter() - started) * 1000
        if hyp is None or not hyp[0].strip():
            return Transcript("", False, None)
        text = " ".join(hyp[0].split())
        confidence = hyp[1]
        recognised = self.matches(text) and confidence >= self.min_confidence
        return Transcript(text, recognised, confidence)


def _decode(dict_path: str, grammar: str, audio: bytes) -> tuple[str, float] | None:
    """Decode one prepared utterance with a fresh decoder (in a worker process or in-process)."""
    from pocketsphinx import Decoder

    decoder = Decoder(
        hmm=os.path.join(_model_dir(), "en-us", "en-us"),
        dict=dict_path,
        lm=None,
        samprate=RATE,
        loglevel="FATAL",
    )
    decoder.add_jsgf_string("session", grammar)
    decoder.activate_search("session")
    decoder.start_utt()
    decoder.process_raw(audio, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return None if hyp is None else (str(hyp.hypstr), float(hyp.prob))


WORKERS_ENV = "REALTIMELAB_HEARING_WORKERS"
_pool_lock = threading.Lock()
_pool: DecoderProcesses | None = None
_pool_broken = False  # a worker could not start or died: decode in-process from then on


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


def decode_utterance(dict_path: str, grammar: str, audio: bytes) -> tuple[str, float] | None:
    """What a decoding process runs (the same function in-process when workers are off)."""
    return _decode(dict_path, grammar, audio)


def warm_workers() -> None:
    """Start the decoding processes now (each takes ~0.5 s to import pocketsphinx)."""
    pool = _processes()
    if pool is None:
        return
    failures: list[WorkerUnavailable] = []

    def ping() -> None:
        try:
            pool.call("ping")
        except WorkerUnavailable as exc:
            failures.append(exc)

    threads = [threading.Thread(target=ping) for _ in range(pool.size)]  # start them together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
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


def _decode_anywhere(
    dict_path: str, grammar: str, audio: bytes, lock: threading.Lock
) -> tuple[str, float] | None:
    pool = _processes()
    if pool is not None:
        try:
            result: tuple[str, float] | None = pool.call("decode", dict_path, grammar, audio)
            return result
        except WorkerUnavailable:
            _give_up_on_workers()
    with lock:
        return _decode(dict_path, grammar, audio)


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


def _prepare(samples: np.ndarray, rate: int) -> bytes:
    """16 kHz, padded with silence, dithered with seeded noise: what pocketsphinx decodes best."""
    x = samples.astype(np.float64)
    if rate != RATE:
        import soxr

        x = np.asarray(soxr.resample(x, rate, RATE, quality="HQ"), dtype=np.float64)
    x = np.concatenate([np.zeros(RATE * _LEAD_MS // 1000), x, np.zeros(RATE * _TRAIL_MS // 1000)])
    x += np.random.default_rng(0).normal(0.0, _DITHER_LSB, x.size)
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
