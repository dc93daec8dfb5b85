"""The Python binding (`import glimpse`), with the standard library's unittest and numpy.

Environment (set by the ctest): PYTHONPATH holding the built module, GLIMPSE_CLI (build/glimpse,
the reference for every caption and answer), GLIMPSE_MODELS (models/), GLIMPSE_SAMPLES."""
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

import numpy as np

import glimpse

CLI = os.environ["GLIMPSE_CLI"]
MODELS = os.environ["GLIMPSE_MODELS"]
SAMPLES = os.environ["GLIMPSE_SAMPLES"]
CAPTION = os.path.join(MODELS, "blip-scenes-caption")
VQA = os.path.join(MODELS, "blip-scenes-vqa")
IMAGES = sorted(os.path.join(SAMPLES, f) for f in os.listdir(SAMPLES) if f.endswith(".png"))


def cli(*args):
    out = subprocess.run([CLI, *args, "--json"], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def scene_pixels(seed=3, size=96):
    """A synthetic HWC uint8 picture: coloured blocks on a background."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 235, np.uint8)
    for _ in range(3):
        y, x = rng.integers(0, size - 30, 2)
        img[y:y + 30, x:x + 30] = rng.integers(0, 255, 3)
    return img


def ppm(pixels):
    h, w, _ = pixels.shape
    return b"P6\n%d %d\n255\n" % (w, h) + pixels.tobytes()


TEST_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data")


class OtherFamilies(unittest.TestCase):
    def test_trocr_from_a_pickle_checkpoint_equals_the_cli(self):
        """A family-table entry needs nothing of the binding: TrOCR from pytorch_model.bin only."""
        folder = os.path.join(TEST_DATA, "trocr", "tiny-vit-bin")
        image = os.path.join(TEST_DATA, "images", "rgb-420.jpg")
        model = glimpse.Model(folder)
        self.assertEqual(model.info["architecture"], "VisionEncoderDecoderModel")
        want = cli("caption", "--model", folder, image)[0]["generated_text"]
        self.assertEqual(model.caption(image), [{"generated_text": want}])


    def test_florence2_tasks_return_dicts_equal_to_the_cli(self):
        """Florence-2: a task (and its text) in, the processor's result as a dict out."""
        folder = os.path.join(TEST_DATA, "florence2", "tiny")
        image = os.path.join(TEST_DATA, "blip", "pattern.png")
        model = glimpse.Model(folder)
        self.assertEqual(model.info["architecture"], "Florence2ForConditionalGeneration")
        for flags, kwargs in [([], {}), (["--task", "<OD>"], {"task": "<OD>"}),
                              (["--task", "<CAPTION_TO_PHRASE_GROUNDING>", "--text", "a green car"],
                               {"task": "<CAPTION_TO_PHRASE_GROUNDING>", "text": "a green car"})]:
            want = cli("caption", "--model", folder, "--max-new-tokens", "12", *flags, image)[0]
            got = model.caption(image, max_new_tokens=12, **kwargs)
            self.assertEqual(len(got), 1)
            self.assertEqual(got[0]["task"], want["task"])
            self.assertEqual(got[0]["generated_text"], want["generated_text"])
            self.assertEqual(got[0]["result"], want["result"])
            self.assertIsInstance(got[0]["result"][want["task"]], (str, dict))
        with self.assertRaises(glimpse.Error) as e:
            model.caption(image, task="<OPEN_VOCABULARY_DETECTION>")
        self.assertIn("needs a text", str(e.exception))
        with self.assertRaises(glimpse.Error):
            model.answer(image, "what is this?")


class Captioning(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = glimpse.Model(CAPTION)
        cls.expected = {r["file"]: r["generated_text"] for r in cli("caption", "--model", CAPTION, *IMAGES)}

    def test_info(self):
        info = self.model.info
        self.assertEqual((info["architecture"], info["task"], info["image_size"]),
                         ("BlipForConditionalGeneration", "image-to-text", 96))
        self.assertEqual(glimpse.__version__.count("."), 2)
        self.assertTrue(any(d["preferred"] for d in glimpse.devices()))
        self.assertTrue(all(d["backend"] in ("vulkan", "cpu") for d in glimpse.devices()))

    def test_paths_and_bytes_equal_the_cli(self):
        for path in IMAGES:
            want = [{"generated_text": self.expected[path]}]
            self.assertEqual(self.model.caption(path), want)
            with open(path, "rb") as f:
                data = f.read()
            self.assertEqual(self.model.caption(data), want)
            self.assertEqual(self.model.caption(bytearray(data)), want)
        import pathlib
        self.assertEqual(self.model.caption(pathlib.Path(IMAGES[0])), [{"generated_text": self.expected[IMAGES[0]]}])

    def test_a_list_gives_a_list_like_pipelines(self):
        out = self.model.caption(IMAGES)
        self.assertEqual(out, [[{"generated_text": self.expected[p]}] for p in IMAGES])

    def test_arrays_equal_the_same_pixels_from_a_file(self):
        pixels = scene_pixels()
        with tempfile.NamedTemporaryFile(suffix=".ppm") as f:
            f.write(ppm(pixels))
            f.flush()
            want = cli("caption", "--model", CAPTION, f.name)[0]["generated_text"]
        self.assertEqual(self.model.caption(pixels), [{"generated_text": want}])
        rgba = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 7, np.uint8)], axis=2)
        self.assertEqual(self.model.caption(rgba), [{"generated_text": want}])  # alpha dropped
        wide = np.repeat(pixels, 2, axis=1)
        self.assertEqual(self.model.caption(wide[:, ::2]), [{"generated_text": want}])  # a strided view
        grey = pixels[:, :, 1].copy()
        self.assertEqual(self.model.caption(grey), self.model.caption(np.stack([grey] * 3, axis=2)))

    def test_generation_options(self):
        short = self.model.caption(IMAGES[0], max_new_tokens=2)[0]["generated_text"]
        self.assertTrue(self.expected[IMAGES[0]].startswith(short) and len(short.split()) == 2, short)
        prompted = self.model.caption(IMAGES[0], prompt="a large")[0]["generated_text"]
        self.assertEqual(prompted, cli("caption", "--model", CAPTION, "--prompt", "a large", IMAGES[0])[0]["generated_text"])
        beams = self.model.caption(IMAGES[0], beams=3)[0]["generated_text"]
        self.assertTrue(beams)
        a = self.model.caption(IMAGES[2], do_sample=True, temperature=1.5, seed=11)
        self.assertEqual(a, self.model.caption(IMAGES[2], do_sample=True, temperature=1.5, seed=11))

    def test_bad_inputs_raise_clear_errors(self):
        with self.assertRaises(glimpse.Error) as e:
            self.model.caption("/no/such/image.png")
        self.assertEqual(e.exception.status, "GLIMPSE_ERROR_IO")
        self.assertIn("/no/such/image.png", str(e.exception))
        with self.assertRaises(glimpse.Error) as e:
            self.model.caption(b"not an image")
        self.assertEqual(e.exception.status, "GLIMPSE_ERROR_IMAGE")
        with self.assertRaises(glimpse.Error) as e:
            self.model.caption([IMAGES[0], b"not an image"])
        self.assertIn("image 1", str(e.exception))
        with self.assertRaisesRegex(TypeError, "uint8"):
            self.model.caption(np.zeros((8, 8, 3), np.float32))
        with self.assertRaisesRegex(ValueError, "channels"):
            self.model.caption(np.zeros((8, 8, 2), np.uint8))
        with self.assertRaisesRegex(ValueError, "dimensions"):
            self.model.caption(np.zeros((8,), np.uint8))
        with self.assertRaisesRegex(TypeError, "path.*bytes.*array"):
            self.model.caption(42)
        with self.assertRaisesRegex(ValueError, "empty"):
            self.model.caption([])
        # A NUL would cut the C string short: refused, not the image before it captioned.
        with self.assertRaisesRegex(ValueError, "image path contains a NUL"):
            self.model.caption(IMAGES[0] + "\x00.jpg")
        with self.assertRaisesRegex(ValueError, "prompt contains a NUL"):
            self.model.caption(IMAGES[0], prompt="a\x00b")
        with self.assertRaisesRegex(ValueError, "model path contains a NUL"):
            glimpse.Model(CAPTION + "\x00x")
        with self.assertRaises(glimpse.Error) as e:
            self.model.answer(IMAGES[0], "what?")
        self.assertEqual(e.exception.status, "GLIMPSE_ERROR_WRONG_MODEL")
        with self.assertRaises(glimpse.Error) as e:
            glimpse.Model(SAMPLES)
        self.assertIn("config.json", str(e.exception))
        # still fine afterwards
        self.assertEqual(self.model.caption(IMAGES[0]), [{"generated_text": self.expected[IMAGES[0]]}])

    def test_the_gil_is_released_while_running(self):
        done = threading.Event()
        ticks = 0

        def work():
            self.model.caption(IMAGES * 50)  # one call: 200 captions, 0.7 s (CPU backend) to 6 s (lavapipe shaders)
            done.set()

        t = threading.Thread(target=work)
        t.start()
        time.sleep(0.05)
        while not done.is_set():
            ticks += 1
            time.sleep(0)
        t.join()
        # With the GIL held by the call this thread would not run until it returned: 0 ticks. With it
        # released the count depends on the machine's load: 2,300-7,800 on an idle 2-core machine,
        # 731 once in CI (which failed the 1,000 this asked for before), so the bar is well below.
        self.assertGreater(ticks, 100)

    def test_threads_share_a_model(self):
        results = {}

        def work(i):
            results[i] = self.model.caption(IMAGES[i % len(IMAGES)])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, r in results.items():
            self.assertEqual(r, [{"generated_text": self.expected[IMAGES[i % len(IMAGES)]]}])


