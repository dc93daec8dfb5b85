// glimpse bench caption: captioning speed and memory in the real BLIP-base / BLIP-large, TrOCR
// small / base / large and Florence-2-base configurations with random weights (no download): image encode,
// decode per token, a 20-token caption (or line) in all. tools/bench/caption-compare.sh runs the
// PyTorch peer beside it.
#include "fusion/family.hpp"
#include "runtime/backend.hpp"
#include "runtime/error.hpp"
#include "commands.hpp"

#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

namespace glimpse::cli {

namespace fs = std::filesystem;

namespace {

// Any tensor the model asks for, made up on the spot: LayerNorm scales 1, everything else
// small uniform noise, deterministic per name. Speed does not depend on the values.
class RandomTensors : public TensorSource {
 public:
  const StTensor* find(const std::string& name_asked, const Shape& shape) const override {
    // Florence-2's lm_head holds the token table's values, as training ties them: one copy on the
    // device (WeightLoader::tied_table), as with the published checkpoints.
    const std::string name = name_asked == "language_model.lm_head.weight" ? "language_model.model.shared.weight" : name_asked;
    auto [it, fresh] = made_.try_emplace(name);
    Made& m = it->second;
    if (fresh) {
      m.values.resize(size_t(shape_numel(shape)));
      const bool unit = name.find("orm") != std::string::npos && name.size() > 7 &&
                        name.compare(name.size() - 7, 7, ".weight") == 0;  // LayerNorm / layer_norm / post_layernorm
      uint64_t state = std::hash<std::string>{}(name) | 1;
      for (float& v : m.values) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        v = unit ? 1.0f : (float(state >> 40) / float(1 << 24) - 0.5f) * 0.04f;
      }
      m.tensor.name = name;
      m.tensor.dtype = StDType::F32;
      m.tensor.shape = shape;
      m.tensor.data = reinterpret_cast<const std::byte*>(m.values.data());
      m.tensor.bytes = m.values.size() * 4;
      m.tensor.file = &kFile;
    }
    return &m.tensor;
  }
  // Done with a whole tensor (not a slice of it): its values go, so that the host holds one
  // tensor at a time and the peak memory reported is the model's, not the model's twice. Asked
  // for again, it is made again, the same.
  void release(const StTensor& t) const override {
    const auto it = made_.find(t.name);
    if (it != made_.end() && t.data == it->second.tensor.data && t.bytes == it->second.tensor.bytes) made_.erase(it);
  }

