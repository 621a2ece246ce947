"""Shared plumbing for the third-party driver scripts (run from the scratch venv, never imported
by tests): a recording WebSocket proxy, speech fixtures, fixture writing and result reporting.

The proxy sits between an unchanged framework and the emulator. It listens on 127.0.0.1 (ws, or
wss with a throwaway self-signed certificate for google-genai-based clients, which always use
wss), forwards the upgrade's path, query and headers to the emulator URL given with ``--url``,
and records every frame both ways:

* ``"in"``:  client -> emulator (what the framework sends),
* ``"out"``: emulator -> client (what the framework receives),

the same directions as the emulator's own ``frame_tap``. Base64 audio payloads are cut to a few
hundred characters so the fixtures stay small.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import ipaddress
import json
import os
import re
import ssl
import sys
import tempfile
import time
import traceback
import wave
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Response

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO / "data" / "speech"
FIXTURES = REPO / "tests" / "frames" / "third_party"
DUMMY_OPENAI_KEY = "sk-dummy-local"
DUMMY_GOOGLE_KEY = "dummy-local-key"

_HOP = {
    "host", "upgrade", "connection", "content-length", "sec-websocket-key",
    "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol",
    "sec-websocket-accept",
}  # fmt: skip
_SECRET_HEADERS = {"authorization", "x-goog-api-key", "api-key", "openai-insecure-api-key"}
_B64 = re.compile(r"^[A-Za-z0-9+/=_-]+$")
KEEP_B64 = 96


def truncate_payloads(value: Any, *, keep: int = KEEP_B64) -> Any:
    """Cut long base64 strings (audio) to `keep` chars plus a note of the full length."""
    if isinstance(value, dict):
        return {k: truncate_payloads(v, keep=keep) for k, v in value.items()}
    if isinstance(value, list):
        return [truncate_payloads(v, keep=keep) for v in value]
    if isinstance(value, str) and len(value) > 2 * keep and _B64.match(value):
        return f"{value[:keep]}...[truncated base64, {len(value)} chars]"
    return value


def _redact_query(path: str) -> str:
    return re.sub(r"((?:key|access_token)=)[^&]+", r"\1REDACTED", path)


# ------------------------------------------------------------------------------------------
# Recording proxy
# ------------------------------------------------------------------------------------------


@dataclass
class Connection:
    path: str
    headers: dict[str, str]
    subprotocols: list[str]
    started: float
    frames: list[dict[str, Any]] = field(default_factory=list)
    close: dict[str, Any] | None = None
    refused: dict[str, Any] | None = None


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "proxy-cert.pem", directory / "proxy-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class RecordingProxy:
    """``async with RecordingProxy(upstream, tls=...) as proxy:`` then point the client at
    ``proxy.url`` (``proxy.https_url`` for http-style base URLs). ``proxy.connections`` holds
    one `Connection` per WebSocket, in order."""

    def __init__(self, upstream: str, *, tls: bool = False, upstream_cafile: str | None = None):
        self.upstream = upstream.rstrip("/")
        self.tls = tls
        self.upstream_cafile = upstream_cafile
        self.connections: list[Connection] = []
        self.port = 0
        self.cert_path: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: Any = None
        self._upstreams: dict[int, Any] = {}

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RecordingProxy:
        ssl_ctx = None
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="rtl-proxy-")
            self.cert_path, key = _self_signed(Path(self._tmp.name))
            ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_ctx.load_cert_chain(self.cert_path, key)
            # google-genai / aiohttp / websockets build default contexts: trust our cert there.
            os.environ["SSL_CERT_FILE"] = str(self.cert_path)
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            select_subprotocol=lambda conn, offered: offered[0] if offered else None,
            compression=None,
            max_size=None,
            ping_interval=None,
            ssl=ssl_ctx,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5)
        if self._tmp is not None:
            self._tmp.cleanup()

    def _upstream_ssl(self) -> ssl.SSLContext | None:
        if not self.upstream.startswith("wss"):
            return None
        return ssl.create_default_context(cafile=self.upstream_cafile)

    async def _process_request(self, conn: ServerConnection, request: Any) -> Response | None:
        headers = {k: v for k, v in request.headers.raw_items() if k.lower() not in _HOP}
        offered = [
            p.strip()
            for v in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in v.split(",")
        ]
        record = Connection(
            path=_redact_query(request.path),
            headers={
                k: ("REDACTED" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()
            },
            subprotocols=[
                "openai-insecure-api-key.REDACTED" if p.startswith("openai-insecure-api-key") else p
                for p in offered
            ],
            started=time.monotonic(),
        )
        self.connections.append(record)
        try:
            upstream = await ws_connect(
                self.upstream + request.path,
                additional_headers=headers,
                subprotocols=offered or None,  # type: ignore[arg-type]
                compression=None,
                max_size=None,
                ping_interval=None,
                ssl=self._upstream_ssl(),
                open_timeout=10,
            )
        except InvalidStatus as exc:
            r = exc.response
            record.refused = {"status": r.status_code, "body": r.body.decode("utf-8", "replace")}
            return Response(r.status_code, r.reason_phrase, Headers(r.headers), r.body)
        self._upstreams[id(conn)] = (upstream, record)
        return None

    @staticmethod
    def _decode(message: str | bytes) -> dict[str, Any]:
        if isinstance(message, bytes):
            try:
                frame = json.loads(message.decode("utf-8"))
                return {"binary": True, "frame": truncate_payloads(frame)}
            except (UnicodeDecodeError, json.JSONDecodeError):
                return {"binary": True, "frame": {"_raw_bytes": len(message)}}
        try:
            return {"frame": truncate_payloads(json.loads(message))}
        except json.JSONDecodeError:
            return {"frame": {"_raw_text": message[:500]}}

    async def _handle(self, client: ServerConnection) -> None:
        upstream, record = self._upstreams.pop(id(client))

        def log(direction: str, message: str | bytes) -> None:
            entry = {"dir": direction, "t": round((time.monotonic() - record.started) * 1000)}
            entry.update(self._decode(message))
            record.frames.append(entry)

        async def pump(src: Any, dst: Any, direction: str) -> None:
            try:
                async for message in src:
                    log(direction, message)
                    await dst.send(message)
            except (ConnectionClosed, asyncio.CancelledError):
                pass
            finally:
                rcvd = src.protocol.close_rcvd
                if rcvd is not None and record.close is None:
                    record.close = {
                        "by": "client" if direction == "in" else "emulator",
                        "code": rcvd.code,
                        "reason": rcvd.reason,
                    }
                    with contextlib.suppress(Exception):
                        await dst.close(rcvd.code, rcvd.reason)
                else:
                    with contextlib.suppress(Exception):
                        await dst.close()

        tasks = [
            asyncio.create_task(pump(client, upstream, "in")),
            asyncio.create_task(pump(upstream, client, "out")),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.wait(tasks, timeout=3)
        for t in tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await upstream.close()


# ------------------------------------------------------------------------------------------
# Speech, fixtures, results
# ------------------------------------------------------------------------------------------


def read_wav(name: str) -> tuple[bytes, int]:
    """PCM16 mono bytes and rate of a fixture in data/speech."""
    with wave.open(str(SPEECH / name), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, name
        return w.readframes(w.getnframes()), w.getframerate()


def silence(ms: int, rate: int) -> bytes:
    return b"\x00\x00" * (rate * ms // 1000)


def chunks(pcm: bytes, rate: int, ms: int = 20) -> list[bytes]:
    step = rate * 2 * ms // 1000
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def version(*dists: str) -> str:
    out = []
    for d in dists:
        try:
            out.append(f"{d} {metadata.version(d)}")
        except metadata.PackageNotFoundError:
            out.append(f"{d} (not installed)")
    return ", ".join(out)


@dataclass
class Outcome:
    scenario: str
    passed: bool
    detail: str
    observed: dict[str, Any] = field(default_factory=dict)


def write_fixture(
    out_dir: Path,
    name: str,
    *,
    client: str,
    scenario: str,
    proxy: RecordingProxy,
    outcome: Outcome,
    notes: str = "",
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    connections = []
    for c in proxy.connections:
        connections.append(
            {
                "path": c.path,
                "headers": c.headers,
                "subprotocols": c.subprotocols,
                "refused": c.refused,
                "close": c.close,
                "frame_count": len(c.frames),
            }
        )
    frames = [f for c in proxy.connections for f in c.frames]
    doc = {
        "client": client,
        "scenario": scenario,
        "recorded_with": "scripts/third_party/_common.py RecordingProxy "
        "(dir 'in' = client->emulator, 'out' = emulator->client; t = ms since the upgrade)",
        "emulator_commit": os.environ.get("RTL_EMULATOR_COMMIT", "unknown"),
        "result": {"passed": outcome.passed, "detail": outcome.detail, **outcome.observed},
        "notes": notes,
        "connections": connections,
        "frames": frames,
    }
    path = out_dir / f"{name}.json"
    # One frame per line keeps the files small and diffable.
    head = json.dumps({**doc, "frames": None}, indent=1, ensure_ascii=False)
    lines = ",\n".join("  " + json.dumps(f, ensure_ascii=False) for f in frames)
    body = head.replace('"frames": null', '"frames": [\n' + lines + "\n ]")
    json.loads(body)  # still one valid JSON document
    path.write_text(body + "\n")
    return path


def parse_args(description: str, scenarios: list[str], providers: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", required=True, help="emulator base URL, e.g. ws://127.0.0.1:8765")
    p.add_argument("--cafile", default=None, help="CA file when --url is wss://")
    p.add_argument("--out", default=str(FIXTURES), help="where the JSON fixtures go")
    p.add_argument("--provider", action="append", choices=providers, default=None)
    p.add_argument("--scenario", action="append", choices=scenarios, default=None)
    p.add_argument("--timeout", type=float, default=40.0, help="seconds per scenario")
    p.add_argument("--no-write", action="store_true", help="do not write fixtures")
    args = p.parse_args()
    args.provider = args.provider or providers
    args.scenario = args.scenario or scenarios
    return args


def emulator_commit() -> str:
    import subprocess

    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "log", "--oneline", "-1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except Exception:
        return "unknown"


async def run_matrix(
    args: argparse.Namespace,
    framework: str,
    client: str,
    runners: dict[tuple[str, str], Any],
    *,
    tls_for: set[str] = frozenset(),  # type: ignore[assignment]
    notes: dict[tuple[str, str], str] | None = None,
) -> int:
    """Run each (provider, scenario) runner behind a fresh proxy; write fixtures; print a table.

    A runner is ``async def run(proxy, args) -> Outcome``."""
    os.environ.setdefault("RTL_EMULATOR_COMMIT", emulator_commit())
    results: list[tuple[str, str, Outcome]] = []
    for provider in args.provider:
        for scenario in args.scenario:
            runner = runners.get((provider, scenario))
            if runner is None:
                continue
            async with RecordingProxy(
                args.url, tls=provider in tls_for, upstream_cafile=args.cafile
            ) as proxy:
                try:
                    outcome = await asyncio.wait_for(runner(proxy, args), args.timeout)
                except TimeoutError:
                    outcome = Outcome(scenario, False, f"timed out after {args.timeout}s")
                except Exception as exc:  # report, keep going
                    traceback.print_exc()
                    outcome = Outcome(scenario, False, f"raised {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.3)
            if not args.no_write:
                path = write_fixture(
                    Path(args.out),
                    f"{framework}_{provider}_{scenario}",
                    client=client,
                    scenario=scenario,
                    proxy=proxy,
                    outcome=outcome,
                    notes=(notes or {}).get((provider, scenario), ""),
                )
                print(f"  wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
            results.append((provider, scenario, outcome))
            mark = "PASS" if outcome.passed else "FAIL"
            print(f"[{mark}] {framework} {provider} {scenario}: {outcome.detail}", flush=True)
    failed = sum(not o.passed for _, _, o in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main_entry(coro: Any) -> None:
    sys.exit(asyncio.run(coro))


# ------------------------------------------------------------------------------------------
# Wire analysis: what the emulator said, read from the recorded frames
# ------------------------------------------------------------------------------------------

NOT_CAUGHT = "didn't catch that"


def frames_of(proxy: RecordingProxy) -> list[dict[str, Any]]:
    return [f for c in proxy.connections for f in c.frames]


def analyze_openai(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Errors, response statuses, assistant text, heard user text and function calls."""
    out: dict[str, Any] = {
        "errors": [],
        "responses": [],
        "assistant_text": [],
        "heard": [],
        "function_calls": [],
        "function_outputs": [],
        "audio_out_frames": 0,
        "client_events": [],
    }
    for f in frames:
        fr = f.get("frame", {})
        t = fr.get("type", "")
        if f["dir"] == "in":
            out["client_events"].append(t)
            if t == "conversation.item.create" and fr.get("item", {}).get("type") == (
                "function_call_output"
            ):
                out["function_outputs"].append(fr["item"].get("output"))
            continue
        if t == "error":
            out["errors"].append(fr.get("error"))
        elif t == "response.done":
            r = fr.get("response", {})
            out["responses"].append(
                {"status": r.get("status"), "status_details": r.get("status_details")}
            )
            for item in r.get("output", []):
                if item.get("type") == "function_call":
                    out["function_calls"].append(
                        {"name": item.get("name"), "arguments": item.get("arguments")}
                    )
                for part in item.get("content", []) or []:
                    text = part.get("transcript") or part.get("text")
                    if text:
                        out["assistant_text"].append(text)
        elif t == "conversation.item.input_audio_transcription.completed":
            out["heard"].append(fr.get("transcript"))
        elif t in ("response.output_audio.delta", "response.audio.delta"):
            out["audio_out_frames"] += 1
    out["client_events"] = sorted(set(out["client_events"]))
    return out


