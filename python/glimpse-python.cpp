// The Python binding: `import glimpse` (python/README.md). A thin layer over the C API
// (glimpse.h): images from paths, bytes or numpy HWC uint8 arrays; results shaped like
// transformers' pipelines; the GIL released while a model loads or runs.
#include "glimpse.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

// glimpse.Error: every failure the runtime reports, with its status name in .status.
PyObject* g_error = nullptr;

[[noreturn]] void raise(glimpse_status status, const std::string& message) {
  py::object err = py::reinterpret_borrow<py::object>(g_error)(message);
  err.attr("status") = glimpse_status_name(status);
  PyErr_SetObject(g_error, err.ptr());
  throw py::error_already_set();
}

// One image, copied out of its Python object so the GIL can be released while it is used.
struct ImageInput {
  glimpse_image_kind kind = GLIMPSE_IMAGE_PATH;
  std::string path, bytes;
  std::vector<uint8_t> pixels;
  uint32_t width = 0, height = 0;
  glimpse_pixel_format format = GLIMPSE_PIXELS_RGB8;

  glimpse_image view() const {
    if (kind == GLIMPSE_IMAGE_PATH) return glimpse_image_from_path(path.c_str());
    if (kind == GLIMPSE_IMAGE_ENCODED) return glimpse_image_from_encoded(bytes.data(), bytes.size());
    return glimpse_image_from_pixels(pixels.data(), width, height, 0, format);
  }
};

ImageInput image_from_array(const py::array& in) {
  if (!py::isinstance<py::array_t<uint8_t>>(in) || in.dtype().kind() != 'u' || in.itemsize() != 1)
    throw py::type_error("image arrays must be uint8 (HWC, values 0-255), found dtype " + std::string(py::str(in.dtype())));
  if (in.ndim() != 2 && in.ndim() != 3)
    throw py::value_error("image arrays must be HxW, HxWx3 (RGB) or HxWx4 (RGBA), found " + std::to_string(in.ndim()) +
                          " dimensions");
  const ssize_t h = in.shape(0), w = in.shape(1), c = in.ndim() == 3 ? in.shape(2) : 1;
  if (c != 1 && c != 3 && c != 4)
    throw py::value_error("image arrays must have 1, 3 or 4 channels (last axis), found " + std::to_string(c));
  if (h <= 0 || w <= 0) throw py::value_error("the image array is empty");
  if (h > 65535 || w > 65535) throw py::value_error("the image array is larger than 65535 pixels on a side");
  auto a = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(in);  // uint8 already: only makes it contiguous
  ImageInput img;
  img.kind = GLIMPSE_IMAGE_PIXELS;
  img.width = uint32_t(w), img.height = uint32_t(h);
  const uint8_t* src = a.data();
  if (c == 1) {  // grey: as PIL's convert("RGB")
    img.pixels.resize(size_t(h * w * 3));
    for (ssize_t i = 0; i < h * w; ++i) img.pixels[size_t(3 * i)] = img.pixels[size_t(3 * i + 1)] = img.pixels[size_t(3 * i + 2)] = src[i];
  } else {
    img.pixels.assign(src, src + h * w * c);
    img.format = c == 4 ? GLIMPSE_PIXELS_RGBA8 : GLIMPSE_PIXELS_RGB8;
  }
  return img;
}

// Strings go to the C API as C strings, where a NUL would end them early ('good.png\0.jpg' would
// caption good.png): refused, as Python's own open() refuses them.
const std::string& no_nul(const std::string& s, const char* what) {
  if (s.find('\0') != std::string::npos) throw py::value_error(std::string(what) + " contains a NUL character");
  return s;
}

