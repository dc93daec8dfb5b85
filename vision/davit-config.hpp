// The configuration of Florence-2's DaViT image encoder and its image projection, as the original
// remote code reads it (configuration_florence2.py Florence2VisionConfig: `vision_config` of a
// Florence-2 config.json; docs/models/florence2.md).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace glimpse {

struct DavitStage {
  int dim = 0, heads = 0, groups = 0, depth = 0;
  int patch = 0, stride = 0, padding = 0;  // the stage's ConvEmbed
  bool prenorm = false;                    // LayerNorm before the conv (on the previous stage's tokens)
};

struct DavitConfig {
  std::vector<DavitStage> stages;
  int window = 12;           // window_size
  int image_size = 768;      // from preprocessor_config.json: the square the encoder takes
  int projection_dim = 1024;
  int max_pos = 50;          // image_pos_embed.max_pos_embeddings: rows / columns of the 2-D table
  int max_temporal = 100;    // visual_temporal_embedding.max_temporal_embeddings
  bool pool_token = true;    // image_feature_source starts with spatial_avg_pool
  float eps = 1e-5f;         // nn.LayerNorm's default, everywhere in DaViT and the projection

  int dim_out() const { return stages.back().dim; }
  // The token grid side after each stage's conv (stage i's input side is grid(i - 1), the image's
  // for i = 0).
  int grid(size_t stage) const;
  int tokens() const { return grid(stages.size() - 1) * grid(stages.size() - 1); }  // grid tokens
  int image_tokens() const { return tokens() + (pool_token ? 1 : 0); }             // what the projection gives
};

// Overlays `vision_config` (j) on Florence2VisionConfig's defaults (Florence-2-large's geometry) and
// checks that glimpse runs the result; `image_size` comes from the preprocessor. Errors name `where`.
DavitConfig davit_config_parse(const nlohmann::json& j, int image_size, const std::string& where);

}  // namespace glimpse
