#!/usr/bin/env python3
"""Caption (or question) a folder or a file list across a Dask cluster with glimpse.

Each worker loads the model once (a worker plugin) and captions batches of files; results are
appended to a JSONL file as batches finish, one line per image keyed by "file". Rerunning with
the same --out skips every file already there, so an interrupted run resumes where it stopped.

    # on this machine, two worker processes:
    caption_dask.py --model models/blip-scenes-caption --folder photos/ --out captions.jsonl --local-workers 2
    # on a running cluster (dask-scheduler + dask-worker on each machine):
    caption_dask.py --model /shared/blip-base --list files.txt --out captions.jsonl --scheduler tcp://host:8786

On a real cluster the model folder and the images must be readable at the same paths on every
worker (a shared filesystem), or pass --send-bytes to read the images here and ship their bytes.
Every worker needs the glimpse Python module importable (python/README.md)."""
import argparse
import json
import os
import sys
import time

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".pnm", ".tga", ".webp"}
PLUGIN_NAME = "glimpse-model"

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the script still explains itself without Dask installed
    WorkerPlugin = object


class GlimpseModel(WorkerPlugin):
    """Loads the model once when a worker starts (or joins later) and keeps it for every task."""

    def __init__(self, model_dir, device=None, fp16=False):
        self.model_dir, self.device, self.fp16 = model_dir, device, fp16
        self.model = None
        self.loads = 0

    def setup(self, worker):
        import glimpse
        self.model = glimpse.Model(self.model_dir, device=self.device, fp16=self.fp16)
        self.loads += 1

    def teardown(self, worker):
        self.model = None


def caption_batch(items, question, options):
    """Runs on a worker: [(file, path or bytes)] -> [result dict]. One bad image gives an error
    line for that image, not a failed batch."""
    from distributed import get_worker
    import glimpse
    plugin = get_worker().plugins[PLUGIN_NAME]
    out = []
    for file, source in items:
        t0 = time.perf_counter()
        try:
            if question is None:
                text = plugin.model.caption(source, **options)[0]["generated_text"]
                row = {"file": file, "generated_text": text}
            else:
                text = plugin.model.answer(source, question, **options)[0]["answer"]
                row = {"file": file, "question": question, "answer": text}
        except (glimpse.Error, ValueError, TypeError) as e:
            row = {"file": file, "error": str(e)}
        row["ms"] = round((time.perf_counter() - t0) * 1000, 2)
        out.append(row)
    return out


def worker_loads(dask_worker):
    return dask_worker.plugins[PLUGIN_NAME].loads


def list_inputs(folder, file_list):
    if folder:
        names = sorted(n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS)
        return [os.path.join(folder, n) for n in names]
    with open(file_list) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def read_done(out_path, retry_errors):
    """The files already in the JSONL. A torn last line (a run killed mid-write) is dropped and the
    file rewritten without it; with retry_errors, error lines are dropped too so they run again."""
    if not os.path.exists(out_path):
        return set()
    kept, done, dropped = [], set(), 0
    with open(out_path) as f:
        for line in f:
            try:
                row = json.loads(line)
                file = row["file"]
            except (ValueError, KeyError, TypeError):
                dropped += 1
                continue
            if retry_errors and "error" in row:
                dropped += 1
                continue
            if file not in done:
                done.add(file)
                kept.append(json.dumps(row))
    if dropped:
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(k + "\n" for k in kept)
        os.replace(tmp, out_path)
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--model", required=True, help="a Hugging Face model folder glimpse loads")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--folder", help="caption the images in this folder (sorted by name)")
    src.add_argument("--list", help="a text file with one image path per line")
    ap.add_argument("--out", required=True, help="the JSONL file results are appended to (and resumed from)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    where.add_argument("--local-workers", type=int, default=2, help="start a LocalCluster with N worker processes")
    ap.add_argument("--threads-per-worker", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16, help="images per task")
    ap.add_argument("--question", help="with a VQA model: ask this about every image")
    ap.add_argument("--max-new-tokens", type=int)
    ap.add_argument("--beams", type=int, default=1)
    ap.add_argument("--device", help="Vulkan device index or name substring on the workers")
    ap.add_argument("--f16", action="store_true", help="fp16 weights on the workers")
    ap.add_argument("--send-bytes", action="store_true", help="read images here and ship their bytes to the workers")
    ap.add_argument("--retry-errors", action="store_true", help="run again the files whose line is an error")
    a = ap.parse_args(argv)

    from distributed import Client, LocalCluster, as_completed

    files = list_inputs(a.folder, a.list)
    done = read_done(a.out, a.retry_errors)
    todo = [f for f in files if f not in done]
    print("caption_dask: %d files, %d already in %s, %d to do" % (len(files), len(files) - len(todo), a.out, len(todo)),
          flush=True)
    if not todo:
        return 0

    options = {"beams": a.beams}
    if a.max_new_tokens:
        options["max_new_tokens"] = a.max_new_tokens
    model_dir = os.path.abspath(a.model) if not a.scheduler else a.model
    if a.scheduler:
        client, cluster = Client(a.scheduler), None
    else:
        cluster = LocalCluster(n_workers=a.local_workers, threads_per_worker=a.threads_per_worker, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    t0 = time.perf_counter()
    failed = 0
    try:
        client.register_worker_plugin(GlimpseModel(model_dir, a.device, a.f16), name=PLUGIN_NAME)
        batches = []
        for i in range(0, len(todo), a.batch):
            chunk = todo[i:i + a.batch]
            if a.send_bytes:
                items = []
                for f in chunk:
                    with open(f, "rb") as fh:
                        items.append((f, fh.read()))
            else:
                items = [(f, os.path.abspath(f) if not a.scheduler else f) for f in chunk]
            batches.append(items)
        futures = [client.submit(caption_batch, b, a.question, options, pure=False) for b in batches]
        with open(a.out, "a") as out:
            for future in as_completed(futures):
                rows = future.result()
                failed += sum("error" in r for r in rows)
                out.writelines(json.dumps(r) + "\n" for r in rows)
                out.flush()  # each finished batch survives an interruption
        loads = client.run(worker_loads)
    finally:
        client.close()
        if cluster:
            cluster.close()
    dt = time.perf_counter() - t0
    print("caption_dask: %d images in %.1f s (%.1f images/s) on %d workers; model loads per worker: %s; %d errors" %
          (len(todo), dt, len(todo) / dt, len(loads), sorted(loads.values()), failed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
