// The family table. One line per family; each family's entry is defined beside its model.
#include "fusion/family.hpp"

#include "fusion/blip-captioner.hpp"
#include "fusion/blip-vqa.hpp"
#include "fusion/florence2.hpp"
#include "fusion/trocr.hpp"
#include "fusion/vit-gpt2.hpp"
#include "runtime/error.hpp"

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace glimpse {

namespace {
const Family kFamilies[] = {
    kBlipCaptionFamily,
    kBlipVqaFamily,
    kVitGpt2Family,
    kTrocrFamily,
    kFlorence2Family,
};
}  // namespace

std::span<const Family> model_families() { return kFamilies; }

const Family& model_family(const ModelFolder& folder) {
  for (const Family& f : kFamilies)
    if (f.match(folder)) return f;
  std::string known;
  for (const Family& f : kFamilies) known += str("\n  ", f.name, ": ", f.architectures);
  fail(ErrorCode::UnsupportedModel, folder.config_path(), ": ", folder.describe(),
       " is not supported; glimpse runs these families:", known);
}

std::unique_ptr<Model> model_open(Context& ctx, const std::string& dir, const ModelOptions& opt) {
  return with_error_code(ErrorCode::Model, [&] {
    ModelFolder folder(dir);
    return model_family(folder).open(ctx, folder, opt);
  });
}

std::string bundled_model_dir(const std::string& name) {
  namespace fs = std::filesystem;
  std::vector<std::string> places;
  if (const char* env = std::getenv("GLIMPSE_MODELS_DIR"); env && *env) places.emplace_back(env);
#ifdef GLIMPSE_SOURCE_MODELS_DIR
  places.emplace_back(GLIMPSE_SOURCE_MODELS_DIR);
#endif
#ifdef GLIMPSE_INSTALL_MODELS_DIR
  places.emplace_back(GLIMPSE_INSTALL_MODELS_DIR);
#endif
  std::string tried;
  for (const std::string& p : places) {
    const fs::path dir = fs::path(p) / name;
    std::error_code ec;
    if (fs::is_regular_file(dir / "config.json", ec)) return dir.string();
    tried += (tried.empty() ? "" : ", ") + dir.string();
  }
  fail(ErrorCode::Io, "the bundled model ", name, " is not in ", tried.empty() ? std::string("any known place") : tried,
       "; set GLIMPSE_MODELS_DIR or pass --model DIR");
}

}  // namespace glimpse
