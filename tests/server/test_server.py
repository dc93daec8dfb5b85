"""glimpse-server against real HTTP clients (urllib and curl) on a loopback port.

Environment (set by the ctest): GLIMPSE_SERVER, GLIMPSE_CLI (build/glimpse, the reference for
every caption and answer), GLIMPSE_MODELS (models/), GLIMPSE_SAMPLES (samples/images/)."""
import functools
import http.client
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

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
        server = Server(SERVER, CAPTION, "--parallel", "1", "--queue", "1", "--max-body-mb", "8")
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
        server = Server(SERVER, CAPTION, "--timeout", "0.2", "--max-body-mb", "8")
        try:
            status, body = server.chat(slow)
            self.assertEqual(status, 504, body)
            self.assertEqual(body["error"]["code"], "timeout")
            self.assertEqual(server.chat(chat_body(data_uri(read(IMAGES[0]))))[0], 200)
        finally:
            server.close()

    def test_remote_urls_when_allowed(self):
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass
        handler = functools.partial(Quiet, directory=SAMPLES)
        images = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=images.serve_forever, daemon=True).start()
        server = Server(SERVER, CAPTION, "--allow-remote-urls")
        try:
            base = "http://127.0.0.1:%d/" % images.server_address[1]
            name = os.path.basename(IMAGES[0])
            want = cli("caption", "--model", CAPTION, IMAGES[0])[0]["generated_text"]
            status, body = server.chat(chat_body(base + name))
            self.assertEqual(status, 200, body)
            self.assertEqual(body["choices"][0]["message"]["content"], want)
            status, body = server.chat(chat_body(base + "missing.png"))
            self.assertEqual((status, body["error"]["type"]), (502, "upstream_error"), body)
            self.assertIn("HTTP 404", body["error"]["message"])
        finally:
            server.close()
            images.shutdown()
            images.server_close()

    def test_503_while_loading(self):
        # model.safetensors as a FIFO: the load blocks opening it until this test opens the other
        # end, so "loading" lasts exactly as long as the test needs; then the load fails (not a
        # regular file) and the server ends.
        with tempfile.TemporaryDirectory() as d:
            for name in os.listdir(CAPTION):
                if name != "model.safetensors":
                    shutil.copy(os.path.join(CAPTION, name), d)
            fifo = os.path.join(d, "model.safetensors")
            os.mkfifo(fifo)
            server = Server(SERVER, d, wait_ready=False)
            try:
                self.assertEqual(server.get("/health"), (503, {"status": "loading"}))
                status, body = server.chat(chat_body(data_uri(read(IMAGES[0]))))
                self.assertEqual((status, body["error"]["code"]), (503, "loading"))
                self.assertEqual(server.get("/v1/models")[0], 503)
                with open(fifo, "wb"):
                    pass
                self.assertEqual(server.proc.wait(30), 1)
                self.assertIn("not a regular file", server.proc.stderr.read())
            finally:
                server.close()

    def test_a_broken_model_folder_ends_the_server(self):
        with tempfile.TemporaryDirectory() as empty:
            server = Server(SERVER, empty, wait_ready=False)
            rc = server.proc.wait(30)
            err = server.proc.stderr.read()
            server.close()
            self.assertEqual(rc, 1)
            self.assertIn("cannot load", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
