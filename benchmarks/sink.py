"""A loopback WebSocket sink for the send-path benchmark: `python -m benchmarks.sink`.

It runs in its own process so that none of its CPU is counted against the client being
measured. It answers only the minimum handshake each client waits for, then drains:

* a path containing `BidiGenerateContent` is Gemini: the first frame (`setup`) gets
  `{"setupComplete": {}}` back (as a binary frame, like Google's server);
* anything else is OpenAI: `session.created` is sent on open.

Two listeners, one process: `plain` refuses permessage-deflate, `deflate` accepts it when the
client offers it (websockets' server default). Clients that turn compression off (realtimelab,
the openai SDK, the floor) get no compression from either; google-genai offers deflate, so the
pair shows how much of its cost is compression. Prints one JSON line with both URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal

from websockets.asyncio.server import ServerConnection, serve

SESSION_CREATED = json.dumps(
    {
        "type": "session.created",
        "event_id": "event_sink",
        "session": {"id": "sess_sink", "object": "realtime.session", "model": "gpt-realtime"},
    }
)
SETUP_COMPLETE = b'{"setupComplete": {}}'


async def _handler(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request is not None else ""
    with contextlib.suppress(Exception):
        if "BidiGenerateContent" in path:
            await ws.recv()
            await ws.send(SETUP_COMPLETE)
        else:
            await ws.send(SESSION_CREATED)
        while True:  # drain until the client closes
            await ws.recv(decode=False)


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    common = {"max_size": None, "ping_interval": None}
    async with (
        serve(_handler, "127.0.0.1", 0, compression=None, **common) as plain,
        serve(_handler, "127.0.0.1", 0, **common) as deflate,
    ):
        urls = {
            name: f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
            for name, srv in (("plain", plain), ("deflate", deflate))
        }
        print(json.dumps(urls), flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(_main())
