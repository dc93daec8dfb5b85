"""The server's load test as a check: samples/server/load-test.py against a fresh glimpse-server
on the bundled captioning model; fails on any error or on replies that differ for one image.
Usage: test_load.py REQUESTS CONCURRENCY PARALLEL (environment as test_server.py)."""
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverlib import Server, env_path  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("load_test", os.path.join(here, "..", "..", "samples", "server", "load-test.py"))
load_test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load_test)

requests, concurrency, parallel = (int(a) for a in sys.argv[1:4])
samples = env_path("GLIMPSE_SAMPLES")
images = sorted(os.path.join(samples, f) for f in os.listdir(samples) if f.endswith(".png"))
server = Server(env_path("GLIMPSE_SERVER"), os.path.join(env_path("GLIMPSE_MODELS"), "blip-scenes-caption"),
                "--parallel", str(parallel), "--queue", str(concurrency))
try:
    r = load_test.run(server.url, images, requests, concurrency)
finally:
    rc = server.close()
print("%d requests, %d concurrent, --parallel %d: %d ok, %d failed in %.2f s" %
      (requests, concurrency, parallel, r["ok"], len(r["errors"]), r["wall_s"]))
print("throughput %.1f requests/s; latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms" %
      (r["throughput_rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"]))
for e in r["errors"][:5]:
    print("failed:", e)
ok = not r["errors"] and not r["inconsistent"] and r["ok"] == requests and rc == 0
print("load test:", "PASS" if ok else "FAIL (inconsistent replies for images %s, server exit %s)" % (r["inconsistent"], rc))
sys.exit(0 if ok else 1)
