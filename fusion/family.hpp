// The family table: every model family glimpse runs, as one entry each. The registry, the C API
// and through it every front end open models here and never switch on a model kind; adding a family
// is its own files plus one entry in fusion/families.cpp (docs/adding-a-model.md).
#pragma once

#include "fusion/model-folder.hpp"
#include "fusion/model.hpp"
#include "runtime/device.hpp"

#include <memory>
#include <span>
#include <string>

namespace glimpse {

struct Family {
  const char* name;           // "blip-caption"
  const char* architectures;  // what it opens, for messages and `glimpse models`
  const char* checkpoints;    // Hub checkpoints known to work, comma-separated
  Task task;
  // Whether this family opens the folder (config.json alone decides; no weights are read).
  bool (*match)(const ModelFolder& folder);
  // Loads the model. Errors name the file and field or tensor at fault.
  std::unique_ptr<Model> (*open)(Context& ctx, ModelFolder& folder, const ModelOptions& opt);
};

// A family's `open`: its model class built from the folder.
template <typename M>
std::unique_ptr<Model> model_make(Context& ctx, ModelFolder& folder, const ModelOptions& opt) {
  return std::make_unique<M>(ctx, folder, opt);
}

// One family's model class from `dir`, without the table (tests, benchmarks).
template <typename M>
std::unique_ptr<M> model_load(Context& ctx, const std::string& dir, const ModelOptions& opt = {}) {
  ModelFolder folder(dir);
  return std::make_unique<M>(ctx, folder, opt);
}

// Every family, in the order they are tried.
std::span<const Family> model_families();

// The family that opens `folder`; ErrorCode::UnsupportedModel otherwise, naming what the folder
// holds and listing every family.
const Family& model_family(const ModelFolder& folder);

// Opens the model in `dir`. Errors keep their own codes; the rest are ErrorCode::Model.
std::unique_ptr<Model> model_open(Context& ctx, const std::string& dir, const ModelOptions& opt = {});

// The bundled models (models/README.md), trained on synthetic scenes only: "blip-scenes-caption"
// and "blip-scenes-vqa". Looked up in $GLIMPSE_MODELS_DIR, then the source tree's models/ (a build
// tree's programs), then the installed share/glimpse/models. Throws Error naming every place tried.
std::string bundled_model_dir(const std::string& name);
inline constexpr const char* kBundledCaptionModel = "blip-scenes-caption";
inline constexpr const char* kBundledVqaModel = "blip-scenes-vqa";

}  // namespace glimpse
