"""glimpse-server against real HTTP clients (urllib and curl) on a loopback port.

Environment (set by the ctest): GLIMPSE_SERVER, GLIMPSE_CLI (build/glimpse, the reference for
every caption and answer), GLIMPSE_MODELS (models/), GLIMPSE_SAMPLES (samples/images/)."""
import functools
import http.client
import http.server
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverlib import Server, big_png, chat_body, data_uri, env_path  # noqa: E402

SERVER = env_path("GLIMPSE_SERVER")
CLI = env_path("GLIMPSE_CLI")
MODELS = env_path("GLIMPSE_MODELS")
SAMPLES = env_path("GLIMPSE_SAMPLES")
CAPTION = os.path.join(MODELS, "blip-scenes-caption")
VQA = os.path.join(MODELS, "blip-scenes-vqa")
IMAGES = sorted(os.path.join(SAMPLES, f) for f in os.listdir(SAMPLES) if f.endswith(".png"))


def cli(*args):
    out = subprocess.run([CLI, *args, "--json"], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def read(path):
    with open(path, "rb") as f:
        return f.read()


class CaptionServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # --media-path: a folder with a copy of one sample, a README and a symlink that leads out
        cls.media = tempfile.TemporaryDirectory()
        cls.outside = tempfile.TemporaryDirectory()
        shutil.copy(IMAGES[1], cls.media.name)
        shutil.copy(os.path.join(SAMPLES, "README.md"), cls.media.name)
        shutil.copy(IMAGES[0], cls.outside.name)
        os.symlink(cls.outside.name, os.path.join(cls.media.name, "link"))
        cls.server = Server(SERVER, CAPTION, "--media-path", cls.media.name)
        cls.expected = {r["file"]: r["generated_text"] for r in cli("caption", "--model", CAPTION, *IMAGES)}

    @classmethod
    def tearDownClass(cls):
        # SIGTERM ends it cleanly
        self_rc = cls.server.close()
        cls.media.cleanup()
        cls.outside.cleanup()
        assert self_rc == 0, "glimpse-server exited with %s on SIGTERM" % self_rc

    def test_health_and_models(self):
        status, body = self.server.get("/health")
        self.assertEqual((status, body["status"], body["slots_idle"], body["queued"]), (200, "ok", 1, 0))
        status, body = self.server.get("/v1/models")
        self.assertEqual(status, 200)
        model = body["data"][0]
        self.assertEqual((body["object"], model["id"], model["object"], model["task"]),
                         ("list", "blip-scenes-caption", "model", "image-to-text"))
        self.assertIn("image", model["input_modalities"])

    def test_captions_equal_the_cli(self):
        for path in IMAGES:
            status, body = self.server.chat(chat_body(data_uri(read(path)), model="blip-scenes-caption"))
            self.assertEqual(status, 200, body)
            choice = body["choices"][0]
            self.assertEqual(body["object"], "chat.completion")
            self.assertEqual(choice["message"], {"role": "assistant", "content": self.expected[path]})
            self.assertEqual(choice["finish_reason"], "stop")
            usage = body["usage"]
            self.assertEqual(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"])
            self.assertGreater(usage["completion_tokens"], 1)

    def test_curl_with_a_file_url(self):
        path = IMAGES[1]
        body = json.dumps(chat_body("file://" + os.path.join(self.media.name, os.path.basename(path)), "", model=None))
        out = subprocess.run(["curl", "-sS", "-H", "Content-Type: application/json", "-d", body,
                              self.server.url + "/v1/chat/completions"], check=True, capture_output=True, text=True)
        reply = json.loads(out.stdout)
        self.assertEqual(reply["choices"][0]["message"]["content"], self.expected[path])

    def test_prompt_is_continued(self):
        path = IMAGES[0]
        want = cli("caption", "--model", CAPTION, "--prompt", "a large", path)[0]["generated_text"]
        status, body = self.server.chat(chat_body(data_uri(read(path)), "a large"))
        self.assertEqual(status, 200, body)
        content = body["choices"][0]["message"]["content"]
        # The reply is the continuation; BLIP's own text repeats the prompt before it.
        self.assertTrue(content and want.endswith(content) and want.startswith("a large"), (want, content))
        self.assertEqual(body["usage"]["prompt_tokens"], 3)  # [DEC] a large

    def test_streaming_equals_the_plain_reply(self):
        path = IMAGES[3]
        status, events = self.server.stream(chat_body(data_uri(read(path)), stream=True,
                                                      stream_options={"include_usage": True}))
        self.assertEqual(status, 200)
        self.assertEqual(events[-1], "[DONE]")
        chunks, usage = events[:-2], events[-2]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertTrue(all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks))
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        self.assertGreater(len(chunks), 5)  # token by token, not one piece
        self.assertEqual(text, self.expected[path])
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(usage["choices"], [])
        self.assertEqual(usage["usage"]["completion_tokens"] + usage["usage"]["prompt_tokens"],
                         usage["usage"]["total_tokens"])

    def test_max_tokens_gives_length(self):
        status, body = self.server.chat(chat_body(data_uri(read(IMAGES[0])), max_tokens=3))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["choices"][0]["finish_reason"], "length")
        self.assertEqual(body["usage"]["completion_tokens"], 3)
        self.assertTrue(self.expected[IMAGES[0]].startswith(body["choices"][0]["message"]["content"]))

    def test_sampling_with_a_seed_repeats(self):
        body = chat_body(data_uri(read(IMAGES[2])), temperature=1.5, seed=7)
        a, b = self.server.chat(body), self.server.chat(body)
        self.assertEqual((a[0], b[0]), (200, 200))
        self.assertEqual(a[1]["choices"][0]["message"], b[1]["choices"][0]["message"])

    def assert_error(self, status_body, status, fragment, code=None):
        got_status, body = status_body
        self.assertEqual(got_status, status, body)
        err = body["error"]
        self.assertIn(fragment, err["message"])
        self.assertTrue(err["type"])
        if code:
            self.assertEqual(err["code"], code)

    def test_bad_requests_are_400(self):
        png = data_uri(read(IMAGES[0]))
        s = self.server
        self.assert_error(s.chat(None, raw=b"{not json"), 400, "not valid JSON")
        self.assert_error(s.chat([1, 2]), 400, "JSON object")
        self.assert_error(s.chat({"messages": []}), 400, "messages must be a non-empty array")
        self.assert_error(s.chat({"messages": [{"role": "user", "content": "hi"}]}), 400, "needs an image_url")
        self.assert_error(s.chat({"messages": [{"role": "system", "content": "x"}]}), 400, "no user message")
        self.assert_error(s.chat(chat_body(png, max_tokens=0)), 400, "max_tokens")
        self.assert_error(s.chat(chat_body(png, temperature="hot")), 400, "temperature")
        self.assert_error(s.chat(chat_body(png, n=2)), 400, "n must be 1")
        two = chat_body(png)
        two["messages"][0]["content"].append({"type": "image_url", "image_url": {"url": png}})
        self.assert_error(s.chat(two), 400, "one image per request")
        audio = chat_body(png)
        audio["messages"][0]["content"].append({"type": "input_audio", "input_audio": {}})
        self.assert_error(s.chat(audio), 400, "unsupported content part type")
        self.assert_error(s.chat(chat_body(png, model="gpt-4o")), 404, "does not exist", "model_not_found")

    def test_bad_images_are_400(self):
        s = self.server
        self.assert_error(s.chat(chat_body("data:image/png;base64,@@@@")), 400, "not valid base64")
        self.assert_error(s.chat(chat_body("data:image/png,rawbytes")), 400, "must be base64")
        self.assert_error(s.chat(chat_body(data_uri(b"this is not an image at all"))), 400, "", "invalid_image")
        truncated = read(IMAGES[0])[:200]
        self.assert_error(s.chat(chat_body(data_uri(truncated))), 400, "", "invalid_image")
        self.assert_error(s.chat(chat_body("https://example.com/cat.jpg")), 400, "remote image URLs are disabled")
        self.assert_error(s.chat(chat_body("ftp://example.com/cat.jpg")), 400, "unsupported image URL")
        self.assert_error(s.chat(chat_body("file:///etc/passwd")), 403, "outside the --media-path")
        media = self.media.name
        self.assert_error(s.chat(chat_body("file://" + media + "/../" + os.path.basename(media) + "/README.md")), 400,
                          "", "invalid_image")  # '..' that stays inside is fine; README.md is no image
        self.assert_error(s.chat(chat_body("file://" + media + "/../x.png")), 403, "outside the --media-path")
        self.assert_error(s.chat(chat_body("file:///no/such/file.png")), 403, "outside the --media-path")
        self.assert_error(s.chat(chat_body("file://" + media + "/missing.png")), 400, "cannot open")
        self.assert_error(s.chat(chat_body("file://" + media + "/link/" + os.path.basename(IMAGES[0]))), 403, "outside")
        self.assert_error(s.chat(chat_body("file://relative.png")), 400, "absolute path")
        # the server is still fine afterwards
        self.assertEqual(s.chat(chat_body(data_uri(read(IMAGES[0]))))[0], 200)

    def test_requests_a_web_page_could_send_are_refused(self):
        """DNS rebinding and cross-site requests: a foreign Host or Origin is 403, a body not declared
        as JSON is 415, all before the body is read; local pages and plain clients still work."""
        body = json.dumps(chat_body(data_uri(read(IMAGES[0])))).encode()

        def send(headers, method="POST", path="/v1/chat/completions"):
            conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
            conn.request(method, path, body if method == "POST" else None, headers)  # a given Host replaces its own
            resp = conn.getresponse()
            payload = resp.read()
            conn.close()
            return resp.status, json.loads(payload) if payload else None

        json_type = {"Content-Type": "application/json"}
        for headers, status, code in [
                ({"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
                ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
                ({}, 415, "unsupported_media_type"),
                ({**json_type, "Host": "attacker.example"}, 403, "forbidden_host"),
                ({**json_type, "Host": "attacker.example:%d" % self.server.port}, 403, "forbidden_host"),
                ({**json_type, "Origin": "https://attacker.example"}, 403, "forbidden_origin"),
                ({**json_type, "Origin": "null"}, 403, "forbidden_origin")]:
            got, err = send(headers)
            self.assertEqual((got, err["error"]["code"]), (status, code), headers)
        self.assertIn("--allow-host attacker.example", send({**json_type, "Host": "attacker.example"})[1]["error"]["message"])
        self.assertEqual(send({"Host": "attacker.example"}, "GET", "/health")[0], 403)
        # this machine's pages and clients that send neither header are served
        want = {"role": "assistant", "content": self.expected[IMAGES[0]]}
        for headers in [json_type, {**json_type, "Origin": "http://localhost:3000"},
                        {"Content-Type": "application/json; charset=utf-8", "Host": "localhost:%d" % self.server.port},
                        {**json_type, "Host": "[::1]:%d" % self.server.port, "Origin": "http://127.0.0.1:8000"}]:
            status, reply = send(headers)
            self.assertEqual((status, reply["choices"][0]["message"]), (200, want), headers)

    def test_allow_host_and_allow_origin(self):
        server = Server(SERVER, CAPTION, "--allow-host", "glimpse.lan", "--allow-origin", "https://app.example")
        try:
            body = json.dumps(chat_body(data_uri(read(IMAGES[0])))).encode()

            def status_of(headers):
                conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
                conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json", **headers})
                resp = conn.getresponse()
                resp.read()
                conn.close()
                return resp.status
            self.assertEqual(status_of({"Host": "glimpse.lan:%d" % server.port, "Origin": "https://app.example"}), 200)
            self.assertEqual(status_of({"Host": "other.lan"}), 403)
            self.assertEqual(status_of({"Origin": "https://evil.example"}), 403)
        finally:
            server.close()

    def test_unknown_route_is_404_json(self):
        self.assert_error(self.server.get("/v1/completions"), 404, "no route")


class VqaServer(unittest.TestCase):
    def test_answers_equal_the_cli(self):
        server = Server(SERVER, VQA)
        try:
            for path, question in [(IMAGES[0], "what color is the star?"), (IMAGES[2], "how many circles are there?"),
                                   (IMAGES[3], "where is the orange triangle?")]:
                want = cli("vqa", "--model", VQA, "--question", question, path)[0]
                want = want.get("answer", want.get("generated_text"))
                status, body = server.chat(chat_body(data_uri(read(path)), question))
                self.assertEqual(status, 200, body)
                self.assertEqual(body["choices"][0]["message"]["content"], want)
            status, body = server.chat(chat_body(data_uri(read(IMAGES[0]))))
            self.assertEqual(status, 400)
            self.assertIn("needs a question", body["error"]["message"])
            status, body = server.get("/v1/models")
            self.assertEqual(body["data"][0]["task"], "visual-question-answering")
        finally:
            self.assertEqual(server.close(), 0)


class Florence2Server(unittest.TestCase):
    """A task token at the start of the text (none: <CAPTION>): text tasks answer with text, region
    tasks with post_process_generation's result as JSON text, streamed or not; free questions are 400."""

    def test_tasks_equal_the_cli(self):
        model = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "florence2", "tiny")
        image = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "blip", "pattern.png")
        server = Server(SERVER, model)
        try:
            for text, flags in [(None, []), ("<OD>", ["--task", "<OD>"]),
                                ("<CAPTION_TO_PHRASE_GROUNDING>a green car", ["--prompt", "<CAPTION_TO_PHRASE_GROUNDING>a green car"])]:
                want = cli("caption", "--model", model, "--max-new-tokens", "12", *flags, image)[0]
                status, body = server.chat(chat_body(data_uri(read(image)), text, max_tokens=12))
                self.assertEqual(status, 200, body)
                content = body["choices"][0]["message"]["content"]
                answer = next(iter(want["result"].values()))
                if isinstance(answer, str):
                    self.assertEqual(content, answer)
                else:
                    self.assertEqual(json.loads(content), want["result"])
                    self.assertTrue(content.startswith('{"%s":{"bboxes":[' % want["task"]), content)
                # streamed: the same content, in the final delta
                status, events = server.stream(chat_body(data_uri(read(image)), text, max_tokens=12, stream=True))
                self.assertEqual(status, 200)
                self.assertEqual(events[-1], "[DONE]")
                self.assertEqual("".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1]), content)
            status, body = server.chat(chat_body(data_uri(read(image)), "what colour is the car?"))
            self.assertEqual(status, 400, body)
            self.assertIn("free questions are not a Florence-2 task", body["error"]["message"])
            status, body = server.chat(chat_body(data_uri(read(image)), "<OPEN_VOCABULARY_DETECTION>"))
            self.assertEqual(status, 400, body)
            self.assertIn("needs a text", body["error"]["message"])
        finally:
            self.assertEqual(server.close(), 0)