 private:
  struct Made {
    std::vector<float> values;
    StTensor tensor;
  };
  inline static const std::string kFile = "(random weights)";
  mutable std::map<std::string, Made> made_;
};

// A TrOCR folder as microsoft/trocr-{small,base,large}-handwritten configure it (their
// config.json sections; docs/models/trocr.md), a stand-in RoBERTa vocabulary.
void trocr_folder(const std::string& config, const fs::path& dir) {
  nlohmann::json enc = {{"model_type", "vit"},       {"hidden_size", 768},   {"intermediate_size", 3072},
                        {"num_hidden_layers", 12},   {"num_attention_heads", 12}, {"image_size", 384},
                        {"patch_size", 16},          {"qkv_bias", false},    {"hidden_act", "gelu"}};
  nlohmann::json dec = {{"model_type", "trocr"},     {"d_model", 1024},     {"decoder_layers", 12},
                        {"decoder_attention_heads", 16}, {"decoder_ffn_dim", 4096}, {"activation_function", "gelu"},
                        {"cross_attention_hidden_size", 768}, {"max_position_embeddings", 512},
                        {"use_learned_position_embeddings", true}, {"layernorm_embedding", true},
                        {"scale_embedding", false}, {"tie_word_embeddings", false}, {"vocab_size", 50265}};
  if (config == "trocr-large") {
    enc.update({{"hidden_size", 1024}, {"intermediate_size", 4096}, {"num_hidden_layers", 24}, {"num_attention_heads", 16}});
    dec["cross_attention_hidden_size"] = 1024;
  } else if (config == "trocr-small") {  // DeiT-small, a narrow decoder, XLM-R's trimmed vocabulary
    enc.update({{"model_type", "deit"}, {"hidden_size", 384}, {"intermediate_size", 1536}, {"num_attention_heads", 6},
                {"qkv_bias", true}});
    dec.update({{"d_model", 256}, {"decoder_layers", 6}, {"decoder_attention_heads", 8}, {"decoder_ffn_dim", 1024},
                {"cross_attention_hidden_size", 384}, {"activation_function", "relu"}, {"scale_embedding", true},
                {"vocab_size", 64044}});
  }
  std::ofstream(dir / "config.json") << nlohmann::json{{"architectures", {"VisionEncoderDecoderModel"}},
                                                       {"model_type", "vision-encoder-decoder"},
                                                       {"encoder", enc},
                                                       {"decoder", dec},
                                                       {"decoder_start_token_id", 2},
                                                       {"eos_token_id", 2},
                                                       {"pad_token_id", 1}}
                                            .dump();
  std::ofstream(dir / "preprocessor_config.json")
      << R"({"size": 384, "resample": 2, "do_normalize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})";
  nlohmann::json vocab = nlohmann::json::object();
  const int v = dec["vocab_size"].get<int>();
  for (int i = 0; i < v; ++i)
    vocab[i == 0 ? "<s>" : i == 1 ? "<pad>" : i == 2 ? "</s>" : i == 3 ? "<unk>" : i == v - 1 ? "<mask>" : "w" + std::to_string(i)] = i;
  std::ofstream(dir / "vocab.json") << vocab.dump();
  std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
}

// A Florence-2 folder as microsoft/Florence-2-base configures it (its config.json, the original
// layout; docs/models/florence2.md), a stand-in BART vocabulary (the processor's tokens are added
// at load).
void florence2_folder(const fs::path& dir) {
  const nlohmann::json vision = {
      {"model_type", "davit"}, {"patch_size", {7, 3, 3, 3}}, {"patch_stride", {4, 2, 2, 2}}, {"patch_padding", {3, 1, 1, 1}},
      {"patch_prenorm", {false, true, true, true}}, {"dim_embed", {128, 256, 512, 1024}}, {"num_heads", {4, 8, 16, 32}},
      {"num_groups", {4, 8, 16, 32}}, {"depths", {1, 1, 9, 1}}, {"window_size", 12}, {"projection_dim", 768},
      {"visual_temporal_embedding", {{"type", "COSINE"}, {"max_temporal_embeddings", 100}}},
      {"image_pos_embed", {{"type", "learned_abs_2d"}, {"max_pos_embeddings", 50}}},
      {"image_feature_source", {"spatial_avg_pool", "temporal_avg_pool"}}};
  const nlohmann::json text = {{"vocab_size", 51289}, {"activation_function", "gelu"}, {"d_model", 768},
                               {"decoder_attention_heads", 12}, {"decoder_ffn_dim", 3072}, {"decoder_layers", 6},
                               {"encoder_attention_heads", 12}, {"encoder_ffn_dim", 3072}, {"encoder_layers", 6},
                               {"max_position_embeddings", 1024}, {"no_repeat_ngram_size", 3}, {"num_beams", 3},
                               {"early_stopping", true}, {"forced_bos_token_id", 0}, {"forced_eos_token_id", 2},
                               {"decoder_start_token_id", 2}, {"scale_embedding", false}};
  std::ofstream(dir / "config.json") << nlohmann::json{{"architectures", {"Florence2ForConditionalGeneration"}},
                                                       {"model_type", "florence2"}, {"projection_dim", 768},
                                                       {"vision_config", vision}, {"text_config", text}}
                                            .dump();
  std::ofstream(dir / "preprocessor_config.json")
      << R"({"size": {"height": 768, "width": 768}, "resample": 3, "rescale_factor": 0.00392156862745098,
            "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "do_center_crop": false})";
  nlohmann::json vocab = nlohmann::json::object();
  // GPT-2's byte symbols first (bytes_to_unicode: the printable ones stand for themselves, the
  // rest shift past 255), so that the task prompts encode.
  std::vector<std::string> symbols;
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t c = printable ? char32_t(b) : char32_t(256 + shifted++);
    std::string u;
    if (c < 0x80) u += char(c);
    else u += char(0xC0 | (c >> 6)), u += char(0x80 | (c & 0x3F));
    symbols.push_back(u);
  }
  for (int i = 0; i < 50265; ++i)
    vocab[i == 0 ? "<s>" : i == 1 ? "<pad>" : i == 2 ? "</s>" : i == 3 ? "<unk>" : i == 50264 ? "<mask>"
          : i < 260 ? symbols[size_t(i - 4)] : "w" + std::to_string(i)] = i;
  std::ofstream(dir / "vocab.json") << vocab.dump();
  std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
}