ImageInput image_from(const py::handle& obj) {
  ImageInput img;
  if (py::isinstance<py::str>(obj) || py::hasattr(obj, "__fspath__")) {
    img.path = py::str(py::module_::import("os").attr("fspath")(obj));
    no_nul(img.path, "the image path");
    return img;
  }
  if (py::isinstance<py::bytes>(obj) || py::isinstance<py::bytearray>(obj) || py::isinstance<py::memoryview>(obj)) {
    img.kind = GLIMPSE_IMAGE_ENCODED;
    img.bytes = py::bytes(py::module_::import("builtins").attr("bytes")(obj));
    if (img.bytes.empty()) throw py::value_error("the image bytes are empty");
    return img;
  }
  if (py::isinstance<py::array>(obj)) return image_from_array(py::reinterpret_borrow<py::array>(obj));
  // PIL images and other array-likes: through numpy
  if (py::hasattr(obj, "__array_interface__") || py::hasattr(obj, "__array__"))
    return image_from_array(py::module_::import("numpy").attr("asarray")(obj));
  throw py::type_error("an image must be a path (str or os.PathLike), encoded bytes, or a numpy HWC uint8 array; found " +
                       std::string(py::str(py::type::of(obj).attr("__name__"))));
}

// A single image, or a list/tuple of them: (inputs, was_a_list).
std::pair<std::vector<ImageInput>, bool> images_from(const py::handle& obj) {
  std::vector<ImageInput> out;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (const py::handle& item : obj) out.push_back(image_from(item));
    if (out.empty()) throw py::value_error("the image list is empty");
    return {std::move(out), true};
  }
  out.push_back(image_from(obj));
  return {std::move(out), false};
}

struct GenerateOptions {
  std::optional<std::string> prompt, task, text;
  uint32_t beams = 0;  // 0: the model's default (Florence-2: 3; the others greedy)
  std::optional<uint32_t> max_new_tokens, max_length, min_length, top_k;
  bool do_sample = false;
  std::optional<float> temperature, top_p;
  uint64_t seed = 0;

  glimpse_generate_params params() const {
    glimpse_generate_params p = glimpse_generate_default_params();
    p.prompt = prompt ? no_nul(*prompt, "the prompt").c_str() : nullptr;
    p.task = task ? no_nul(*task, "the task").c_str() : nullptr;
    p.task_text = text ? no_nul(*text, "the text").c_str() : nullptr;
    p.num_beams = beams;
    if (max_new_tokens) p.max_new_tokens = *max_new_tokens;
    if (max_length) p.max_length = *max_length;
    if (min_length) p.min_length = *min_length;
    p.do_sample = do_sample;
    if (temperature) p.temperature = *temperature;
    if (top_k) p.top_k = *top_k;
    if (top_p) p.top_p = *top_p;
    p.seed = seed;
    return p;
  }
};

class Model {
 public:
  Model(const std::string& path, const std::optional<std::string>& device, bool fp16, uint64_t memory_limit_bytes) {
    glimpse_model_params mp = glimpse_model_default_params();
    no_nul(path, "the model path");
    if (device) mp.device = no_nul(*device, "the device").c_str();
    mp.fp16_weights = fp16;
    mp.memory_limit_bytes = memory_limit_bytes;
    glimpse_model* m = nullptr;
    glimpse_status s;
    std::string error;
    {
      py::gil_scoped_release release;
      s = glimpse_model_load(path.c_str(), &mp, &m);
      if (s != GLIMPSE_OK) error = glimpse_last_error();
    }
    if (s != GLIMPSE_OK) raise(s, error);
    model_.reset(m);
    info_.struct_size = sizeof info_;
    glimpse_model_info_get(model_.get(), &info_);
  }

  py::dict info() const {
    py::dict d;
    d["architecture"] = info_.architecture;
    d["task"] = info_.task == GLIMPSE_TASK_ANSWER ? "visual-question-answering" : "image-to-text";
    d["image_size"] = info_.image_size;
    d["vision_hidden"] = info_.vision_hidden, d["vision_layers"] = info_.vision_layers;
    d["text_hidden"] = info_.text_hidden, d["text_layers"] = info_.text_layers;
    d["vocab_size"] = info_.vocab_size;
    d["weights_dtype"] = info_.weights_dtype;
    d["device"] = info_.device;
    d["eos_token_id"] = info_.eos_token_id;
    d["max_length"] = info_.max_length;
    return d;
  }

