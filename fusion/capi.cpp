// The C API (include/glimpse.h) over the C++ models: argument checks, status codes and messages,
// callbacks, and nothing thrown across the boundary.
#include "glimpse.h"

#include "fusion/family.hpp"
#include "runtime/backend.hpp"
#include "runtime/error.hpp"
#include "vision/decode.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <atomic>
#include <shared_mutex>
#include <memory>
#include <new>
#include <string>

using namespace glimpse;

struct glimpse_model {
  std::unique_ptr<Context> ctx;
  std::unique_ptr<Model> model;  // after ctx: destroyed first
  glimpse_model_info info{};
  glimpse_log_fn log = nullptr;
  void* log_user_data = nullptr;
  // After VK_ERROR_DEVICE_LOST the context and every device object the model holds are gone:
  // `lost` is set, and the next request rebuilds both from what the load was given. Requests
  // share `state`; the rebuild takes it alone (waiting for the requests in flight, which fail
  // at their next pass once the device is lost).
  std::string folder;
  ContextOptions context_options;
  ModelOptions model_options;  // without the load's progress callback
  std::shared_mutex state;
  std::atomic<bool> lost{false};
};

struct glimpse_session {
  glimpse_model* model = nullptr;
  std::string last_error;
  std::string result_json;  // the last caption's task answer (Florence-2)
};

