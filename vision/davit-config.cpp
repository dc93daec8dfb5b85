#include "vision/davit-config.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"
#include "runtime/ops.hpp"

namespace glimpse {

int DavitConfig::grid(size_t stage) const {
  int side = image_size;
  for (size_t i = 0; i <= stage && i < stages.size(); ++i)
    side = (side + 2 * stages[i].padding - stages[i].patch) / stages[i].stride + 1;
  return side;
}

namespace {

std::vector<int> int_list(const nlohmann::json& j, const char* key, std::vector<int> value, const std::string& where,
                          int lo, int hi) {
  if (!j.contains(key)) return value;
  const nlohmann::json& v = j[key];
  if (!v.is_array() || v.empty()) fail(where, ": ", key, " must be a non-empty list, found ", v.dump());
  value.clear();
  for (size_t i = 0; i < v.size(); ++i) {
    const int x = json_int(v[i], where, str(key, "[", i, "]"));
    if (x < lo || x > hi) fail(where, ": ", key, "[", i, "] = ", x, " is out of range [", lo, ", ", hi, "]");
    value.push_back(x);
  }
  return value;
}

}  // namespace

DavitConfig davit_config_parse(const nlohmann::json& j, int image_size, const std::string& where) {
  DavitConfig c;
  if (!j.is_object()) fail(where, ": vision_config must be an object");
  if (j.contains("model_type") && j["model_type"] != "davit")
    fail(where, ": vision_config.model_type ", j["model_type"].dump(), " is not supported (davit)");
  const auto dims = int_list(j, "dim_embed", {256, 512, 1024, 2048}, where, 1, 8192);
  const auto heads = int_list(j, "num_heads", {8, 16, 32, 64}, where, 1, 1024);
  const auto groups = int_list(j, "num_groups", {8, 16, 32, 64}, where, 1, 1024);
  const auto depths = int_list(j, "depths", {1, 1, 9, 1}, where, 0, 256);
  const auto patch = int_list(j, "patch_size", {7, 3, 3, 3}, where, 1, 64);
  const auto stride = int_list(j, "patch_stride", {4, 2, 2, 2}, where, 1, 64);
  const auto padding = int_list(j, "patch_padding", {3, 1, 1, 1}, where, 0, 63);
  std::vector<bool> prenorm = {false, true, true, true};
  if (j.contains("patch_prenorm")) {
    const nlohmann::json& v = j["patch_prenorm"];
    if (!v.is_array()) fail(where, ": patch_prenorm must be a list of booleans, found ", v.dump());
    prenorm.clear();
    for (const auto& b : v) {
      if (!b.is_boolean()) fail(where, ": patch_prenorm must be a list of booleans, found ", v.dump());
      prenorm.push_back(b.get<bool>());
    }
  }
  const size_t n = dims.size();
  for (const auto& [name, size] : {std::pair<const char*, size_t>{"num_heads", heads.size()}, {"num_groups", groups.size()},
                                   {"depths", depths.size()}, {"patch_size", patch.size()}, {"patch_stride", stride.size()},
                                   {"patch_padding", padding.size()}, {"patch_prenorm", prenorm.size()}})
    if (size != n) fail(where, ": ", name, " has ", size, " entries but dim_embed has ", n, " stages");
  json_field(j, "window_size", c.window, where, 1, 1024);
  json_field(j, "projection_dim", c.projection_dim, where, 1, 65536);
  for (const char* key : {"image_pos_embed", "visual_temporal_embedding"})
    if (!j.contains(key) || !j[key].is_object()) fail(where, ": vision_config.", key, " is missing");
  const nlohmann::json& pos = j["image_pos_embed"];
  if (pos.value("type", std::string()) != "learned_abs_2d")
    fail(where, ": image_pos_embed.type ", pos.value("type", nlohmann::json()).dump(), " is not supported (learned_abs_2d)");
  json_field(pos, "max_pos_embeddings", c.max_pos, where + " image_pos_embed", 1, 65536);
  const nlohmann::json& tmp = j["visual_temporal_embedding"];
  if (tmp.value("type", std::string()) != "COSINE")
    fail(where, ": visual_temporal_embedding.type ", tmp.value("type", nlohmann::json()).dump(), " is not supported (COSINE)");
  json_field(tmp, "max_temporal_embeddings", c.max_temporal, where + " visual_temporal_embedding", 1, 65536);
  // _encode_image concatenates the sources in order; for one frame temporal_avg_pool and
  // last_frame are both the grid tokens.
  std::vector<std::string> sources = {"spatial_avg_pool", "temporal_avg_pool"};
  if (j.contains("image_feature_source")) {
    const nlohmann::json& v = j["image_feature_source"];
    sources.clear();
    if (v.is_array())
      for (const auto& s : v) sources.push_back(s.is_string() ? s.get<std::string>() : s.dump());
  }
  const auto grid_source = [](const std::string& s) { return s == "temporal_avg_pool" || s == "last_frame"; };
  if (sources.size() == 2 && sources[0] == "spatial_avg_pool" && grid_source(sources[1])) {
    c.pool_token = true;
  } else {
    fail(where, ": image_feature_source ", j.value("image_feature_source", nlohmann::json()).dump(),
         " is not supported: glimpse runs [\"spatial_avg_pool\", \"temporal_avg_pool\"] (or \"last_frame\"), as every "
         "published Florence-2 checkpoint has");
  }
  c.image_size = image_size;
  for (size_t i = 0; i < n; ++i) {
    DavitStage s{dims[i], heads[i], groups[i], depths[i], patch[i], stride[i], padding[i], prenorm[i]};
    const std::string at = str(where, " stage ", i);
    attention_heads_check(s.dim, s.heads, at + " (dim_embed / num_heads)");
    if (s.dim % s.groups || s.dim / s.groups > 64)
      fail(at, ": dim_embed ", s.dim, " in ", s.groups, " num_groups: glimpse runs channel groups of at most 64 that divide it");
    if (s.padding >= s.patch) fail(at, ": patch_padding ", s.padding, " must be smaller than patch_size ", s.patch);
    c.stages.push_back(s);
    if (c.grid(i) < 1) fail(at, ": a ", image_size, " px image leaves no tokens");
  }
  if (c.grid(n - 1) > c.max_pos)
    fail(where, ": the last stage's ", c.grid(n - 1), "x", c.grid(n - 1), " grid exceeds image_pos_embed.max_pos_embeddings ",
         c.max_pos);
  return c;
}

}  // namespace glimpse