def analyze_gemini(frames: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "errors": [],
        "assistant_text": [],
        "heard": [],
        "function_calls": [],
        "function_outputs": [],
        "audio_out_frames": 0,
        "turns": 0,
        "interrupted": 0,
        "client_messages": [],
        "close": None,
    }
    said: list[str] = []
    for f in frames:
        fr = f.get("frame", {})
        if f["dir"] == "in":
            out["client_messages"].append(next(iter(fr), "?"))
            tr = fr.get("toolResponse") or fr.get("tool_response")  # google-genai: snake_case
            if tr:
                out["function_outputs"].extend(
                    tr.get("functionResponses") or tr.get("function_responses") or []
                )
            continue
        sc = fr.get("serverContent") or {}
        if "outputTranscription" in sc:
            said.append(sc["outputTranscription"].get("text", ""))
        if "inputTranscription" in sc:
            out["heard"].append(sc["inputTranscription"].get("text", ""))
        for part in (sc.get("modelTurn") or {}).get("parts", []):
            if "inlineData" in part:
                out["audio_out_frames"] += 1
            if part.get("text"):
                said.append(part["text"])
        if sc.get("interrupted"):
            out["interrupted"] += 1
        if sc.get("turnComplete"):
            out["turns"] += 1
            if said:
                out["assistant_text"].append("".join(said).strip())
            said = []
        if "toolCall" in fr:
            for fc in fr["toolCall"].get("functionCalls", []):
                out["function_calls"].append({"name": fc.get("name"), "args": fc.get("args")})
        if "error" in fr:
            out["errors"].append(fr["error"])
    out["unfinished_text"] = "".join(said).strip()
    out["heard"] = ["".join(out["heard"]).strip()] if out["heard"] else []
    out["client_messages"] = sorted(set(out["client_messages"]))
    return out


