// The vision encoder's options are configuration (vision/vit-config.hpp): no q/k/v biases (TrOCR's
// ViT), DeiT's distillation token, the activation. Weights come from a generator keyed by tensor
// name, so two encoders see the same values for the same names.
#include "tests/op-test.hpp"

#include "runtime/safetensors.hpp"
#include "runtime/weights.hpp"
#include "vision/vit-config.hpp"
#include "vision/vit.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>

using namespace glimpse;
using glimpse::test::context;
using glimpse::test::Floats;
using glimpse::test::download;
using glimpse::test::max_abs_diff;
using glimpse::test::random_floats;
using glimpse::test::upload;

namespace {

// Values per name (LayerNorm weights 1, q/k/v biases 0 when `zero_qkv_bias`), and the names asked for.
class NamedTensors : public TensorSource {
 public:
  explicit NamedTensors(bool zero_qkv_bias) : zero_qkv_bias_(zero_qkv_bias) {}
  const StTensor* find(const std::string& name, const Shape& shape) const override {
    asked.insert(name);
    auto [it, fresh] = made_.try_emplace(name);
    if (fresh) {
      const bool norm_weight = name.find("layernorm") != std::string::npos && name.ends_with(".weight");
      const bool qkv_bias = name.find("attention.attention.") != std::string::npos && name.ends_with(".bias");
      it->second.values = random_floats(size_t(shape_numel(shape)), uint32_t(std::hash<std::string>{}(name)), -0.2f, 0.2f);
      if (norm_weight) it->second.values.assign(it->second.values.size(), 1.0f);
      if (qkv_bias && zero_qkv_bias_) it->second.values.assign(it->second.values.size(), 0.0f);
      StTensor& t = it->second.tensor;
      t.name = name;
      t.shape = shape;
      t.data = reinterpret_cast<const std::byte*>(it->second.values.data());
      t.bytes = it->second.values.size() * 4;
      t.file = &file_;
    }
    return &it->second.tensor;
  }
  mutable std::set<std::string> asked;

 private:
  struct Made {
    std::vector<float> values;
    StTensor tensor;
  };
  bool zero_qkv_bias_;
  std::string file_ = "generated";
  mutable std::map<std::string, Made> made_;
};

VitConfig tiny(const nlohmann::json& fields) {
  nlohmann::json j = {{"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
                      {"num_attention_heads", 4}, {"image_size", 32}, {"patch_size", 16}};
  if (fields.is_object()) j.update(fields);
  return vit_config_parse(j, "test config", vit_config_defaults());
}

// The encoder's states [1, N, D] for one fixed image.
Floats encode(const VitConfig& cfg, const NamedTensors& weights) {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "vit options");
  WeightLoader w(ctx, arena, weights, DType::F32);
  const VitEncoder enc(w, cfg, VitLayout::HuggingFaceVit, "encoder.");
  const Tensor pixels = upload(arena, random_floats(size_t(3 * 32 * 32), 7), {1, 3, 32, 32});
  const Tensor out = arena.alloc(DType::F32, {1, cfg.tokens(), cfg.hidden});
  Sequence seq(ctx);
  enc.record(seq, arena, pixels, out);
  seq.run();
  return download(out);
}

}  // namespace

TEST_CASE("vision encoder options are configuration: q/k/v biases, distillation token, activation", "[vision]") {
  const VitConfig plain = tiny({});
  CHECK(plain.qkv_bias);
  CHECK(plain.prefix_tokens == 1);
  CHECK(plain.act == Activation::GeluErf);
  CHECK(plain.tokens() == 5);

  // Without q/k/v biases: the bias tensors are never read, and the result is the biased encoder's
  // with zero biases.
  const VitConfig no_bias = tiny({{"qkv_bias", false}});
  NamedTensors zero(true), none(true);
  const Floats with_zero = encode(plain, zero), without = encode(no_bias, none);
  CHECK(zero.asked.count("encoder.encoder.layer.0.attention.attention.query.bias") == 1);
  for (const std::string& n : none.asked) CHECK((n.find("attention.attention.") == std::string::npos || !n.ends_with(".bias")));
  CHECK(max_abs_diff(without, with_zero) < 1e-5);
  NamedTensors biased(false);
  CHECK(max_abs_diff(encode(plain, biased), with_zero) > 1e-4);  // the biases do matter when not zero

  // DeiT: class and distillation tokens before the patches, positions for both.
  VitConfig deit = plain;
  deit.prefix_tokens = 2;
  NamedTensors d(false);
  const Floats states = encode(deit, d);
  CHECK(states.size() == size_t(6 * 32));
  CHECK(d.asked.count("encoder.embeddings.distillation_token") == 1);
  CHECK(d.asked.count("encoder.embeddings.cls_token") == 1);
  CHECK(test::all_finite(states));

  // The activation from hidden_act.
  const VitConfig tanh = tiny({{"hidden_act", "gelu_new"}});
  CHECK(tanh.act == Activation::GeluTanh);
  NamedTensors a(false), b(false);
  const Floats erf_out = encode(plain, a), tanh_out = encode(tanh, b);
  CHECK(max_abs_diff(erf_out, tanh_out) > 0);
  CHECK(max_abs_diff(erf_out, tanh_out) < 1e-2);  // the two GELUs differ by < 1e-3 per value
  CHECK_THROWS_WITH(tiny({{"hidden_act", "swish"}}), Catch::Contains("activation 'swish' is not supported"));
  CHECK_THROWS_WITH(tiny({{"qkv_bias", "yes"}}), Catch::Contains("qkv_bias must be true or false"));
  CHECK_THROWS_WITH(tiny({{"image_size", 40}}), Catch::Contains("image_size 40 is not a multiple of patch_size 16"));
}