// A model folder with everything but the weights: config, preprocessor, a stand-in vocabulary.
fs::path model_folder(const std::string& config) {
  const fs::path dir = fs::temp_directory_path() / ("glimpse-bench-" + config + "-" + std::to_string(::getpid()));
  if (config == "florence-2-base") {
    fs::create_directories(dir);
    florence2_folder(dir);
    return dir;
  }
  if (config == "trocr-small" || config == "trocr-base" || config == "trocr-large") {
    fs::create_directories(dir);
    trocr_folder(config, dir);
    return dir;
  }
  nlohmann::json vision = nlohmann::json::object(), text = {{"num_attention_heads", 12}};
  if (config == "blip-large") {
    vision = {{"hidden_size", 1024}, {"intermediate_size", 4096}, {"num_hidden_layers", 24}, {"num_attention_heads", 16}};
    text["encoder_hidden_size"] = 1024;
  } else if (config != "blip-base") {
    fail("bench caption: --config must be blip-base, blip-large, trocr-small, trocr-base, trocr-large or florence-2-base, "
         "found '",
         config, "'");
  }
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << nlohmann::json{{"architectures", {"BlipForConditionalGeneration"}},
                                                       {"model_type", "blip"},
                                                       {"vision_config", vision},
                                                       {"text_config", text}}
                                            .dump();
  std::ofstream(dir / "preprocessor_config.json")
      << R"({"size": {"height": 384, "width": 384}, "resample": 3, "rescale_factor": 0.00392156862745098,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]})";
  std::ofstream vocab(dir / "vocab.txt");
  for (int i = 0; i < 30522; ++i)
    vocab << (i == 0 ? "[PAD]" : i == 100 ? "[UNK]" : i == 101 ? "[CLS]" : i == 102 ? "[SEP]" : i == 103 ? "[MASK]"
                                                                                      : "w" + std::to_string(i))
          << "\n";
  return dir;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double peak_host_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

}  // namespace

