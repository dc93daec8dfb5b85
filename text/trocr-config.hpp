// TrOCR's decoder configuration (TrOCRConfig, the decoder section of a TrOCR
// VisionEncoderDecoderModel's config.json; docs/models/trocr.md) read into the BART decoder's.
#pragma once

#include "text/bart-config.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace glimpse {


// Overlays `j` on the defaults and checks it; errors name `where`.
BartDecoderConfig trocr_config_parse(const nlohmann::json& j, const std::string& where);

}  // namespace glimpse