class Limits(unittest.TestCase):
    def test_oversize_body_is_413(self):
        server = Server(SERVER, CAPTION, "--max-body-mb", "0.25")
        try:
            blob = data_uri(os.urandom(600_000))
            status, body = server.chat(chat_body(blob))
            self.assertEqual(status, 413, body)
            self.assertIn("over the server's limit", body["error"]["message"])
            # an image under the body limit but over the image limit once decoded from base64
            status, body = server.chat(chat_body(data_uri(os.urandom(270_000))))
            self.assertEqual(status, 413, body)
            self.assertEqual(server.chat(chat_body(data_uri(read(IMAGES[0]))))[0], 200)
        finally:
            server.close()

    def test_full_queue_is_503_and_slow_requests_time_out(self):
        slow = chat_body(data_uri(big_png(12000, 12000)))  # ~1-2 s to decode: holds a session
        server = Server(SERVER, CAPTION, "--parallel", "1", "--queue", "1", "--max-body-mb", "8",
                        "--max-image-pixels", "200000000")
        try:
            results = []
            threads = [threading.Thread(target=lambda: results.append(server.chat(slow))) for _ in range(2)]

            def wait_for(busy, queued):
                end = time.time() + 30
                while time.time() < end:
                    h = server.get("/health")[1]
                    if h["slots_busy"] == busy and h["queued"] == queued:
                        return True
                    time.sleep(0.005)
                return False

            threads[0].start()
            self.assertTrue(wait_for(1, 0))
            threads[1].start()
            self.assertTrue(wait_for(1, 1))
            status, body = server.chat(chat_body(data_uri(read(IMAGES[0]))))
            self.assertEqual(status, 503, body)
            self.assertEqual(body["error"]["code"], "queue_full")
            for t in threads:
                t.join()
            self.assertEqual([r[0] for r in results], [200, 200])
            self.assertEqual(server.chat(chat_body(data_uri(read(IMAGES[0]))))[0], 200)
        finally:
            server.close()
        server = Server(SERVER, CAPTION, "--timeout", "0.2", "--max-body-mb", "8", "--max-image-pixels", "200000000")
        try:
            status, body = server.chat(slow)
            self.assertEqual(status, 504, body)
            self.assertEqual(body["error"]["code"], "timeout")
            self.assertEqual(server.chat(chat_body(data_uri(read(IMAGES[0]))))[0], 200)
        finally:
            server.close()

    def test_remote_urls_when_allowed(self):
        images, base = image_server()
        name = os.path.basename(IMAGES[0])
        # --allow-remote-urls alone: only public addresses; this one is loopback, refused before
        # any connection (the image server sees no request).
        server = Server(SERVER, CAPTION, "--allow-remote-urls")
        try:
            status, body = server.chat(chat_body(base + name))
            self.assertEqual(status, 400, body)
            self.assertIn("public addresses", body["error"]["message"])
            for url in ["http://localhost:%d/%s" % (images.server_address[1], name), "http://[::1]:1/x.png",
                        "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x.png"]:
                self.assertEqual(server.chat(chat_body(url))[0], 400, url)
            self.assertIn("no TLS", server.chat(chat_body("https://example.com/x.png"))[1]["error"]["message"])
            self.assertEqual(images.requests, [])
        finally:
            server.close()
        server = Server(SERVER, CAPTION, "--allow-remote-urls", "--allow-private-urls", "--max-body-mb", "1",
                        "--timeout", "3")
        try:
            want = cli("caption", "--model", CAPTION, IMAGES[0])[0]["generated_text"]
            status, body = server.chat(chat_body(base + name))
            self.assertEqual(status, 200, body)
            self.assertEqual(body["choices"][0]["message"]["content"], want)
            status, body = server.chat(chat_body(base + "missing.png"))
            self.assertEqual((status, body["error"]["type"]), (502, "upstream_error"), body)
            self.assertIn("HTTP 404", body["error"]["message"])
            # redirects: followed (each hop checked), at most 5
            self.assertEqual(server.chat(chat_body(base + "redirect/3/" + name))[0], 200)
            status, body = server.chat(chat_body(base + "redirect/9/" + name))
            self.assertEqual(status, 502, body)
            self.assertIn("more than 5 redirects", body["error"]["message"])
            # an image over the body limit, and an upstream that trickles: cut at the limit and at
            # the request's --timeout (it held requests 30 s past a 5 s timeout before)
            self.assertEqual(server.chat(chat_body(base + "big"))[0], 413)
            status, body = server.chat(chat_body(base + "slow"))
            self.assertEqual((status, body["error"]["code"]), (504, "timeout"), body)
            # a closed port and a port that accepts and hangs up read the same
            closed = socket.socket()
            closed.bind(("127.0.0.1", 0))
            closed_port = closed.getsockname()[1]
            closed.close()
            hangup = socket.socket()
            hangup.bind(("127.0.0.1", 0))
            hangup.listen(4)
            threading.Thread(target=lambda: [hangup.accept()[0].close() for _ in range(1)], daemon=True).start()
            messages = []
            for port in [closed_port, hangup.getsockname()[1]]:
                status, body = server.chat(chat_body("http://127.0.0.1:%d/x.png" % port))
                self.assertEqual(status, 502, body)
                messages.append(body["error"]["message"].replace(str(port), "PORT"))
            hangup.close()
            self.assertEqual(messages[0], messages[1])
        finally:
            server.close()
            images.shutdown()
            images.server_close()

    def test_503_while_loading(self):
        # The load waits while a gate file exists (a hook for tests): "loading" lasts as long as
        # the test needs, then the same server becomes ready.
        with tempfile.TemporaryDirectory() as d:
            gate = os.path.join(d, "hold")
            open(gate, "w").close()
            server = Server(SERVER, CAPTION, wait_ready=False, env={"GLIMPSE_SERVER_HOLD_LOAD_WHILE": gate})
            try:
                self.assertEqual(server.get("/health"), (503, {"status": "loading"}))
                status, body = server.chat(chat_body(data_uri(read(IMAGES[0]))))
                self.assertEqual((status, body["error"]["code"]), (503, "loading"))
                self.assertEqual(server.get("/v1/models")[0], 503)
                os.remove(gate)
                server.wait_ready()
                self.assertEqual(server.chat(chat_body(data_uri(read(IMAGES[0]))))[0], 200)
            finally:
                server.close()

    def test_a_lost_device_fails_one_request_and_the_next_recovers(self):
        # The runtime's test switch makes the 3rd pass report VK_ERROR_DEVICE_LOST: that request
        # is answered 503 (retry), and the next one recreates the device and the model's state.
        want = cli("caption", "--model", CAPTION, IMAGES[0])[0]["generated_text"]
        server = Server(SERVER, CAPTION, env={"GLIMPSE_TEST_DEVICE_LOST_AT": "3"})
        try:
            status, body = server.chat(chat_body(data_uri(read(IMAGES[0]))))
            self.assertEqual((status, body["error"]["code"]), (503, "device_error"), body)
            self.assertIn("VK_ERROR_DEVICE_LOST", body["error"]["message"])
            for _ in range(2):
                status, body = server.chat(chat_body(data_uri(read(IMAGES[0]))))
                self.assertEqual(status, 200, body)
                self.assertEqual(body["choices"][0]["message"]["content"], want)
            self.assertEqual(server.get("/health")[0], 200)
        finally:
            server.close()

    def test_special_files_as_weights_end_the_load_at_once(self):
        # A FIFO as model.safetensors used to block the load for good (open() waits for a writer).
        with tempfile.TemporaryDirectory() as d:
            for name in os.listdir(CAPTION):
                if name != "model.safetensors":
                    shutil.copy(os.path.join(CAPTION, name), d)
            os.mkfifo(os.path.join(d, "model.safetensors"))
            server = Server(SERVER, d, wait_ready=False)
            try:
                self.assertEqual(server.proc.wait(30), 1)
                self.assertIn("not a regular file", server.stderr_text())
            finally:
                server.close()

    def test_a_broken_model_folder_ends_the_server(self):
        with tempfile.TemporaryDirectory() as empty:
            server = Server(SERVER, empty, wait_ready=False)
            rc = server.proc.wait(30)
            err = server.stderr_text()
            server.close()
            self.assertEqual(rc, 1)
            self.assertIn("cannot load", err)


