"""tools/distributed/caption_dask.py on a LocalCluster with 2 worker processes over 200 scenes:
every caption equals the single-process CLI's, each worker loads the model once, and a run
interrupted part-way (a torn last line included) resumes with only the missing files.

Environment (set by the ctest): PYTHONPATH holding the glimpse module, GLIMPSE_CLI,
GLIMPSE_SCENES (build/glimpse-scenes), GLIMPSE_MODELS."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "tools", "distributed", "caption_dask.py")
CLI = os.environ["GLIMPSE_CLI"]
SCENES = os.environ["GLIMPSE_SCENES"]
MODELS = os.environ["GLIMPSE_MODELS"]
CAPTION = os.path.join(MODELS, "blip-scenes-caption")
VQA = os.path.join(MODELS, "blip-scenes-vqa")


def run_script(*args):
    p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError("caption_dask.py failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr[-3000:]))
    return p.stdout


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def cli(*args):
    out = subprocess.run([CLI, *args, "--json"], check=True, capture_output=True, text=True).stdout
    return {os.path.basename(r["file"]): r for r in map(json.loads, out.splitlines())}


class CaptionDask(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.images = os.path.join(cls.tmp.name, "images")
        subprocess.run([SCENES, "--split", "test", "--count", "200", "--size", "96", "--out", cls.images],
                       check=True, capture_output=True)
        cls.expected = {k: r["generated_text"] for k, r in cli("caption", "--model", CAPTION, cls.images).items()}
        assert len(cls.expected) == 200, len(cls.expected)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_all(self, rows):
        got = {os.path.basename(r["file"]): r for r in rows}
        self.assertEqual(len(rows), 200)  # no file twice
        self.assertEqual(set(got), set(self.expected))
        for name, text in self.expected.items():
            self.assertNotIn("error", got[name])
            self.assertEqual(got[name]["generated_text"], text, name)

    def test_a_folder_on_two_workers_then_resume(self):
        out = os.path.join(self.tmp.name, "captions.jsonl")
        log = run_script("--model", CAPTION, "--folder", self.images, "--out", out, "--local-workers", "2",
                         "--batch", "8")
        self.assertIn("200 to do", log)
        self.assertIn("on 2 workers; model loads per worker: [1, 1]; 0 errors", log)
        self.check_all(read_jsonl(out))

        # interrupted: 150 lines kept, and the 151st torn mid-write
        with open(out) as f:
            lines = f.readlines()
        with open(out, "w") as f:
            f.writelines(lines[:150])
            f.write(lines[150][:25])
        log = run_script("--model", CAPTION, "--folder", self.images, "--out", out, "--local-workers", "2")
        self.assertIn("200 files, 150 already in", log)
        self.assertIn("50 to do", log)
        self.check_all(read_jsonl(out))

        log = run_script("--model", CAPTION, "--folder", self.images, "--out", out, "--local-workers", "2")
        self.assertIn("0 to do", log)

    def test_questions_from_a_list_with_a_broken_file_and_shipped_bytes(self):
        broken = os.path.join(self.tmp.name, "broken.png")
        with open(broken, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n truncated")
        files = [os.path.join(self.images, "scene-test-%06d.png" % i) for i in range(10)]
        listing = os.path.join(self.tmp.name, "files.txt")
        with open(listing, "w") as f:
            f.write("# ten scenes and a broken file\n" + "\n".join(files[:5] + [broken] + files[5:]) + "\n")
        out = os.path.join(self.tmp.name, "answers.jsonl")
        question = "how many squares are there?"
        run_script("--model", VQA, "--list", listing, "--out", out, "--local-workers", "2", "--batch", "3",
                   "--question", question, "--send-bytes")
        rows = {r["file"]: r for r in read_jsonl(out)}
        self.assertEqual(len(rows), 11)
        self.assertIn("not a decodable image", rows[broken]["error"])
        want = cli("vqa", "--model", VQA, "--question", question, *files)
        for f in files:
            w = want[os.path.basename(f)]
            self.assertEqual(rows[f]["answer"], w.get("answer", w.get("generated_text")), f)
        # --retry-errors runs the broken one again (and it fails again, clearly)
        log = run_script("--model", VQA, "--list", listing, "--out", out, "--local-workers", "1",
                         "--question", question, "--retry-errors")
        self.assertIn("10 already in", log)
        self.assertIn("1 errors", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
