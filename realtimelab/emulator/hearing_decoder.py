"""The pocketsphinx side of the emulator's hearing: reused decoders that keep up with speech.

This module is what a decoding helper process runs (`realtimelab.emulator.decoding`), and what
`realtimelab.emulator.hearing` runs in-process when helper processes are off. It imports neither
of them, so the three modules form no import cycle: `hearing` -> `decoding` -> this module.

Input is *prepared* audio: PCM16 mono at 16 kHz, already padded and dithered by
`hearing._Preparer`. An utterance is opened, audio is appended as it arrives, and finishing
returns the words. Four rules make the words a function of the audio alone, whether it arrives
in one piece or in many, in a new decoder or in one that heard other utterances before (each is
checked by tests over the speech fixtures):

1. **Fixed blocks.** pocketsphinx is not quite indifferent to how audio is cut into
   `process_raw` calls (measured: the first block's size changes the first frames' scores, and
   live CMN updates its mean at call boundaries). The decoder therefore only ever sees blocks of
   `BLOCK_SAMPLES` counted from the start of the utterance, plus one final short block.
2. **A fresh front end per utterance.** `reinit_feat` (~0.03 ms) rebuilds the feature extraction,
   which is where a decoder keeps state between utterances: the noise-removal statistics and
   the cepstral mean. The search is reset by `start_utt`. What is left in the acoustic model's
   top-N cache only seeds a search that ends exact, and the tests find no trace of it.
3. **CMN from the start of speech.** Incremental decoding cannot use batch cepstral mean
   normalisation (the mean of a whole utterance is known only at its end). A fixed prior instead
   recognised fewer phrases than batch CMN. So the mean is estimated, batch-style, over a window
   that starts `CMN_BACK_MS` before the first voiced 10 ms frame and lasts `CMN_WINDOW_MS`; the
   utterance is decoded with that mean from its first sample once the window has arrived (or at
   the end, for a shorter one). Anchoring at the onset makes the estimate indifferent to how much
   silence a VAD or a client put around the speech. Measured on 800 VAD-cut phrases (40 voices,
   clean and with noise at -50 dBFS): 791 recognised, against 671 by the previous one-shot
   decoding (whole-utterance batch CMN, lattice best path). The estimate comes from a second
   decoder with a one-word grammar (~2 ms a window).
4. **Viterbi words.** The words are the best grammar path (`bestpath` off). The lattice pass
   behind pocketsphinx's posterior probability took 15-200 ms after the last frame, longer than
   the whole latency budget, so no confidence is computed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

RATE = 16000
"""The rate pocketsphinx's en-US acoustic model was trained at."""

BLOCK_SAMPLES = 320
"""Samples per `process_raw` call (20 ms, two 10 ms frames); see rule 1 above."""

CMN_WINDOW_MS = 800
"""Length of the audio the cepstral mean is estimated over (rule 3)."""

CMN_BACK_MS = 200
"""How far before the first voiced frame that window starts."""

ONSET_FRAME_SAMPLES = RATE // 100
"""10 ms frames for finding the first voiced frame."""

ONSET_GATE_DBFS = -50.0
"""A frame is voiced when its RMS reaches this level (dither and digital silence stay below)."""

MIN_KEPT_DECODERS = 2
MAX_KEPT_DECODERS = 8
"""A host keeps as many decoders (in use plus idle) as utterances overlapped on it lately
(`DEMAND_WINDOW_S`), within these bounds, and frees idle ones beyond that.

Why: a decoder holds ~20 MB (measured), so idle ones should not pile up; but building one costs
~40 ms and freeing it up to ~10 ms of the worker's CPU, and with many sessions talking at once a
small fixed cap would rebuild a decoder after nearly every utterance. Memory therefore follows
the load: ~20 MB per utterance a worker decodes at once, kept while that lasts."""

DEMAND_WINDOW_S = 30.0

