// From a model folder's config.json to the model that runs it. Supported:
//   BlipForConditionalGeneration  (model_type blip)                    -> BlipCaptioner
//   BlipForQuestionAnswering      (model_type blip)                    -> BlipVqa
//   VisionEncoderDecoderModel     (vision-encoder-decoder, vit + gpt2) -> VitGpt2Captioner
#pragma once

#include "fusion/captioner.hpp"
#include "fusion/blip-vqa.hpp"
#include "runtime/device.hpp"

#include <memory>
#include <string>

namespace glimpse {

enum class ModelKind { BlipCaption, BlipVqa, VitGpt2 };

// What the folder holds; throws Error naming what it found and listing what is supported.
ModelKind model_kind(const std::string& dir);
std::unique_ptr<Captioner> captioner_open(Context& ctx, const std::string& dir, const ModelOptions& opt = {});
std::unique_ptr<BlipVqa> vqa_open(Context& ctx, const std::string& dir, const ModelOptions& opt = {});

// The bundled models (models/README.md), trained on synthetic scenes only: "blip-scenes-caption"
// and "blip-scenes-vqa". Looked up in $GLIMPSE_MODELS_DIR, then the source tree's models/ (a build
// tree's programs), then the installed share/glimpse/models. Throws Error naming every place tried.
std::string bundled_model_dir(const std::string& name);
inline constexpr const char* kBundledCaptionModel = "blip-scenes-caption";
inline constexpr const char* kBundledVqaModel = "blip-scenes-vqa";

}  // namespace glimpse