class Answering(unittest.TestCase):
    def test_answers_equal_the_cli(self):
        model = glimpse.Model(VQA)
        self.assertEqual(model.info["task"], "visual-question-answering")
        q = ["what color is the star?", "how many squares are there?"]
        want = [cli("vqa", "--model", VQA, "--question", x, IMAGES[0])[0] for x in q]
        want = [w.get("answer", w.get("generated_text")) for w in want]
        self.assertEqual(model.answer(IMAGES[0], q[0]), [{"answer": want[0]}])
        self.assertEqual(model.answer(IMAGES[0], q), [[{"answer": w}] for w in want])
        both = model.answer([IMAGES[0], IMAGES[0]], q)
        self.assertEqual(both, [[{"answer": w}] for w in want])
        self.assertEqual(len(model.answer(IMAGES, "what color is the star?")), len(IMAGES))
        with self.assertRaisesRegex(ValueError, "2 images and 3 questions"):
            model.answer(IMAGES[:2], q + ["where?"])
        with self.assertRaisesRegex(TypeError, "question"):
            model.answer(IMAGES[0], 5)
        with self.assertRaises(glimpse.Error) as e:
            model.caption(IMAGES[0])
        self.assertEqual(e.exception.status, "GLIMPSE_ERROR_WRONG_MODEL")


if __name__ == "__main__":
    unittest.main(verbosity=2)
