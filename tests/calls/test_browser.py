"""Headless Chromium (fake camera) calls an aiortc nurse desk through the hub."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from calls.engine import CallEngine, QueueChanged
from calls.session import CallState
from hub.contract.identity import CallRole
from hub.contract.signaling import PROTOCOL_VERSION
from tests.helpers.chromium import Chromium
from tests.helpers.engines import EventLog, frame_where
from tests.helpers.fixtures import People
from tests.helpers.hubserver import ThreadedHub

pytestmark = pytest.mark.slow

# The caller's side of the protocol in a page: hello, call_request, answer the desk's offer
# (after gathering: aiortc takes no trickled candidates), then report frames decoded.
PAGE = """<!doctype html><html><body><video id=v autoplay muted playsinline></video><script>
const cfg = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const report = (o) => fetch('/report', {method: 'POST', body: JSON.stringify(o)});
(async () => {
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  const ws = new WebSocket(cfg.ws);
  let pc = null;
  ws.onopen = () => ws.send(JSON.stringify({type: 'hello', protocol: cfg.protocol,
                                            token: cfg.token, client: 'browser'}));
  ws.onmessage = async (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === 'error') { report({error: m.code}); return; }  // fail fast, not time out
    if (m.type === 'ping') { ws.send(JSON.stringify({type: 'pong', t: m.t})); return; }
    if (m.type === 'welcome') ws.send(JSON.stringify({type: 'call_request', request_id: 'b1',
                                                      reason: 'browser caller'}));
    if (m.type === 'call_queued') report({queued: m.call_id});
    if (m.type === 'offer') {
      pc = new RTCPeerConnection({iceServers: []});
      media.getTracks().forEach(t => pc.addTrack(t, media));
      pc.ontrack = (e) => { document.getElementById('v').srcObject = e.streams[0] ||
                            new MediaStream([e.track]); };
      await pc.setRemoteDescription({type: 'offer', sdp: m.sdp});
      await pc.setLocalDescription(await pc.createAnswer());
      if (pc.iceGatheringState !== 'complete') await new Promise(r => {
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
      ws.send(JSON.stringify({type: 'answer', call_id: m.call_id, to: m.from,
                              sdp: pc.localDescription.sdp}));
      for (let i = 0; i < 100; i++) {
        await new Promise(r => setTimeout(r, 200));
        const stats = await pc.getStats();
        let decoded = 0;
        stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video')
                               decoded = s.framesDecoded || 0; });
        if (decoded > 10) { report({decoded}); break; }
      }
    }
  };
})().catch(e => report({error: String(e)}));
</script></body></html>"""


@pytest.fixture
async def page_server() -> AsyncIterator[tuple[str, asyncio.Queue[dict[str, object]]]]:
    loop = asyncio.get_running_loop()
    reports: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            loop.call_soon_threadsafe(reports.put_nowait, data)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", reports
    await asyncio.to_thread(server.shutdown)
    server.server_close()
    thread.join(5)


async def test_browser_caller_reaches_an_aiortc_desk(
        hub: ThreadedHub, people: People, engines: Callable[..., CallEngine],
        page_server: tuple[str, asyncio.Queue[dict[str, object]]],
        browser: Chromium) -> None:
    desk = engines(hub.ws, people.nurse.token, CallRole.NURSE)
    desk_log = EventLog(desk)
    await desk.start()
    url, reports = page_server
    # The protocol from the contract: a hub speaking a newer one refuses the hello.
    config = json.dumps({"ws": hub.ws, "token": people.site.token, "protocol": PROTOCOL_VERSION})
    await browser.goto(url + "#" + config)
    first = await asyncio.wait_for(reports.get(), 30)
    assert "queued" in first, first
    await desk_log.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
    answerer = await desk.claim(str(first["queued"]))
    await desk_log.state(CallState.IN_CALL, within=20)
    link = answerer.links[people.site.principal.participant_id]
    assert link.video is not None and link.audio is not None
    frame = await frame_where(link.video, lambda f: True, within=20)  # Chromium's fake camera
    assert frame.width > 0
    back = await asyncio.wait_for(reports.get(), 30)  # Chromium decoded the desk's video
    assert int(str(back.get("decoded", 0))) > 10, back