def judge(scenario: str, wire: dict[str, Any], *, surfaced: str = "") -> Outcome:
    """Pass/fail from the wire: text -> an understood reply; audio/tool -> get_weather(Paris)
    called, its output sent and a reply that mentions Paris."""
    text = " | ".join(wire["assistant_text"])
    calls = wire["function_calls"]
    problems = []
    if wire["errors"]:
        problems.append(f"errors: {wire['errors']}")
    bad = [r for r in wire.get("responses", []) if r["status"] not in ("completed",)]
    if bad:
        problems.append(f"responses not completed: {bad}")
    if not text:
        problems.append("no assistant reply")
    if NOT_CAUGHT in text or ("sorry" in text.lower() and "catch" in text.lower()):
        problems.append("emulator did not understand the user")
    if scenario in ("audio", "tool"):
        weather = [c for c in calls if c["name"] == "get_weather"]
        if not weather:
            problems.append("get_weather was not called")
        if not wire["function_outputs"]:
            problems.append("no function output sent")
        if "paris" not in text.lower() or not any(
            w in text.lower() for w in ("degree", "sunny", "21")
        ):
            problems.append("no reply built from the tool result")
    if "tool says:" in text:
        # Not a failure of the client: the emulator could not read the tool output (not JSON)
        # and read it out raw, where a real model would phrase it.
        surfaced += " [note: emulator read the tool output out raw]"
    observed = {"wire": wire, "surfaced_by_framework": surfaced}
    if problems:
        return Outcome(scenario, False, "; ".join(problems) + f" (said: {text!r})", observed)
    return Outcome(scenario, True, f"said: {text!r}", observed)


def _finished(scenario: str, wire: dict[str, Any]) -> bool:
    texts = " ".join(wire["assistant_text"]).lower()
    if wire["errors"] or NOT_CAUGHT in texts or ("sorry" in texts and "catch" in texts):
        return True
    if scenario == "text":
        return bool(wire["assistant_text"])
    return "degree" in texts or "sorry" in texts


async def wait_wire(
    proxy: RecordingProxy, provider: str, scenario: str, timeout: float = 25.0, settle: float = 0.8
) -> dict[str, Any]:
    """Wait until the recorded frames show the scenario's end (a reply; for audio/tool the reply
    built from the tool result), an error, a closed socket or `timeout`; then `settle` seconds."""
    analyze = analyze_openai if provider == "openai" else analyze_gemini
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wire = analyze(frames_of(proxy))
        closed = any(cn.close or cn.refused for cn in proxy.connections)
        if _finished(scenario, wire) or closed:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(settle)
    return analyze(frames_of(proxy))