int bench_caption_main(const Common& common, const std::vector<std::string>& args) {
  std::string config = "blip-base";
  int reps = 3, tokens = 20, batch = 1;
  bool json = false;
  ModelOptions model_opt;
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) fail(args[i], " needs a value");
      return args[++i];
    };
    if (args[i] == "--config") config = value();
    else if (args[i] == "--reps") reps = std::max(1, std::atoi(value().c_str()));
    else if (args[i] == "--tokens") tokens = std::clamp(std::atoi(value().c_str()), 1, 500);
    else if (args[i] == "--batch") batch = std::clamp(std::atoi(value().c_str()), 1, 64);
    else if (args[i] == "--f16") model_opt.weights = DType::F16;
    else if (args[i] == "--json") json = true;
    else fail("bench caption: unknown option '", args[i], "'");
  }
  const fs::path dir = model_folder(config);
  ContextOptions copt;
  copt.device = common.device;
  Context ctx(copt);
  std::unique_ptr<Model> model;
  {
    const RandomTensors weights;
    model_opt.tensors = &weights;
    model = model_open(ctx, dir.string(), model_opt);
    model_opt.tensors = nullptr;
  }
  fs::remove_all(dir);

  // A photo-like input; its content does not matter for speed.
  Image img;
  img.width = 640;
  img.height = 480;
  img.rgb.resize(size_t(640) * 480 * 3);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t((i * 2654435761u) >> 24);
  CaptionOptions opt;
  opt.gen.max_new_tokens = tokens;
  opt.gen.ignore_eos = true;  // always the full length, as the PyTorch peer is forced to
  // Beam search (Florence-2's default: <CAPTION>, 3 beams) ends at hits, not at ignore_eos: eos is
  // held off until the last token (min_length), which its forced eos then takes, on both sides.
  opt.gen.min_length = tokens + 1;
  // --batch N: N images captioned together (encode throughput is the batch's images per second).
  const std::vector<Image> images(size_t(batch), img);
  // Warm-up: pipelines and first-dispatch JIT, and on GPUs about a second of work so the clocks
  // leave their idle state (an H100 idles at 345 MHz and runs at 1980 under load; a single
  // warm-up caption after seconds of weight generation measured its kernels 2-3x slow).
  const auto warm0 = std::chrono::steady_clock::now();
  for (int w = 0; w < 50; ++w) {
    model->caption(images, opt);
    if (!ctx.backend().replay_recorded_passes() ||
        std::chrono::duration<double>(std::chrono::steady_clock::now() - warm0).count() >= 1.0)
      break;
  }
  // encode counts from pixel values, as the PyTorch peers do (they are handed a pixel tensor); the
  // image preparation before it (PIL-exact resize and normalisation) is reported on its own.
  std::vector<double> preprocess, encode, per_token, total;
  for (int r = 0; r < reps; ++r) {
    const CaptionResult res = model->caption(images, opt).at(0);
    const double generated = double(res.ids.size() - 1);
    const Timings& t = res.timings;
    preprocess.push_back(t.preprocess_ms);
    encode.push_back(t.encode_ms - t.preprocess_ms);
    per_token.push_back(t.decode_ms / generated);
    total.push_back(t.encode_ms - t.preprocess_ms + t.decode_ms);
  }
  const nlohmann::json out = {{"config", config},
                              {"device", ctx.info().name},
                              {"backend", ctx.backend().name()},
                              {"weights", model_opt.weights == DType::F16 ? "f16" : "f32"},
                              {"tokens", tokens},
                              {"batch", batch},
                              {"encode_images_per_s", batch * 1000.0 / median(encode)},
                              {"encode_ms", median(encode)},
                              {"preprocess_ms", median(preprocess)},
                              {"decode_ms_per_token", median(per_token)},
                              {"total_ms", median(total)},
                              {"peak_host_mb", peak_host_mb()},
                              {"peak_device_mb", double(ctx.memory_peak()) / (1 << 20)}};
  if (json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("glimpse bench caption: %s, %s weights, random, on %s (%s backend); median of %d\n", config.c_str(),
                out["weights"].get<std::string>().c_str(), ctx.info().name.c_str(),
                out["backend"].get<std::string>().c_str(), reps);
    std::printf("  preprocess        %9.1f ms (%dx640x480 RGB to pixel values, not in the figures below)\n"
                "  encode            %9.1f ms (batch %d: %.2f images/s)\n  decode            %9.1f ms/token\n"
                "  total (%d tokens) %9.1f ms\n",
                median(preprocess), batch, median(encode), batch, batch * 1000.0 / median(encode), median(per_token),
                tokens, median(total));
    std::printf("  peak memory       %9.0f MB host, %.0f MB device\n", peak_host_mb(), double(ctx.memory_peak()) / (1 << 20));
  }
  return 0;
}

}  // namespace glimpse::cli
