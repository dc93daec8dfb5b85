"""Starting glimpse-server on a loopback port and talking to it, with the standard library only
(shared by test_server.py and samples/server/load-test.py's ctest run)."""
import base64
import http.client
import json
import os
import re
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zlib


class Server:
    """glimpse-server on 127.0.0.1 and a free port; stopped (SIGTERM) on close()."""

    def __init__(self, binary, model, *args, wait_ready=True, env=None):
        self.proc = subprocess.Popen([binary, "--model", model, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=None if env is None else {**os.environ, **env})
        # stderr (a line per request) is drained as it comes: a pipe nobody reads fills after
        # ~2000 requests and blocks the server's writes.
        self._err = []
        self._err_thread = threading.Thread(target=lambda: self._err.extend(iter(self.proc.stderr.readline, "")),
                                            daemon=True)
        self._err_thread.start()
        line = self.proc.stdout.readline()
        m = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("glimpse-server did not start: %r %s" % (line, self.stderr_text()))
        self.host, self.port = m.group(1), int(m.group(2))
        self.url = "http://%s:%d" % (self.host, self.port)
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            status, _ = self.get("/health")
            if status == 200:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("glimpse-server exited: " + self.stderr_text())
            time.sleep(0.05)
        raise RuntimeError("glimpse-server not ready after %d s" % timeout)

    def stderr_text(self):
        """What the server wrote to stderr; all of it once the process has ended."""
        if self.proc.poll() is not None:
            self._err_thread.join(10)
        return "".join(self._err)

    def get(self, path):
        return request(self.url + path)

    def chat(self, body, raw=None, content_type="application/json"):
        data = raw if raw is not None else json.dumps(body).encode()
        return request(self.url + "/v1/chat/completions", data, content_type)

    def stream(self, body):
        """POSTs a stream: true request; returns (status, [event JSON or '[DONE]'])."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            return resp.status, [json.loads(resp.read())]
        assert resp.getheader("Content-Type").startswith("text/event-stream"), resp.getheader("Content-Type")
        events = []
        for line in resp.read().decode().split("\n"):
            if line.startswith("data: "):
                payload = line[6:]
                events.append(payload if payload == "[DONE]" else json.loads(payload))
        conn.close()
        return 200, events

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err_thread.join(10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


def request(url, data=None, content_type="application/json"):
    """(status, parsed JSON body) for any status."""
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body else None


def data_uri(data, mime="image/png"):
    return "data:%s;base64,%s" % (mime, base64.b64encode(data).decode())


def chat_body(image_url, text=None, **extra):
    parts = [{"type": "image_url", "image_url": {"url": image_url}}]
    if text is not None:
        parts.insert(0, {"type": "text", "text": text})
    return {"messages": [{"role": "user", "content": parts}], **extra}


def big_png(width, height):
    """A valid, highly compressible PNG that takes glimpse a while to decode."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    row = b"\0" + bytes([200, 100, 50]) * width
    z = zlib.compressobj(1)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def env_path(name):
    value = os.environ.get(name)
    if not value:
        raise SystemExit("set %s (the ctest sets it)" % name)
    return value