_GATE_ENERGY = ONSET_FRAME_SAMPLES * (32768.0 * 10 ** (ONSET_GATE_DBFS / 20)) ** 2
_ESTIMATOR_GRAMMAR = "#JSGF V1.0;\ngrammar cmn;\npublic <s> = a ;\n"

Result = tuple[str, float | None]
"""What finishing an utterance gives: the words (may be empty) and a confidence (None)."""


@lru_cache(maxsize=1)
def model_dir() -> str:
    """pocketsphinx's bundled model directory (raises with install advice when it is missing)."""
    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise RuntimeError(
            "The emulator's hearing needs pocketsphinx: pip install pocketsphinx"
        ) from exc
    return str(pocketsphinx.get_model_path())


def _hmm() -> str:
    return os.path.join(model_dir(), "en-us", "en-us")


def first_voiced_frame(audio: bytes | bytearray, start: int = 0) -> int | None:
    """Index of the first voiced 10 ms frame of prepared 16 kHz audio at or after frame `start`
    (whole frames only), or None."""
    frame_bytes = ONSET_FRAME_SAMPLES * 2
    n = len(audio) // frame_bytes - start
    if n <= 0:
        return None
    frames = np.frombuffer(audio, dtype="<i2", count=n * ONSET_FRAME_SAMPLES,
                           offset=start * frame_bytes)  # fmt: skip
    energy = np.square(frames.reshape(n, ONSET_FRAME_SAMPLES).astype(np.float64)).sum(axis=1)
    voiced = np.flatnonzero(energy >= _GATE_ENERGY)
    return start + int(voiced[0]) if voiced.size else None