class ImageHandler(http.server.SimpleHTTPRequestHandler):
    """The samples folder, plus /redirect/N/NAME (N hops), /big (2 MB) and /slow (a byte a second)."""
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        parts = self.path.split("/")
        if len(parts) == 4 and parts[1] == "redirect":
            hops = int(parts[2])
            self.send_response(302)
            self.send_header("Location", "/redirect/%d/%s" % (hops - 1, parts[3]) if hops > 1 else "/" + parts[3])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(2 << 20))
            self.end_headers()
            try:
                self.wfile.write(b"\0" * (2 << 20))
            except OSError:
                pass  # the server stops reading at its limit
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(30):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
        else:
            super().do_GET()


def image_server():
    images = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(ImageHandler, directory=SAMPLES))
    images.requests = []
    images.daemon_threads = True
    threading.Thread(target=images.serve_forever, daemon=True).start()
    return images, "http://127.0.0.1:%d/" % images.server_address[1]


def rss_peak_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def http_status(data):
    """The status code of a raw HTTP response's first line, or None."""
    m = data.split(b"\r\n", 1)[0].split(b" ")
    return int(m[1]) if len(m) > 1 and m[1].isdigit() else None


class Hostile(unittest.TestCase):
    """Clients that send too much, too slowly or too deep (issue 21 items 2-5), against a server
    on 127.0.0.1 started by the test."""

    def test_chunked_bodies_are_capped_as_they_arrive(self):
        server = Server(SERVER, CAPTION, "--max-body-mb", "1")
        try:
            # a chunked body under the limit is read like any other
            body = json.dumps(chat_body(data_uri(read(IMAGES[0])))).encode()
            conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
            conn.request("POST", "/v1/chat/completions", iter([body[:100], body[100:]]),
                         {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, encode_chunked=True)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200, resp.read())
            resp.read()
            conn.close()
            # 700 MB chunked used to be read whole (RSS +1 GB), then answered 400; now the
            # answer is 413 once the body passes the limit, with the server's memory flat
            before = rss_peak_kb(server.proc.pid)
            s = socket.create_connection((server.host, server.port), timeout=30)
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"10000\r\n" + b"[" * 0x10000 + b"\r\n"
            sent, answer = 0, b""
            try:
                while sent < (700 << 20) and not answer:
                    s.sendall(chunk)
                    sent += 0x10000
                    if select.select([s], [], [], 0)[0]:
                        answer = s.recv(65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
            if not answer:
                answer = s.recv(65536)
            s.close()
            self.assertEqual(http_status(answer), 413, answer[:300])
            self.assertLess(sent, 64 << 20)
            self.assertLess(rss_peak_kb(server.proc.pid) - before, 64 << 10)
            self.assertEqual(server.get("/health")[0], 200)
        finally:
            server.close()

    def test_slow_clients_do_not_starve_the_server(self):
        # parallel 1 + queue 16 gave httplib 21 threads: 21 clients sending a byte a second made
        # /health time out for as long as they went on. 60 such clients now; /health and a
        # caption still answer, and each slow request is cut at --read-timeout with a 408.
        server = Server(SERVER, CAPTION, "--read-timeout", "3")
        slow = []
        try:
            slow = unfinished_requests(server, 60, b"POST /v1/chat/completions HTTP/1.1\r\n")
            stop = time.time() + 2
            while time.time() < stop:
                for c in slow:
                    c.sendall(b"X")
                status, _ = request_with_timeout(server.url + "/health", 5)
                self.assertEqual(status, 200)
                time.sleep(0.2)
            status, body = request_with_timeout(server.url + "/v1/chat/completions", 30,
                                                json.dumps(chat_body(data_uri(read(IMAGES[0])))).encode())
            self.assertEqual(status, 200, body)
            # past --read-timeout: each slow request is answered 408 and closed
            answers = []
            for c in slow[:5]:
                c.settimeout(10)
                data = b""
                try:
                    while True:
                        got = c.recv(65536)
                        if not got:
                            break
                        data += got
                except OSError:
                    pass
                answers.append(http_status(data))
            self.assertEqual(answers, [408] * 5)
        finally:
            for c in slow:
                c.close()
            server.close()

    def test_the_connection_cap_drops_the_oldest_unfinished_request(self):
        server = Server(SERVER, CAPTION, "--max-connections", "8")
        held = []
        try:
            held = unfinished_requests(server, 30, b"GET /health HTTP/1.1\r\n")  # never finished
            # the cap is full of unfinished requests: a new client still gets through
            status, body = request_with_timeout(server.url + "/health", 5)
            self.assertEqual((status, body["status"]), (200, "ok"))
            # and the oldest holders were closed to make room
            held[0].settimeout(5)
            try:
                self.assertEqual(held[0].recv(100), b"")
            except ConnectionResetError:
                pass  # closed with its bytes unread: a reset, which is closed too
        finally:
            for c in held:
                c.close()
            server.close()

    def test_deep_or_huge_json_is_refused_before_parsing(self):
        # 26 MB of nesting added ~1 GB to the server's peak, three at once 3 GB
        server = Server(SERVER, CAPTION, "--max-body-mb", "20")
        try:
            before = rss_peak_kb(server.proc.pid)
            status, body = server.chat(None, raw=b"[" * (20 << 20))
            self.assertEqual(status, 400, body)
            self.assertIn("deeper than 32 levels", body["error"]["message"])
            status, body = server.chat(None, raw=b"[" + b"0," * (5 << 20) + b"0]")
            self.assertEqual(status, 400, body)
            self.assertIn("JSON values", body["error"]["message"])
            self.assertLess(rss_peak_kb(server.proc.pid) - before, 160 << 10)
            self.assertEqual(server.chat(chat_body(data_uri(read(IMAGES[0]))))[0], 200)
        finally:
            server.close()

    def test_tiny_images_claiming_huge_sizes_are_refused(self):
        server = Server(SERVER, CAPTION, "--max-image-pixels", "1000000")
        try:
            # a 35-byte GIF claiming 13000 x 13000 (1.57 GB and seconds before)
            gif = (b"GIF89a" + struct.pack("<HH", 13000, 13000) + b"\x80\0\0" + b"\0\0\0\xff\xff\xff" +
                   b"\x2c\0\0\0\0" + struct.pack("<HH", 13000, 13000) + b"\0\x02\x02\x4c\x01\0\x3b")
            before = rss_peak_kb(server.proc.pid)
            status, body = server.chat(chat_body(data_uri(gif, "image/gif")))
            self.assertEqual((status, body["error"]["code"]), (400, "invalid_image"), body)
            self.assertIn("truncated", body["error"]["message"])
            # a real image over --max-image-pixels: refused from its header
            status, body = server.chat(chat_body(data_uri(big_png(2000, 1000))))
            self.assertEqual(status, 400, body)
            self.assertIn("exceeds the limit of 1000000", body["error"]["message"])
            self.assertLess(rss_peak_kb(server.proc.pid) - before, 32 << 10)
            # a truncated JPEG: refused, as Pillow refuses it
            jpeg = read(os.path.join(os.path.dirname(__file__), "..", "data", "images", "rgb.jpg"))
            status, body = server.chat(chat_body(data_uri(jpeg[:-2], "image/jpeg")))
            self.assertEqual((status, body["error"]["code"]), (400, "invalid_image"), body)
        finally:
            server.close()


def unfinished_requests(server, count, start):
    """`count` connections that each sent `start` of a request and nothing more (yet)."""
    conns = []
    for _ in range(count):
        c = socket.create_connection((server.host, server.port), timeout=30)
        c.sendall(start)
        conns.append(c)
    return conns


def request_with_timeout(url, timeout, data=None):
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")



if __name__ == "__main__":
    unittest.main(verbosity=2)
