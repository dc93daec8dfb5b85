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

}  // namespace glimpse