  py::object caption(const py::handle& images, const GenerateOptions& opt) {
    if (info_.task != GLIMPSE_TASK_CAPTION)
      raise(GLIMPSE_ERROR_WRONG_MODEL, "this is a visual question answering model: use answer(images, questions)");
    auto [inputs, listed] = images_from(images);
    std::vector<std::string> results;
    const std::vector<std::string> texts = run(inputs, {}, opt, &results);
    if (!results.empty() && !results[0].empty()) {
      // Florence-2: {"task", "generated_text" (special tokens kept), "result" (post_process_generation's),
      // "text" (a text task's answer, else the text without special tokens)}
      const py::object loads = py::module_::import("json").attr("loads");
      py::list out;
      for (size_t i = 0; i < texts.size(); ++i) {
        py::dict d = loads(results[i]);
        d["text"] = texts[i];
        py::list one;
        one.append(d);
        out.append(one);
      }
      return listed ? py::object(out) : py::object(out[0]);
    }
    return shaped(texts, listed, "generated_text");
  }

  // answer(image, "q"), answer([images], "q") (one question for each), answer(image, ["q", ...])
  // (many questions about one image), answer([images], [questions]) (pairs).
  py::object answer(const py::handle& images, const py::handle& questions, const GenerateOptions& opt) {
    if (info_.task != GLIMPSE_TASK_ANSWER)
      raise(GLIMPSE_ERROR_WRONG_MODEL, "this is a captioning model: use caption(images)");
    auto [inputs, images_listed] = images_from(images);
    std::vector<std::string> qs;
    const bool questions_listed = py::isinstance<py::list>(questions) || py::isinstance<py::tuple>(questions);
    if (questions_listed) {
      for (const py::handle& q : questions) {
        if (!py::isinstance<py::str>(q)) throw py::type_error("questions must be strings");
        qs.push_back(no_nul(q.cast<std::string>(), "a question"));
      }
      if (qs.empty()) throw py::value_error("the question list is empty");
    } else {
      if (!py::isinstance<py::str>(questions)) throw py::type_error("the question must be a string or a list of strings");
      qs.push_back(no_nul(questions.cast<std::string>(), "the question"));
    }
    if (images_listed && questions_listed && inputs.size() != qs.size())
      throw py::value_error("answer() got " + std::to_string(inputs.size()) + " images and " + std::to_string(qs.size()) +
                            " questions: pass one question, one image, or as many of each");
    const size_t n = std::max(inputs.size(), qs.size());
    std::vector<ImageInput> in(n);
    for (size_t i = 0; i < n; ++i) in[i] = inputs[inputs.size() == 1 ? 0 : i];
    if (qs.size() == 1) qs.resize(n, qs[0]);
    const std::vector<std::string> texts = run(in, qs, opt);
    return shaped(texts, images_listed || questions_listed, "answer");
  }

 private:
  struct FreeModel {
    void operator()(glimpse_model* m) const { glimpse_model_free(m); }
  };
  struct FreeSession {
    void operator()(glimpse_session* s) const { glimpse_session_free(s); }
  };
  using SessionPtr = std::unique_ptr<glimpse_session, FreeSession>;