namespace {

thread_local std::string t_last_error;

void copy_str(char* dst, size_t cap, const std::string& s) {
  std::strncpy(dst, s.c_str(), cap - 1);
  dst[cap - 1] = '\0';
}

// The status of an error's code; `stage` is the code of what was under way (loading a model,
// decoding an image, generating), for errors raised with none of their own.
glimpse_status status_of(ErrorCode code, ErrorCode stage) {
  switch (code == ErrorCode::Unspecified ? stage : code) {
    case ErrorCode::InvalidArgument: return GLIMPSE_ERROR_INVALID_ARGUMENT;
    case ErrorCode::Io: return GLIMPSE_ERROR_IO;
    case ErrorCode::UnsupportedModel:
    case ErrorCode::Model: return GLIMPSE_ERROR_MODEL;
    case ErrorCode::Image: return GLIMPSE_ERROR_IMAGE;
    case ErrorCode::WrongTask: return GLIMPSE_ERROR_WRONG_MODEL;
    case ErrorCode::OutOfMemory: return GLIMPSE_ERROR_OUT_OF_MEMORY;
    case ErrorCode::Device:
    case ErrorCode::DeviceLost: return GLIMPSE_ERROR_DEVICE;
    case ErrorCode::Cancelled: return GLIMPSE_ERROR_CANCELLED;
    case ErrorCode::Unspecified:
    case ErrorCode::Internal: return GLIMPSE_ERROR_INTERNAL;
  }
  return GLIMPSE_ERROR_INTERNAL;
}

// Runs `body`, turning every exception into a status and a message (thread-local, the
// session's, and the log callback's).
glimpse_status guard(ErrorCode stage, glimpse_session* session, const glimpse_model* model,
                     const std::function<void()>& body) {
  glimpse_status status = GLIMPSE_OK;
  std::string message;
  try {
    body();
  } catch (const glimpse::Error& e) {
    message = e.what();
    status = status_of(e.code(), stage);
  } catch (const std::bad_alloc&) {
    message = "out of memory";
    status = GLIMPSE_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    message = std::string("internal error: ") + e.what();
    status = GLIMPSE_ERROR_INTERNAL;
  } catch (...) {
    message = "internal error";
    status = GLIMPSE_ERROR_INTERNAL;
  }
  t_last_error = message;
  if (session) session->last_error = message;
  if (status != GLIMPSE_OK && model && model->log) model->log(model->log_user_data, 2, message.c_str());
  return status;
}

glimpse_status invalid(const char* what, glimpse_session* session = nullptr) {
  t_last_error = what;
  if (session) session->last_error = what;
  return GLIMPSE_ERROR_INVALID_ARGUMENT;
}

// glimpse_image as 0.5 had it: up to `format`.
constexpr size_t kImageV05Size = offsetof(glimpse_image, max_pixels);
constexpr size_t kGenerateV06Size = offsetof(glimpse_generate_params, task);

Image to_image(const glimpse_image& in, const glimpse_generate_params* params = nullptr) {
  DecodeOptions opt;
  if (params && params->abort) {
    const glimpse_abort_fn fn = params->abort;
    void* ud = params->abort_user_data;
    opt.should_stop = [fn, ud] { return fn(ud) != 0; };
  }
  if (in.struct_size >= sizeof(glimpse_image) && in.max_pixels) opt.max_pixels = in.max_pixels;
  switch (in.kind) {
    case GLIMPSE_IMAGE_PATH:
      if (!in.path) fail("image: path is NULL");
      return image_load(in.path, opt);
    case GLIMPSE_IMAGE_ENCODED:
      if (!in.data || !in.size) fail("image: no encoded bytes");
      return image_decode(static_cast<const uint8_t*>(in.data), in.size, "image buffer", opt);
    case GLIMPSE_IMAGE_PIXELS: {
      const size_t bpp = in.format == GLIMPSE_PIXELS_RGB8 ? 3 : 4;
      if (in.format != GLIMPSE_PIXELS_RGB8 && in.format != GLIMPSE_PIXELS_RGBA8 && in.format != GLIMPSE_PIXELS_BGRA8)
        fail("image: unknown pixel format ", int(in.format));
      if (!in.data || !in.width || !in.height) fail("image: pixels need data, width and height");
      if (uint64_t(in.width) * in.height > opt.max_pixels)
        fail("image: ", in.width, "x", in.height, " exceeds the pixel limit of ", opt.max_pixels);
      const size_t stride = in.stride ? in.stride : in.width * bpp;
      if (stride < in.width * bpp) fail("image: stride ", stride, " is shorter than a row (", in.width * bpp, " bytes)");
      Image img;
      img.width = int(in.width);
      img.height = int(in.height);
      img.rgb.resize(size_t(in.width) * in.height * 3);
      const auto* src = static_cast<const uint8_t*>(in.data);
      for (uint32_t y = 0; y < in.height; ++y)
        for (uint32_t x = 0; x < in.width; ++x) {
          const uint8_t* p = src + y * stride + x * bpp;
          uint8_t* q = &img.rgb[(size_t(y) * in.width + x) * 3];
          const bool bgr = in.format == GLIMPSE_PIXELS_BGRA8;
          q[0] = bgr ? p[2] : p[0];
          q[1] = p[1];
          q[2] = bgr ? p[0] : p[2];
        }
      return img;
    }
  }
  fail("image: unknown kind ", int(in.kind));
}

GenerationConfig to_generation(const glimpse_generate_params* p, std::vector<uint32_t>& streamed,
                               const std::function<std::string(const std::vector<uint32_t>&)>& detok) {
  GenerationConfig g{0};
  if (!p) return g;
  // Counts past int's range would wrap (UINT32_MAX beams became -1, then 1): lengths are capped
  // by the model's positions anyway, and beams past the limit are refused with the value given.
  const auto count = [](uint32_t v) { return int(std::min<uint32_t>(v, uint32_t(INT32_MAX))); };
  if (p->num_beams > uint32_t(kMaxBeams))
    fail(ErrorCode::InvalidArgument, "num_beams ", p->num_beams, " is more than the ", kMaxBeams, " glimpse runs");
  g.max_new_tokens = count(p->max_new_tokens);
  g.max_length = count(p->max_length);
  g.min_length = count(p->min_length);
  g.num_beams = int(p->num_beams);  // 0: the model's default
  g.length_penalty = p->length_penalty;
  g.early_stopping = p->early_stopping != 0;
  g.do_sample = p->do_sample != 0;
  g.temperature = p->temperature;
  g.top_k = count(p->top_k);
  g.top_p = p->top_p;
  g.seed = p->seed;
  if (p->abort) {
    const glimpse_abort_fn fn = p->abort;
    void* ud = p->abort_user_data;
    g.should_stop = [fn, ud] { return fn(ud) != 0; };
  }
  if (p->on_token) {
    const glimpse_token_fn fn = p->on_token;
    void* ud = p->token_user_data;
    g.on_token = [fn, ud, &streamed, detok](size_t, uint32_t token) {
      streamed.push_back(token);
      fn(ud, token, detok(streamed).c_str());
    };
  }
  return g;
}

void fill_result(glimpse_result* out, const std::string& text, const std::vector<uint32_t>& ids, double enc, double dec) {
  out->text = static_cast<char*>(std::malloc(text.size() + 1));
  out->token_ids = static_cast<uint32_t*>(std::malloc(std::max<size_t>(ids.size(), 1) * sizeof(uint32_t)));
  if (!out->text || !out->token_ids) {
    std::free(out->text);
    std::free(out->token_ids);
    *out = glimpse_result{};
    throw std::bad_alloc();
  }
  std::memcpy(out->text, text.c_str(), text.size() + 1);
  std::memcpy(out->token_ids, ids.data(), ids.size() * sizeof(uint32_t));
  out->token_count = ids.size();
  out->encode_ms = enc;
  out->decode_ms = dec;
}

}  // namespace

