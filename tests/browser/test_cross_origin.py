"""A web page of another origin cannot use `stepvox serve` (real headless Chromium).

The server is bound to loopback without a token — the set-up any page the user visits could
otherwise reach. An attacker's page, served by a second small HTTP server on another loopback
port, tries what such a page can: open `ws://127.0.0.1:PORT/ws`, `fetch` a POST of a document
to `/api/corpus` (cors and no-cors), and submit a multipart form there. Then the same page is
reached through a DNS-rebinding name (`rebind.test`, mapped to 127.0.0.1 by Chromium's
resolver rules). All of it is refused by the server (its log names each refusal), and the
corpus is unchanged; the server's own page still opens its WebSocket.
"""

from __future__ import annotations

import functools
import http.server
import logging
import threading
from pathlib import Path

from assistant.server.app import create_app
from assistant.server.run import ServerThread
from tests.live.server_helpers import store_digest

ATTACK = """<!doctype html><html><body>
<form id="f" method="post" enctype="multipart/form-data" action="http://TARGET/api/corpus">
  <input type="file" name="files" id="file">
</form>
<script>
const R = (window.results = {}); window.done = 0;
let wsSettled = false;
const wsDone = () => { if (!wsSettled) { wsSettled = true; window.done++; } };
try {
  const ws = new WebSocket("ws://TARGET/ws");
  ws.onopen = () => { R.wsOpened = true; ws.send(JSON.stringify({ type: "start" })); };
  ws.onmessage = () => { R.wsMessages = (R.wsMessages || 0) + 1; wsDone(); };
  ws.onclose = (e) => { R.wsClose = e.code; wsDone(); };
} catch (e) { R.wsError = String(e); wsDone(); }
function doc(name) {
  const fd = new FormData();
  fd.append("files", new Blob(["Planted by another site: the vault code is 0000."], { type: "text/plain" }), name);
  return fd;
}
fetch("http://TARGET/api/corpus", { method: "POST", body: doc("planted-cors.txt") })
  .then((r) => { R.fetchStatus = r.status; }).catch((e) => { R.fetchError = String(e); })
  .finally(() => window.done++);
fetch("http://TARGET/api/corpus", { method: "POST", body: doc("planted-no-cors.txt"), mode: "no-cors" })
  .then((r) => { R.noCorsType = r.type; }).catch((e) => { R.noCorsError = String(e); })
  .finally(() => window.done++);
const dt = new DataTransfer();
dt.items.add(new File(["Planted by a form."], "planted-form.txt", { type: "text/plain" }));
document.getElementById("file").files = dt.files;
</script></body></html>
"""


class AttackerSite:
    """A second HTTP server on loopback (another port: another origin) serving the page."""

    def __init__(self, root: Path, target: str) -> None:
        (root / "attack.html").write_text(ATTACK.replace("TARGET", target))
        handler = functools.partial(_Quiet, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/attack.html"

    def __enter__(self) -> AttackerSite:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_a_page_of_another_origin_cannot_use_the_server(chromium_path, real_assistant, tmp_path, caplog):
    from playwright.sync_api import sync_playwright

    uploads = tmp_path / "uploads"
    app = create_app(real_assistant, upload_dir=uploads)
    before = store_digest(real_assistant, uploads)
    caplog.set_level(logging.WARNING, logger="stepvox.server")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--host-resolver-rules=MAP rebind.test 127.0.0.1"]
    with ServerThread(app) as srv, AttackerSite(tmp_path, f"127.0.0.1:{srv.port}") as site, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=args)
        try:
            page = browser.new_page()
            page.goto(site.url)
            page.wait_for_function("() => window.done >= 3", timeout=30_000)
            results = page.evaluate("() => window.results")
            with page.expect_navigation(timeout=30_000) as nav:
                page.evaluate("() => document.getElementById('f').submit()")
            form_status = nav.value.status
            rebound = page.goto(f"http://rebind.test:{srv.port}/")
            rebound_status = rebound.status if rebound else None
            # the server's own page (same origin) still works
            page.goto(srv.url + "/")
            own_ws = page.evaluate(
                """() => new Promise((done) => {
                    const ws = new WebSocket(`ws://${location.host}/ws`);
                    ws.onopen = () => { ws.close(); done(true); };
                    ws.onerror = () => done(false);
                })"""
            )
        finally:
            browser.close()
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert not results.get("wsOpened") and not results.get("wsMessages"), results
    assert results.get("wsClose") == 1006, results  # the handshake failed (HTTP 403)
    assert "fetchStatus" not in results and "fetchError" in results, results
    assert form_status == 403
    assert rebound_status == 400
    assert own_ws is True
    origin = f"http://127.0.0.1:{site.url.split(':')[2].split('/')[0]}"
    assert sum(f"websocket /ws: Origin '{origin}'" in m for m in refusals) == 1, refusals
    assert sum(f"http /api/corpus: Origin '{origin}'" in m for m in refusals) == 3, refusals
    assert any("Host 'rebind.test" in m for m in refusals), refusals
    assert store_digest(real_assistant, uploads) == before
    assert not any("planted" in d["source"] for d in real_assistant.corpus.documents())