  // Sessions are per caller: Python threads may call one Model at once (the GIL is released),
  // each borrowing an idle session or making one.
  SessionPtr borrow() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        SessionPtr s = std::move(idle_.back());
        idle_.pop_back();
        return s;
      }
    }
    glimpse_session* s = nullptr;
    const glimpse_status status = glimpse_session_create(model_.get(), &s);
    if (status != GLIMPSE_OK) raise(status, glimpse_last_error());
    return SessionPtr(s);
  }
  void give_back(SessionPtr s) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(s));
  }

  std::vector<std::string> run(const std::vector<ImageInput>& images, const std::vector<std::string>& questions,
                               const GenerateOptions& opt, std::vector<std::string>* results = nullptr) {
    SessionPtr session = borrow();
    const glimpse_generate_params params = opt.params();
    std::vector<std::string> texts;
    glimpse_status status = GLIMPSE_OK;
    std::string error;
    {
      py::gil_scoped_release release;
      for (size_t i = 0; i < images.size() && status == GLIMPSE_OK; ++i) {
        const glimpse_image image = images[i].view();
        glimpse_result r{};
        status = questions.empty() ? glimpse_caption(session.get(), &image, &params, &r)
                                   : glimpse_answer(session.get(), &image, questions[i].c_str(), &params, &r);
        if (status == GLIMPSE_OK) {
          texts.emplace_back(r.text);
          if (results) results->emplace_back(glimpse_session_result_json(session.get()));
        }
        else error = glimpse_session_last_error(session.get());
        glimpse_result_free(&r);
      }
    }
    give_back(std::move(session));
    if (status != GLIMPSE_OK) raise(status, images.size() > 1 ? "image " + std::to_string(texts.size()) + ": " + error : error);
    return texts;
  }

  // transformers' pipelines: one input gives [{key: text}], a list gives [[{key: text}], ...].
  static py::object shaped(const std::vector<std::string>& texts, bool listed, const char* key) {
    py::list out;
    for (const std::string& t : texts) {
      py::dict d;
      d[key] = t;
      py::list one;
      one.append(d);
      out.append(one);
    }
    return listed ? py::object(out) : py::object(out[0]);
  }

  std::unique_ptr<glimpse_model, FreeModel> model_;
  glimpse_model_info info_{};
  std::mutex mutex_;
  std::vector<SessionPtr> idle_;
};