def onset_window(length: int, onset: int | None, *, final: bool) -> tuple[int, int] | None:
    """The byte range of prepared audio (`length` bytes so far) to estimate the cepstral mean over.

    It starts `CMN_BACK_MS` before the first voiced frame `onset` (or at 0 when the utterance
    has none) and is `CMN_WINDOW_MS` long. Returns None while the audio seen so far does not
    settle it yet; with `final=True` (the whole utterance is in) it always answers, clipped to
    the audio.
    """
    if onset is None and not final:
        return None
    start = 0
    if onset is not None:
        start = max(0, (onset * ONSET_FRAME_SAMPLES - CMN_BACK_MS * RATE // 1000) * 2)
    end = start + CMN_WINDOW_MS * RATE // 1000 * 2
    if end > length:
        if not final:
            return None
        end = length
    return start, end


@dataclass
class _Utterance:
    """One utterance being decoded: its audio so far and how far the decoder has got."""

    key: str
    dict_path: str
    grammar: str
    audio: bytearray = field(default_factory=bytearray)
    decoder: Any = None  # a pocketsphinx Decoder leased from the host once decoding starts
    decoded: int = 0  # bytes of `audio` handed to the decoder
    onset: int | None = None  # first voiced 10 ms frame, once found
    scanned: int = 0  # frames searched for it so far
    error: str | None = None  # the first failure, reported when the utterance is finished


class DecoderHost:
    """Decoders for any number of grammars and overlapping utterances, reused between utterances.

    Decoders are keyed by grammar (`key`, a digest of dictionary and grammar chosen by the
    caller), created when an utterance needs one and none is idle (~40 ms: acoustic model plus
    JSGF compilation), and kept for the next utterance of that grammar (`MAX_KEPT_DECODERS`).
    Not thread-safe: one caller at a time (a worker process runs one request at a time;
    in-process use holds a lock).
    """

    def __init__(self) -> None:
        self._idle: list[tuple[str, Any]] = []  # (grammar key, decoder), oldest first
        self._retired: list[Any] = []  # decoders to free once nobody is waiting (`tidy`)
        self._leased = 0  # decoders in use by open utterances
        self._peaks = [0, 0]  # most decoders in use at once: previous window, this window
        self._window_start = time.monotonic()
        self._utterances: dict[int, _Utterance] = {}  # in round-robin order for `work`
        self._estimator: Any = None
        self._oneshot = 0
        self.created = 0
        """How many grammar decoders this host has built (tests check that they are reused)."""

    # -- the operations a worker process serves --------------------------------------------
    def open(self, uid: int, key: str, dict_path: str, grammar: str) -> None:
        """Start utterance `uid` with the grammar `grammar` over the dictionary `dict_path`."""
        self.cancel(uid)
        self._utterances[uid] = _Utterance(key, dict_path, grammar)

    def append(self, uid: int, audio: bytes) -> None:
        """Add prepared audio to utterance `uid`; `work` decodes it, or `finish` at the latest.

        Appending only buffers, so that a request behind it (another utterance's `finish`) is
        not kept waiting. Errors are kept and reported by `finish`: appends are not answered,
        so that audio can stream without a round trip per chunk.
        """
        utt = self._utterances.get(uid)
        if utt is not None and utt.error is None:
            utt.audio += audio

    def work(self) -> bool:
        """Decode one block of some open utterance's backlog; False when none has any.

        A worker process calls this whenever no request is waiting, so utterances are decoded
        while they are spoken. Utterances take turns a block at a time (~1 ms of CPU), so the
        ~40 ms an utterance needs to catch up once its CMN window is in never delays another
        utterance's `finish` by more than a block. (Building a decoder, ~40 ms when none is
        idle, cannot be split.)
        """
        for uid, utt in list(self._utterances.items()):
            if utt.error is not None:
                continue
            try:
                progressed = self._advance(utt, final=False, max_blocks=1)
            except Exception as exc:
                self._fail(utt, exc)
                progressed = True
            if progressed:
                self._utterances[uid] = self._utterances.pop(uid)  # to the back of the queue
                return True
        return False

    def tidy(self) -> None:
        """Free decoders dropped from the idle list (~5-15 ms each, so not while a caller
        waits for a transcript)."""
        self._retired.clear()

    def finish(self, uid: int) -> Result:
        """Decode what is left of utterance `uid` and return its words."""
        utt = self._utterances.pop(uid, None)
        if utt is None:
            raise KeyError(f"no open utterance {uid}")
        if utt.error is not None:
            raise RuntimeError(utt.error)
        try:
            self._advance(utt, final=True)
            decoder = utt.decoder
            decoder.end_utt()
            hyp = decoder.hyp()
        except Exception:
            self._release(utt, reuse=False)
            raise
        self._release(utt)
        text = "" if hyp is None else " ".join(str(hyp.hypstr).split())
        return text, None

    def cancel(self, uid: int) -> None:
        """Forget utterance `uid` (if open), returning its decoder for reuse."""
        utt = self._utterances.pop(uid, None)
        if utt is None or utt.decoder is None:
            return
        try:
            utt.decoder.end_utt()
        except Exception:
            self._release(utt, reuse=False)
        self._release(utt)

    def decode(self, key: str, dict_path: str, grammar: str, audio: bytes) -> Result:
        """One whole prepared utterance: `open`, `append`, `finish` in one call."""
        self._oneshot -= 1  # negative ids never clash with a caller's
        uid = self._oneshot
        self.open(uid, key, dict_path, grammar)
        self.append(uid, audio)
        return self.finish(uid)

    def close(self) -> None:
        """Drop every decoder (open utterances are cancelled)."""
        for uid in list(self._utterances):
            self.cancel(uid)
        self._idle.clear()
        self._retired.clear()
        self._estimator = None

    # -- internals --------------------------------------------------------------------------
    def _advance(self, utt: _Utterance, *, final: bool, max_blocks: int | None = None) -> bool:
        """Start the decoder once the CMN window is in, then decode whole blocks (all of the
        audio when `final`); True if anything was done."""
        if utt.decoder is None:
            if utt.onset is None:
                utt.onset = first_voiced_frame(utt.audio, utt.scanned)
                utt.scanned = len(utt.audio) // (ONSET_FRAME_SAMPLES * 2)
            window = onset_window(len(utt.audio), utt.onset, final=final)
            if window is None:
                return False  # still waiting for the CMN window
            cmn = self._estimate_cmn(bytes(utt.audio[window[0] : window[1]]))
            decoder = self._lease(utt)
            utt.decoder = decoder
            decoder.reinit_feat()
            decoder.set_cmn(cmn)
            decoder.start_utt()
            if max_blocks is not None:
                return True  # that was this turn's work
        block = BLOCK_SAMPLES * 2
        end = len(utt.audio) if final else len(utt.audio) - len(utt.audio) % block
        if max_blocks is not None:
            end = min(end, utt.decoded + max_blocks * block)
        if end <= utt.decoded:
            return False
        view = memoryview(utt.audio)
        try:
            for pos in range(utt.decoded, end, block):
                utt.decoder.process_raw(bytes(view[pos : min(pos + block, end)]))
        finally:
            view.release()
        utt.decoded = end
        return True

    def _estimate_cmn(self, window: bytes) -> str:
        """Batch cepstral mean of `window`, from a fresh front end (see the module docstring)."""
        est = self._estimator
        if est is None:
            est = self._estimator = _estimator_decoder()
        est.reinit_feat()
        est.start_utt()
        if window:
            est.process_raw(window, no_search=True, full_utt=True)
        cmn = str(est.get_cmn())
        est.end_utt()
        return cmn

    def _lease(self, utt: _Utterance) -> Any:
        decoder = self._take_idle(utt.key)
        if decoder is None:
            decoder = self._build(utt)
        self._leased += 1
        self._note_demand()
        return decoder

    def _take_idle(self, key: str) -> Any:
        for i in range(len(self._idle) - 1, -1, -1):
            if self._idle[i][0] == key:
                return self._idle.pop(i)[1]
        return None

    def _build(self, utt: _Utterance) -> Any:
        from pocketsphinx import Decoder

        decoder = Decoder(
            hmm=_hmm(), dict=utt.dict_path, lm=None, samprate=RATE, bestpath=False,
            loglevel="FATAL",
        )  # fmt: skip
        decoder.add_jsgf_string("session", utt.grammar)
        decoder.activate_search("session")
        self.created += 1
        return decoder

    def _release(self, utt: _Utterance, *, reuse: bool = True) -> None:
        """Give back `utt`'s decoder: idle for the next utterance, or (`reuse=False`, after a
        failure left it in an unknown state) to be freed."""
        decoder, utt.decoder = utt.decoder, None
        if decoder is None:
            return
        self._leased -= 1
        self._note_demand()
        if not reuse:
            self._retired.append(decoder)
            return
        self._idle.append((utt.key, decoder))
        keep = min(MAX_KEPT_DECODERS, max(MIN_KEPT_DECODERS, *self._peaks)) - self._leased
        excess = max(0, len(self._idle) - max(0, keep))
        self._retired += [d for _, d in self._idle[:excess]]
        del self._idle[:excess]

    def _note_demand(self) -> None:
        now = time.monotonic()
        if now - self._window_start > DEMAND_WINDOW_S:
            self._peaks = [self._peaks[1], 0]
            self._window_start = now
        self._peaks[1] = max(self._peaks[1], self._leased)

    def _fail(self, utt: _Utterance, exc: Exception) -> None:
        utt.error = f"{type(exc).__name__}: {exc}"
        utt.audio = bytearray()
        if utt.decoder is not None:
            with contextlib.suppress(Exception):
                utt.decoder.end_utt()
            self._release(utt, reuse=False)  # a failure may have left it in any state


def _estimator_decoder() -> Any:
    """A decoder whose only job is the cepstral mean: a one-word grammar keeps its search cheap.

    It reads the same `feat.params` as the grammar decoders, so its front end is the same.
    """
    from pocketsphinx import Decoder

    fd, path = tempfile.mkstemp(prefix="realtimelab-cmn-", suffix=".dict")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("a AH\n")
        decoder = Decoder(hmm=_hmm(), dict=path, lm=None, samprate=RATE, loglevel="FATAL")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    decoder.add_jsgf_string("cmn", _ESTIMATOR_GRAMMAR)
    decoder.activate_search("cmn")
    return decoder
