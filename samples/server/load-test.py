#!/usr/bin/env python3
"""Load test for glimpse-server: N chat-completion requests, C at a time, over a set of images;
prints throughput and latency percentiles, and exits 1 if any request failed.

    build/glimpse-server --model models/blip-scenes-caption --parallel 2 --queue 64 &
    samples/server/load-test.py --url http://127.0.0.1:8080 --requests 500 --concurrency 16 samples/images/*.png

Standard library only. The request bodies are built before the clock starts."""
import argparse
import base64
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def run(url, images, requests, concurrency, question=None, stream=False):
    """Returns a dict of results; 'errors' lists (status, message) of the failed requests."""
    parsed = urllib.parse.urlparse(url)
    bodies = []
    for path in images:
        with open(path, "rb") as f:
            uri = "data:image/%s;base64,%s" % (os.path.splitext(path)[1][1:] or "png", base64.b64encode(f.read()).decode())
        parts = [{"type": "image_url", "image_url": {"url": uri}}]
        if question:
            parts.insert(0, {"type": "text", "text": question})
        bodies.append(json.dumps({"messages": [{"role": "user", "content": parts}], "stream": stream}).encode())
    latencies, errors, replies = [], [], {}
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker():
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=120)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200
                text = None
                if ok and not stream:
                    text = json.loads(data)["choices"][0]["message"]["content"]
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=120)
                ok, data = False, str(e).encode()
                resp = None
            dt = time.perf_counter() - t0
            with lock:
                if ok:
                    latencies.append(dt)
                    replies.setdefault(i % len(bodies), set()).add(text)
                else:
                    errors.append((resp.status if resp else None, data[:200].decode(errors="replace")))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": requests, "concurrency": concurrency, "ok": len(latencies), "errors": errors,
        "wall_s": wall, "throughput_rps": len(latencies) / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000, "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        # the same image must get the same reply however busy the server is (greedy decoding)
        "inconsistent": sorted(k for k, v in replies.items() if len(v) > 1),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--question", help="for a VQA model: the question sent with every image")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("images", nargs="+")
    a = ap.parse_args(argv)
    r = run(a.url, a.images, a.requests, a.concurrency, a.question, a.stream)
    if a.json:
        print(json.dumps(r))
    else:
        print("%d requests, %d concurrent: %d ok, %d failed in %.2f s" % (r["requests"], r["concurrency"], r["ok"],
                                                                           len(r["errors"]), r["wall_s"]))
        print("throughput %.1f requests/s; latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms" %
              (r["throughput_rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"]))
        for status, message in r["errors"][:5]:
            print("  failed: HTTP %s %s" % (status, message), file=sys.stderr)
    return 1 if r["errors"] or r["inconsistent"] else 0


if __name__ == "__main__":
    sys.exit(main())