py::list devices() {
  uint32_t count = 0;
  glimpse_status s = glimpse_devices(nullptr, &count);
  if (s != GLIMPSE_OK) raise(s, glimpse_last_error());
  std::vector<glimpse_device_info> infos(count);
  for (auto& i : infos) i.struct_size = sizeof i;
  s = glimpse_devices(infos.data(), &count);
  if (s != GLIMPSE_OK) raise(s, glimpse_last_error());
  py::list out;
  for (uint32_t i = 0; i < count; ++i) {
    py::dict d;
    d["index"] = infos[i].index;
    d["name"] = infos[i].name;
    d["type"] = infos[i].type;
    d["driver"] = infos[i].driver;
    d["memory_bytes"] = infos[i].memory_bytes;
    d["fp16"] = bool(infos[i].fp16_arithmetic);
    d["preferred"] = bool(infos[i].preferred);
    d["backend"] = infos[i].backend;  // "vulkan" or "cpu": what runs a model's ops there
    d["tensor_cores"] = bool(infos[i].tensor_cores);
    out.append(d);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(glimpse, m) {
  m.doc() = "glimpse: image captioning, visual question answering, OCR and detection on Vulkan (BLIP, ViT-GPT2, TrOCR, Florence-2)";
  const uint32_t v = glimpse_version();
  m.attr("__version__") = std::to_string(v >> 16) + "." + std::to_string((v >> 8) & 0xFF) + "." + std::to_string(v & 0xFF);
  g_error = PyErr_NewExceptionWithDoc("glimpse.Error",
                                      "A failure glimpse reports; .status names it (e.g. GLIMPSE_ERROR_IMAGE).",
                                      PyExc_RuntimeError, nullptr);
  m.attr("Error") = py::handle(g_error);
  m.def("devices", &devices, "The Vulkan devices glimpse can use, as dicts.");

  py::class_<GenerateOptions>(m, "_GenerateOptions");  // internal: built from keyword arguments
  auto options = [](std::optional<std::string> prompt, std::optional<uint32_t> beams, std::optional<uint32_t> max_new_tokens,
                    std::optional<uint32_t> max_length, std::optional<uint32_t> min_length, bool do_sample,
                    std::optional<float> temperature, std::optional<uint32_t> top_k, std::optional<float> top_p,
                    uint64_t seed, std::optional<std::string> task = std::nullopt,
                    std::optional<std::string> text = std::nullopt) {
    if (beams && *beams < 1) throw py::value_error("beams must be at least 1");
    if (max_new_tokens && *max_new_tokens < 1) throw py::value_error("max_new_tokens must be at least 1");
    GenerateOptions o;
    o.prompt = std::move(prompt), o.beams = beams.value_or(0), o.max_new_tokens = max_new_tokens, o.max_length = max_length;
    o.task = std::move(task), o.text = std::move(text);
    o.min_length = min_length, o.do_sample = do_sample, o.temperature = temperature, o.top_k = top_k, o.top_p = top_p;
    o.seed = seed;
    return o;
  };

  py::class_<Model>(m, "Model", "A loaded Hugging Face model folder (BLIP captioning or VQA, ViT-GPT2).")
      .def(py::init<const std::string&, const std::optional<std::string>&, bool, uint64_t>(), py::arg("path"),
           py::arg("device") = py::none(), py::arg("fp16") = false, py::arg("memory_limit_bytes") = 0,
           "Loads the folder. device: an index or a name substring (None: $GLIMPSE_DEVICE, else the preferred).")
      .def_property_readonly("info", &Model::info)
      .def(
          "caption",
          [options](Model& self, const py::handle& images, std::optional<std::string> prompt,
                    std::optional<uint32_t> beams, std::optional<uint32_t> max_new_tokens,
                    std::optional<uint32_t> max_length, std::optional<uint32_t> min_length, bool do_sample,
                    std::optional<float> temperature, std::optional<uint32_t> top_k, std::optional<float> top_p,
                    uint64_t seed, std::optional<std::string> task, std::optional<std::string> text) {
            return self.caption(images, options(std::move(prompt), beams, max_new_tokens, max_length, min_length,
                                                do_sample, temperature, top_k, top_p, seed, std::move(task),
                                                std::move(text)));
          },
          py::arg("images"), py::kw_only(), py::arg("prompt") = py::none(), py::arg("beams") = py::none(),
          py::arg("max_new_tokens") = py::none(), py::arg("max_length") = py::none(), py::arg("min_length") = py::none(),
          py::arg("do_sample") = false, py::arg("temperature") = py::none(), py::arg("top_k") = py::none(),
          py::arg("top_p") = py::none(), py::arg("seed") = 0, py::arg("task") = py::none(), py::arg("text") = py::none(),
          "Captions an image (path, bytes or HWC uint8 array) or a list of them: [{'generated_text': ...}] for one, "
          "a list of those for a list. Florence-2: task='<OD>' (default '<CAPTION>') and text= for the tasks that "
          "take one; each answer is {'task', 'generated_text', 'result': {task: answer}, 'text'}. beams=None: the "
          "model's default.")
      .def(
          "answer",
          [options](Model& self, const py::handle& images, const py::handle& questions, std::optional<uint32_t> beams,
                    std::optional<uint32_t> max_new_tokens, std::optional<uint32_t> max_length) {
            return self.answer(images, questions,
                               options(std::nullopt, beams, max_new_tokens, max_length, std::nullopt, false,
                                       std::nullopt, std::nullopt, std::nullopt, 0));
          },
          py::arg("images"), py::arg("questions"), py::kw_only(), py::arg("beams") = py::none(),
          py::arg("max_new_tokens") = py::none(), py::arg("max_length") = py::none(),
          "Answers questions about images: [{'answer': ...}] for one image and one question; a list of those when "
          "either is a list (one question for every image, many questions about one image, or pairs).");
}