extern "C" {

uint32_t glimpse_version(void) { return GLIMPSE_VERSION; }
const char* glimpse_last_error(void) { return t_last_error.c_str(); }

const char* glimpse_status_name(glimpse_status status) {
  switch (status) {
    case GLIMPSE_OK: return "GLIMPSE_OK";
    case GLIMPSE_ERROR_INVALID_ARGUMENT: return "GLIMPSE_ERROR_INVALID_ARGUMENT";
    case GLIMPSE_ERROR_IO: return "GLIMPSE_ERROR_IO";
    case GLIMPSE_ERROR_MODEL: return "GLIMPSE_ERROR_MODEL";
    case GLIMPSE_ERROR_IMAGE: return "GLIMPSE_ERROR_IMAGE";
    case GLIMPSE_ERROR_DEVICE: return "GLIMPSE_ERROR_DEVICE";
    case GLIMPSE_ERROR_OUT_OF_MEMORY: return "GLIMPSE_ERROR_OUT_OF_MEMORY";
    case GLIMPSE_ERROR_CANCELLED: return "GLIMPSE_ERROR_CANCELLED";
    case GLIMPSE_ERROR_WRONG_MODEL: return "GLIMPSE_ERROR_WRONG_MODEL";
    case GLIMPSE_ERROR_INTERNAL: return "GLIMPSE_ERROR_INTERNAL";
  }
  return "GLIMPSE_STATUS_UNKNOWN";
}

glimpse_status glimpse_devices(glimpse_device_info* devices, uint32_t* count) {
  if (!count) return invalid("glimpse_devices: count is NULL");
  return guard(ErrorCode::Device, nullptr, nullptr, [&] {
    const auto list = devices_list();
    const uint32_t chosen = device_choose(list, std::getenv("GLIMPSE_DEVICE") ? std::getenv("GLIMPSE_DEVICE") : "");
    if (!devices) {
      *count = uint32_t(list.size());
      return;
    }
    // The caller's struct_size is the array's stride: 0.4's struct ended before `backend`.
    const size_t stride = devices[0].struct_size;
    if (stride < offsetof(glimpse_device_info, backend))
      fail(ErrorCode::InvalidArgument, "glimpse_devices: struct_size too small");
    const uint32_t n = std::min<uint32_t>(*count, uint32_t(list.size()));
    for (uint32_t i = 0; i < n; ++i) {
      glimpse_device_info d{};
      d.struct_size = uint32_t(stride);
      d.index = list[i].index;
      copy_str(d.name, sizeof d.name, list[i].name);
      copy_str(d.type, sizeof d.type, list[i].type_name());
      copy_str(d.driver, sizeof d.driver, list[i].driver_name + " " + list[i].driver_info);
      d.memory_bytes = list[i].device_local_bytes;
      d.subgroup_size = list[i].subgroup_size;
      d.fp16_storage = list[i].storage_16bit;
      d.fp16_arithmetic = list[i].float16_arithmetic;
      d.preferred = list[i].index == chosen;
      try {
        copy_str(d.backend, sizeof d.backend, backend_for(caps_choose(list[i])).name());
      } catch (const Error&) {
        copy_str(d.backend, sizeof d.backend, "none");  // a forced backend this device cannot run
      }
      d.unified_memory = list[i].unified_memory;
      d.tensor_cores = list[i].coop_matrix_f16;
      d.api_version = list[i].api_version;
      d.shared_memory_bytes = list[i].max_shared_memory;
      d.max_storage_range_bytes = list[i].max_storage_buffer_range;
      std::memcpy(reinterpret_cast<char*>(devices) + i * stride, &d, std::min(stride, sizeof d));
    }
    *count = n;
  });
}

glimpse_status glimpse_bundled_model(const char* name, char* path, size_t capacity) {
  if (!name || !path) return invalid("glimpse_bundled_model: NULL argument");
  return guard(ErrorCode::Io, nullptr, nullptr, [&] {
    const std::string dir = bundled_model_dir(name);
    if (dir.size() + 1 > capacity)
      fail(ErrorCode::InvalidArgument, "glimpse_bundled_model: the path needs ", dir.size() + 1, " bytes, capacity is ",
           capacity);
    std::memcpy(path, dir.c_str(), dir.size() + 1);
  });
}

glimpse_model_params glimpse_model_default_params(void) {
  glimpse_model_params p{};
  p.struct_size = sizeof p;
  return p;
}
void glimpse_model_default_params_ptr(glimpse_model_params* out) {
  if (out) *out = glimpse_model_default_params();
}

glimpse_status glimpse_model_load(const char* folder, const glimpse_model_params* params, glimpse_model** model) {
  if (!model) return invalid("glimpse_model_load: model is NULL");
  *model = nullptr;
  if (!folder) return invalid("glimpse_model_load: folder is NULL");
  // 0.2's struct ended before memory_limit_bytes: accept it, with the newer fields at their defaults.
  constexpr size_t kV02Size = offsetof(glimpse_model_params, memory_limit_bytes);
  if (params && params->struct_size < kV02Size)
    return invalid("glimpse_model_load: params.struct_size is too small (use glimpse_model_default_params)");
  auto m = std::make_unique<glimpse_model>();
  glimpse_model_params p = glimpse_model_default_params();
  if (params) std::memcpy(&p, params, std::min<size_t>(params->struct_size, sizeof p));
  p.struct_size = sizeof p;
  m->log = p.log;
  m->log_user_data = p.log_user_data;
  const glimpse_status s = guard(ErrorCode::Model, nullptr, m.get(), [&] {
    ContextOptions copt;
    if (p.device) copt.device = p.device;
    copt.memory_limit_bytes = p.memory_limit_bytes;
    m->ctx = with_error_code(ErrorCode::Device, [&] { return std::make_unique<Context>(copt); });
    ModelOptions opt;
    opt.weights = p.fp16_weights ? DType::F16 : DType::F32;
    if (p.progress) {
      const glimpse_progress_fn fn = p.progress;
      void* ud = p.progress_user_data;
      opt.progress = [fn, ud](float f) { return fn(ud, f) != 0; };
    }
    m->model = model_open(*m->ctx, folder, opt);
    m->folder = folder;
    m->context_options = copt;
    m->model_options = opt;
    m->model_options.progress = nullptr;
    const ModelInfo& mi = m->model->info();
    glimpse_model_info& info = m->info;
    info.struct_size = sizeof info;
    copy_str(info.architecture, sizeof info.architecture, mi.architecture);
    info.task = mi.task == Task::Caption ? GLIMPSE_TASK_CAPTION : GLIMPSE_TASK_ANSWER;
    info.image_size = uint32_t(mi.image_size);
    info.vision_hidden = uint32_t(mi.vision_hidden), info.vision_layers = uint32_t(mi.vision_layers);
    info.text_hidden = uint32_t(mi.text_hidden), info.text_layers = uint32_t(mi.text_layers);
    info.vocab_size = uint32_t(mi.vocab);
    info.eos_token_id = mi.eos, info.max_length = uint32_t(mi.max_length);
    copy_str(info.weights_dtype, sizeof info.weights_dtype, mi.weights == DType::F16 ? "f16" : "f32");
    copy_str(info.device, sizeof info.device, m->ctx->info().name);
    if (p.progress) p.progress(p.progress_user_data, 1.0f);
  });
  if (s == GLIMPSE_OK) *model = m.release();
  return s;
}

void glimpse_model_free(glimpse_model* model) { delete model; }

glimpse_status glimpse_model_info_get(const glimpse_model* model, glimpse_model_info* info) {
  if (!model || !info) return invalid("glimpse_model_info_get: NULL argument");
  // 0.3's struct ended before eos_token_id: fill what it has.
  constexpr size_t kV03Size = offsetof(glimpse_model_info, eos_token_id);
  if (info->struct_size < kV03Size) return invalid("glimpse_model_info_get: struct_size too small");
  const uint32_t size = info->struct_size;
  std::memcpy(info, &model->info, std::min<size_t>(size, sizeof(glimpse_model_info)));
  info->struct_size = size;
  t_last_error.clear();
  return GLIMPSE_OK;
}

glimpse_status glimpse_session_create(glimpse_model* model, glimpse_session** session) {
  if (!session) return invalid("glimpse_session_create: session is NULL");
  *session = nullptr;
  if (!model) return invalid("glimpse_session_create: model is NULL");
  *session = new (std::nothrow) glimpse_session{model, {}};
  if (!*session) return invalid("glimpse_session_create: out of memory");
  t_last_error.clear();
  return GLIMPSE_OK;
}

void glimpse_session_free(glimpse_session* session) { delete session; }
const char* glimpse_session_result_json(const glimpse_session* session) { return session ? session->result_json.c_str() : ""; }

const char* glimpse_session_last_error(const glimpse_session* session) {
  return session ? session->last_error.c_str() : "glimpse_session_last_error: session is NULL";
}

glimpse_image glimpse_image_from_path(const char* path) {
  glimpse_image i{};
  i.struct_size = sizeof i;
  i.kind = GLIMPSE_IMAGE_PATH;
  i.path = path;
  return i;
}
glimpse_image glimpse_image_from_encoded(const void* data, size_t size) {
  glimpse_image i{};
  i.struct_size = sizeof i;
  i.kind = GLIMPSE_IMAGE_ENCODED;
  i.data = data;
  i.size = size;
  return i;
}
glimpse_image glimpse_image_from_pixels(const void* data, uint32_t width, uint32_t height, uint32_t stride,
                                        glimpse_pixel_format format) {
  glimpse_image i{};
  i.struct_size = sizeof i;
  i.kind = GLIMPSE_IMAGE_PIXELS;
  i.data = data;
  i.width = width;
  i.height = height;
  i.stride = stride;
  i.format = format;
  return i;
}

glimpse_status glimpse_image_decode(const glimpse_image* image, glimpse_pixels* out) {
  if (!image || !out) return invalid("glimpse_image_decode: NULL argument");
  *out = glimpse_pixels{};
  if (image->struct_size < kImageV05Size) return invalid("glimpse_image_decode: image.struct_size too small");
  return guard(ErrorCode::Image, nullptr, nullptr, [&] {
    const Image img = to_image(*image);
    auto* rgb = static_cast<uint8_t*>(std::malloc(std::max<size_t>(img.rgb.size(), 1)));
    if (!rgb) throw std::bad_alloc();
    std::memcpy(rgb, img.rgb.data(), img.rgb.size());
    out->rgb = rgb;
    out->width = uint32_t(img.width);
    out->height = uint32_t(img.height);
  });
}

void glimpse_pixels_free(glimpse_pixels* pixels) {
  if (!pixels) return;
  std::free(pixels->rgb);
  *pixels = glimpse_pixels{};
}

glimpse_generate_params glimpse_generate_default_params(void) {
  glimpse_generate_params p{};
  p.struct_size = sizeof p;
  p.num_beams = 0;  // the model's default
  p.length_penalty = 1.0f;
  p.temperature = 1.0f;
  p.top_k = 50;
  p.top_p = 1.0f;
  return p;
}
void glimpse_generate_default_params_ptr(glimpse_generate_params* out) {
  if (out) *out = glimpse_generate_default_params();
}

namespace {

// What glimpse_caption and glimpse_answer both do first: check the arguments and the model's task,
// then decode the image. GLIMPSE_OK with `img` filled, else the failure (message already set).
glimpse_status begin_request(const std::string& fn, glimpse_session* session, const glimpse_image* image,
                             bool has_text, const glimpse_generate_params* params, glimpse_result* result,
                             bool model_fits, const char* wrong_model, Image& img) {
  if (!session || !image || !has_text || !result) return invalid((fn + ": NULL argument").c_str(), session);
  *result = glimpse_result{};
  if (image->struct_size < kImageV05Size) return invalid((fn + ": image.struct_size too small").c_str(), session);
  if (params && params->struct_size < kGenerateV06Size)
    return invalid((fn + ": params.struct_size too small (use glimpse_generate_default_params)").c_str(), session);
  if (!model_fits) {
    session->last_error = t_last_error = fn + ": " + wrong_model;
    return GLIMPSE_ERROR_WRONG_MODEL;
  }
  return guard(ErrorCode::Image, session, session->model, [&] { img = to_image(*image, params); });
}

// Holds the model for a request (shared), first rebuilding its device and weights if the device
// was lost. GLIMPSE_ERROR_DEVICE (the model stays lost, the next request tries again) when the
// rebuild fails.
glimpse_status hold_model(glimpse_session* session, std::shared_lock<std::shared_mutex>& lock) {
  glimpse_model* m = session->model;
  for (;;) {
    lock = std::shared_lock<std::shared_mutex>(m->state);
    if (!m->lost) return GLIMPSE_OK;
    lock.unlock();
    std::unique_lock<std::shared_mutex> alone(m->state);
    if (!m->lost) continue;
    const glimpse_status s = guard(ErrorCode::Device, session, m, [&] {
      m->model.reset();
      m->ctx.reset();
      m->ctx = with_error_code(ErrorCode::Device, [&] { return std::make_unique<Context>(m->context_options); });
      m->model = with_error_code(ErrorCode::Device, [&] { return model_open(*m->ctx, m->folder, m->model_options); });
      m->lost = false;
    });
    if (s != GLIMPSE_OK) return s;
    if (m->log) m->log(m->log_user_data, 1, "glimpse: the device was lost; recreated it and reloaded the model");
  }
}

// A request's work on the model; a lost device marks the model for rebuilding.
glimpse_status run_request(glimpse_session* session, const std::function<void()>& body) {
  glimpse_model* m = session->model;
  return guard(ErrorCode::Internal, session, m, [&] {
    try {
      body();
    } catch (const glimpse::Error& e) {
      if (e.code() != ErrorCode::DeviceLost) throw;
      m->lost = true;
      throw glimpse::Error(std::string(e.what()) + "; the next request recreates the device", ErrorCode::DeviceLost);
    }
  });
}

}  // namespace

glimpse_status glimpse_caption(glimpse_session* session, const glimpse_image* image,
                               const glimpse_generate_params* params, glimpse_result* result) {
  Image img;
  const glimpse_status s = begin_request("glimpse_caption", session, image, true, params, result,
                                         session && session->model->info.task == GLIMPSE_TASK_CAPTION,
                                         "this model answers questions (use glimpse_answer)", img);
  if (s != GLIMPSE_OK) return s;
  glimpse_model* m = session->model;
  std::shared_lock<std::shared_mutex> held;
  if (const glimpse_status h = hold_model(session, held); h != GLIMPSE_OK) return h;
  return run_request(session, [&] {
    std::vector<uint32_t> streamed;
    CaptionOptions opt;
    opt.gen = to_generation(params, streamed, [m](const std::vector<uint32_t>& ids) { return m->model->detokenize(ids); });
    if (params && params->prompt) opt.prompt = params->prompt;
    if (params && params->struct_size >= sizeof(glimpse_generate_params)) {  // 0.7
      if (params->task) opt.task = params->task;
      if (params->task_text) opt.task_text = params->task_text;
    }
    session->result_json.clear();
    const CaptionResult r = m->model->caption({img}, opt).at(0);
    fill_result(result, r.text, r.ids, r.timings.encode_ms, r.timings.decode_ms);
    if (!r.task.empty()) {
      nlohmann::ordered_json j;
      j["task"] = r.task;
      j["generated_text"] = r.generated_text;
      j["result"] = nlohmann::ordered_json::parse(r.result);
      session->result_json = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    }
  });
}

glimpse_status glimpse_answer(glimpse_session* session, const glimpse_image* image, const char* question,
                              const glimpse_generate_params* params, glimpse_result* result) {
  Image img;
  const bool tasks = session && std::strcmp(session->model->info.architecture, "Florence2ForConditionalGeneration") == 0;
  const glimpse_status s = begin_request("glimpse_answer", session, image, question != nullptr, params, result,
                                         session && session->model->info.task == GLIMPSE_TASK_ANSWER,
                                         tasks ? "Florence-2 does not answer free questions; it runs tasks (glimpse_caption "
                                                 "with params.task, e.g. \"<CAPTION>\", \"<OCR>\", \"<OD>\")"
                                               : "this model captions (use glimpse_caption)",
                                         img);
  if (s != GLIMPSE_OK) return s;
  glimpse_model* m = session->model;
  std::shared_lock<std::shared_mutex> held;
  if (const glimpse_status h = hold_model(session, held); h != GLIMPSE_OK) return h;
  return run_request(session, [&] {
    std::vector<uint32_t> streamed;
    AnswerOptions opt;
    opt.gen = to_generation(params, streamed, [m](const std::vector<uint32_t>& ids) { return m->model->detokenize(ids); });
    const AnswerResult r = m->model->answer({img}, question, opt).at(0);
    fill_result(result, r.text, r.ids, r.timings.encode_ms, r.timings.decode_ms);
  });
}

void glimpse_result_free(glimpse_result* result) {
  if (!result) return;
  std::free(result->text);
  std::free(result->token_ids);
  *result = glimpse_result{};
}

}  // extern "C"
