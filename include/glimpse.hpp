// A header-only C++ wrapper over the C API (glimpse.h): RAII handles, std::string/std::vector
// results, failures as glimpse::embed::Error. Thread safety is the C API's: share a Model,
// give each thread its own Session.
#ifndef GLIMPSE_HPP
#define GLIMPSE_HPP

#include "glimpse.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace glimpse::embed {

class Error : public std::runtime_error {
 public:
  Error(glimpse_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  glimpse_status status() const { return status_; }

 private:
  glimpse_status status_;
};

struct Result {
  std::string text;
  std::vector<uint32_t> token_ids;
  double encode_ms = 0, decode_ms = 0;
  std::string result_json;  // models with tasks (Florence-2): glimpse_session_result_json; else ""
};

class Model {
 public:
  explicit Model(const std::string& folder, glimpse_model_params params = glimpse_model_default_params()) {
    glimpse_model* m = nullptr;
    const glimpse_status s = glimpse_model_load(folder.c_str(), &params, &m);
    if (s != GLIMPSE_OK) throw Error(s, glimpse_last_error());
    model_.reset(m);
  }
  glimpse_model_info info() const {
    glimpse_model_info i{};
    i.struct_size = sizeof i;
    const glimpse_status s = glimpse_model_info_get(model_.get(), &i);
    if (s != GLIMPSE_OK) throw Error(s, glimpse_last_error());
    return i;
  }
  glimpse_model* get() const { return model_.get(); }

 private:
  struct Free {
    void operator()(glimpse_model* m) const { glimpse_model_free(m); }
  };
  std::unique_ptr<glimpse_model, Free> model_;
};

class Session {
 public:
  explicit Session(const Model& model) {
    glimpse_session* s = nullptr;
    const glimpse_status status = glimpse_session_create(model.get(), &s);
    if (status != GLIMPSE_OK) throw Error(status, glimpse_last_error());
    session_.reset(s);
  }
  Result caption(const glimpse_image& image, const glimpse_generate_params& params = glimpse_generate_default_params()) {
    return run([&](glimpse_result* r) { return glimpse_caption(session_.get(), &image, &params, r); });
  }
  Result caption(const std::string& path, const glimpse_generate_params& params = glimpse_generate_default_params()) {
    return caption(glimpse_image_from_path(path.c_str()), params);
  }
  Result answer(const glimpse_image& image, const std::string& question,
                const glimpse_generate_params& params = glimpse_generate_default_params()) {
    return run([&](glimpse_result* r) { return glimpse_answer(session_.get(), &image, question.c_str(), &params, r); });
  }
  Result answer(const std::string& path, const std::string& question,
                const glimpse_generate_params& params = glimpse_generate_default_params()) {
    return answer(glimpse_image_from_path(path.c_str()), question, params);
  }

 private:
  template <typename F>
  Result run(F&& call) {
    glimpse_result r{};
    const glimpse_status s = call(&r);
    if (s != GLIMPSE_OK) throw Error(s, glimpse_session_last_error(session_.get()));
    Result out{r.text, std::vector<uint32_t>(r.token_ids, r.token_ids + r.token_count), r.encode_ms, r.decode_ms,
               glimpse_session_result_json(session_.get())};
    glimpse_result_free(&r);
    return out;
  }
  struct Free {
    void operator()(glimpse_session* s) const { glimpse_session_free(s); }
  };
  std::unique_ptr<glimpse_session, Free> session_;
};

}  // namespace glimpse::embed

#endif  // GLIMPSE_HPP
