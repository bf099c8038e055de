#!/usr/bin/python3
"""A tiny HTTP server on 127.0.0.1 for the spice-html5 interop tests.

Serves Debian's spice-html5 (/usr/share/spice-html5) unchanged, plus:
  /wrap.html?<query>  a wrapper page: spice_auto.html?<query> in a same-origin
                      iframe, and a script that reports what the page shows
                      (the primary canvas as PNG, spice-html5's messages,
                      whether it asked for a password) and types ESC into the
                      canvas when told to;
  /report (POST)      where the wrapper posts its JSON reports;
  /cmd                what the wrapper should do next ("key", "canvas" for
                      the canvas again, "status" or "");
  /hold               answers only when the test says done, so the page's
                      load event (which chromium --dump-dom waits for) comes
                      when the test has seen what it needs.
Standalone: html5_http.py serves on a free port until interrupted.
"""
import argparse
import json
import os
import queue
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

HTML5_ROOT = "/usr/share/spice-html5"

WRAPPER = """<!doctype html>
<html><body style="margin:0">
<iframe id="f" src="spice_auto.html?%(query)s" width="1100" height="900"></iframe>
<script>
const f = document.getElementById('f');
let prompted = false, sent_canvas = false;
function post(obj) {
  return fetch('/report', {method: 'POST', body: JSON.stringify(obj)});
}
function doc() { try { return f.contentDocument; } catch (e) { return null; } }
function messages() {
  const d = doc(); const m = d && d.getElementById('message-div');
  return m ? m.textContent : '';
}
function key(type) {
  const c = doc() && doc().getElementById('spice_surface_0');
  if (!c) return false;
  const ev = new KeyboardEvent(type, {bubbles: true, cancelable: true});
  Object.defineProperty(ev, 'keyCode', {value: 27});  // ESC: spice-html5 reads keyCode
  c.dispatchEvent(ev);
  return true;
}
setInterval(() => {
  // A wrong password makes spice_auto.html prompt() for another: record it
  // instead of blocking the headless browser.
  if (f.contentWindow && !f.contentWindow.__rs_prompt) {
    f.contentWindow.__rs_prompt = true;
    f.contentWindow.prompt = () => { prompted = true; post({event: 'prompt', messages: messages()}); return null; };
  }
}, 20);
setInterval(async () => {
  const c = doc() && doc().getElementById('spice_surface_0');
  if (c && !sent_canvas && performance.now() > %(settle_ms)d) {
    sent_canvas = true;
    await post({event: 'canvas', width: c.width, height: c.height, png: c.toDataURL('image/png'),
                messages: messages()});
  }
  const r = await fetch('/cmd');
  const cmd = await r.text();
  if (cmd === 'key') {
    const ok = key('keydown');
    setTimeout(() => { key('keyup'); post({event: 'key', ok: ok}); }, 100);
  } else if (cmd === 'canvas') {
    post(c ? {event: 'canvas', width: c.width, height: c.height, png: c.toDataURL('image/png'),
              messages: messages()} : {event: 'canvas-missing', messages: messages()});
  } else if (cmd === 'status') {
    post({event: 'status', canvas: !!c, prompted: prompted, messages: messages()});
  }
}, 250);
</script>
<img src="/hold">
</body></html>
"""


class Html5Server:
    """The server on a free port of 127.0.0.1, in a thread; reports arrive on
    `reports` (a queue of dicts); cmd() queues one command for the page."""

    def __init__(self, settle_ms=2000):
        self.reports = queue.Queue()
        self._cmds = queue.Queue()
        self._done = threading.Event()
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=HTML5_ROOT, **kw)

            def log_message(self, *_a):
                pass

            def _send(self, body, ctype="text/plain"):
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path == "/wrap.html":
                    return self._send(WRAPPER % {"query": query, "settle_ms": settle_ms},
                                      "text/html")
                if path == "/cmd":
                    try:
                        return self._send(outer._cmds.get_nowait())
                    except queue.Empty:
                        return self._send("")
                if path == "/hold":
                    outer._done.wait(120)
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return super().do_GET()

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                try:
                    outer.reports.put(json.loads(body))
                except ValueError:
                    pass
                self._send("ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def cmd(self, c):
        self._cmds.put(c)

    def done(self):
        self._done.set()

    def wait_report(self, event, timeout):
        """The next report of kind `event` (others are dropped), or None."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                r = self.reports.get(timeout=left)
            except queue.Empty:
                return None
            if r.get("event") == event:
                return r

    def __enter__(self):
        if not os.path.exists(os.path.join(HTML5_ROOT, "spice_auto.html")):
            raise RuntimeError(f"{HTML5_ROOT}/spice_auto.html not found (install spice-html5)")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.parse_args()
    with Html5Server() as s:
        print(f"http://127.0.0.1:{s.port}/spice_auto.html?host=127.0.0.1&port=5900&path=",
              flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
