// TrOCR on the tiny checkpoints written by tools/trocr-reference.py: a ViT encoder without q/k/v
// biases with learned positions and a separate output projection (tiny-vit), a DeiT encoder with
// sinusoidal positions, relu and tied embeddings (tiny-deit), and tiny-vit's weights stored only
// as pytorch_model.bin (tiny-vit-bin). Pixel values exact, encoder states <= 1e-4, step-0 logits
// <= 1e-3, greedy and beam ids and text exact.
#include "tests/op-test.hpp"

#include "fusion/family.hpp"
#include "fusion/trocr.hpp"
#include "runtime/error.hpp"
#include "text/bpe.hpp"
#include "text/sentencepiece.hpp"
#include "text/bart-decoder.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace glimpse;
using glimpse::test::context;
using glimpse::test::max_abs_diff;
using glimpse::test::npy_load;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(GLIMPSE_TEST_DATA) / "trocr";
const std::pair<const char*, const char*> kImages[] = {
    {"pattern", "blip/pattern.png"}, {"photo", "images/rgb-420.jpg"}, {"gray", "images/gray.png"}};

nlohmann::json goldens() { return nlohmann::json::parse(std::ifstream(kDir / "goldens.json")); }

void check_model(const char* dir, const char* variant, const ModelOptions& mo = {}) {
  const auto g = goldens()["cases"][variant];
  const auto model = model_load<TrocrRecognizer>(context(), (kDir / dir).string(), mo);
  const bool f16 = mo.weights == DType::F16;
  for (const auto& [name, file] : kImages) {
    INFO("model " << dir << ", image " << name << (f16 ? ", fp16 weights" : ""));
    const Image img = image_load((fs::path(GLIMPSE_TEST_DATA) / file).string());
    CaptionOptions opt;
    opt.keep_tensors = true;
    const CaptionResult r = model->caption({img}, opt).at(0);
    const std::string stem = (kDir / ("golden-" + std::string(variant) + "-" + name)).string();
    // ViTImageProcessor: bilinear, mean/std 0.5, bit for bit (grayscale converted to RGB first)
    CHECK(r.pixel_values == npy_load((kDir / ("golden-" + std::string(name) + "-pixel_values.npy")).string()));
    const double states = max_abs_diff(r.image_embeds, npy_load(stem + "-encoder_states.npy"));
    const double logits = max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy"));
    INFO("max abs diff: encoder states " << states << ", step-0 logits " << logits);
    CHECK(states <= (f16 ? 2e-2 : 1e-4));
    CHECK(logits <= (f16 ? 2e-2 : 1e-3));
    if (f16) CHECK(states > 0);  // the option is in effect
    CHECK(r.ids == g[name]["ids"].get<std::vector<uint32_t>>());
    CHECK(r.text == g[name]["text"].get<std::string>());
    if (f16) continue;
    CaptionOptions beams;
    beams.gen.num_beams = 3;
    beams.gen.max_length = 12;
    const CaptionResult b = model->caption({img}, beams).at(0);
    CHECK(b.ids == g[name]["ids_beam3_ml12"].get<std::vector<uint32_t>>());
    CHECK(b.text == g[name]["text_beam3_ml12"].get<std::string>());
  }
}

}  // namespace

TEST_CASE("TrOCR with a ViT encoder and learned positions matches the PyTorch reference", "[trocr][model]") {
  check_model("tiny-vit", "tiny-vit");
}

TEST_CASE("TrOCR from pytorch_model.bin (the restricted unpickler) gives the safetensors twin's results",
          "[trocr][model]") {
  check_model("tiny-vit-bin", "tiny-vit");
}

TEST_CASE("TrOCR with a DeiT encoder, sinusoidal positions, relu and tied embeddings matches the reference",
          "[trocr][model]") {
  check_model("tiny-deit", "tiny-deit");
}

TEST_CASE("TrOCR with fp16 weights stays within fp16 tolerances of the reference", "[trocr][model]") {
  ModelOptions mo;
  mo.weights = DType::F16;
  check_model("tiny-vit", "tiny-vit", mo);
  check_model("tiny-deit", "tiny-deit", mo);
}

TEST_CASE("TrOCR images are batched, and a prompt continues from the start token", "[trocr][model]") {
  const auto g = goldens()["cases"]["tiny-vit"];
  const auto model = model_open(context(), (kDir / "tiny-vit").string());
  CHECK(model->info().family == "trocr");
  CHECK(model->info().eos == 2);
  std::vector<Image> images;
  for (const auto& [name, file] : kImages) images.push_back(image_load((fs::path(GLIMPSE_TEST_DATA) / file).string()));
  const std::vector<CaptionResult> rs = model->caption(images);
  REQUIRE(rs.size() == 3);
  for (size_t i = 0; i < rs.size(); ++i) CHECK(rs[i].ids == g[kImages[i].first]["ids"].get<std::vector<uint32_t>>());
  // The greedy ids of the pattern image, its first tokens given as a prompt: the same ids come back.
  const auto want = g["pattern"]["ids"].get<std::vector<uint32_t>>();
  REQUIRE(want.size() >= 4);
  const auto& trocr = dynamic_cast<TrocrRecognizer&>(*model);
  CaptionOptions opt;
  opt.prompt = trocr.tokenizer().decode({want[1], want[2]});
  if (trocr.tokenizer().encode(opt.prompt) == std::vector<uint32_t>{want[1], want[2]}) {
    const CaptionResult r = model->caption({images[0]}, opt).at(0);
    CHECK(r.ids == want);
  }
  opt.prompt = std::string(1, '\xff');
  try {
    model->caption({images[0]}, opt);
    FAIL("invalid UTF-8 in a prompt was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::InvalidArgument);
  }
}

TEST_CASE("TrOCR's RoBERTa BPE encodes prompts as the reference and knows its special tokens", "[trocr][text]") {
  const auto g = goldens()["prompts"];
  for (const char* dir : {"tiny-vit", "tiny-vit-bin"}) {  // vocab.json + merges.txt; tokenizer.json
    const BytePairTokenizer tok = BytePairTokenizer::from_folder((kDir / dir).string());
    INFO(dir);
    CHECK(tok.eos_id() == 2);
    for (auto it = g.begin(); it != g.end(); ++it) {
      INFO(it.key());
      CHECK(tok.encode(it.key()) == it.value().get<std::vector<uint32_t>>());
    }
    // skip_special_tokens drops <s> <pad> </s> <unk> <mask>, keeps the rest
    const uint32_t mask = uint32_t(tok.id("<mask>"));
    const std::vector<uint32_t> ids = tok.encode("hello world");
    std::vector<uint32_t> with = {2, 0};
    with.insert(with.end(), ids.begin(), ids.end());
    with.insert(with.end(), {mask, 3, 1, 2});
    CHECK(tok.decode(with) == "hello world");
    CHECK(tok.decode(with, false) == "</s><s>hello world<mask><unk><pad></s>");
  }
}

TEST_CASE("TrOCR's sinusoidal positions are the model's table", "[trocr][text]") {
  // get_embedding(5, 6, padding_idx 1): half 3, frequencies 1, 1e-2, 1e-4; row 1 zero; sin | cos
  const std::vector<float> t = trocr_sinusoids(5, 6, 1);
  for (int c = 0; c < 6; ++c) CHECK(t[size_t(6 + c)] == 0.0f);
  CHECK(t[2 * 6 + 0] == std::sin(2.0f));
  CHECK(t[2 * 6 + 3] == std::cos(2.0f));
  CHECK(std::abs(t[3 * 6 + 1] - std::sin(3.0f * 0.01f)) < 1e-7f);
  CHECK(t[0 * 6 + 4] == 1.0f);  // cos(0)
  const std::vector<float> odd = trocr_sinusoids(3, 7, 0);
  CHECK(odd[2 * 7 + 6] == 0.0f);  // the zero column of an odd width
}

TEST_CASE("TrOCR configs that glimpse cannot run are refused by name", "[trocr][model]") {
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(kDir / "tiny-vit" / "config.json"));
  auto refused = [&](const nlohmann::json& j, const char* what) {
    INFO(what);
    CHECK_THROWS_WITH(trocr_model_config_parse(j, nlohmann::json::object(), "config.json"), Catch::Contains(what));
  };
  nlohmann::json j = cfg;
  j["encoder"]["model_type"] = "swin";
  refused(j, "encoder model_type 'swin'");
  j = cfg;
  j["decoder"]["activation_function"] = "silu";
  refused(j, "activation 'silu'");
  j = cfg;
  j["decoder"]["cross_attention_hidden_size"] = 64;
  refused(j, "cross_attention_hidden_size");
  j = cfg;
  j["decoder"]["d_model"] = 50;
  refused(j, "num_attention_heads");
  j = cfg;
  j["decoder_start_token_id"] = 1000000;
  refused(j, "outside the vocabulary");
  // generation_config.json wins over config.json, as GenerationConfig does
  j = cfg;
  const TrocrModelConfig c = trocr_model_config_parse(j, {{"decoder_start_token_id", 0}, {"eos_token_id", {2}}}, "c");
  CHECK(c.decoder.decoder_start == 0);
  CHECK(c.decoder.eos == 2);
  CHECK_THROWS_WITH(trocr_model_config_parse(j, {{"eos_token_id", {2, 3}}}, "c"), Catch::Contains("must be one id"));
}

TEST_CASE("TrOCR-small's SentencePiece tokenizer encodes and decodes as the reference", "[trocr][text]") {
  // tests/data/trocr/tiny-deit/sentencepiece.bpe.model: a unigram ModelProto with a precompiled
  // charsmap, written by tools/trocr-reference.py, which also encodes these texts its own way.
  const auto g = goldens();
  const SentencePieceTokenizer sp = SentencePieceTokenizer::from_file((kDir / "tiny-deit" / "sentencepiece.bpe.model").string());
  CHECK(sp.kind() == SentencePieceTokenizer::Kind::Unigram);
  CHECK(sp.eos_id() == 2);
  for (auto it = g["prompts_sp"].begin(); it != g["prompts_sp"].end(); ++it) {
    INFO("'" << it.key() << "' normalised '" << sp.normalize(it.key()) << "'");
    CHECK(sp.encode(it.key()) == it.value().get<std::vector<uint32_t>>());
  }
  CHECK(sp.normalize("  a\xe3\x80\x80\xef\xbd\x88  b ") == "\xe2\x96\x81" "a" "\xe2\x96\x81" "h" "\xe2\x96\x81" "b");  // U+3000 -> space, U+FF48 -> h
  CHECK(sp.decode(g["decode_sp"]["ids"].get<std::vector<uint32_t>>()) == g["decode_sp"]["text"].get<std::string>());
  CHECK_THROWS_WITH(sp.encode("\xff"), Catch::Contains("UTF-8"));
  // the model opens with it, and its text is the reference's
  const auto model = model_open(context(), (kDir / "tiny-deit").string());
  CHECK(model->detokenize({2, 4, 5, 2}) == sp.decode({2, 4, 5, 2}));
}

namespace {

std::string pb_varint(uint64_t v) {
  std::string o;
  do {
    o += char((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return o;
}
std::string pb_field(int num, int wire, const std::string& payload) {
  return pb_varint(uint64_t(num) << 3 | uint64_t(wire)) + (wire == 2 ? pb_varint(payload.size()) : "") + payload;
}
std::string pb_piece(const std::string& text, int type = 1, float score = -1.0f) {
  std::string bits(4, '\0');
  std::memcpy(bits.data(), &score, 4);
  return pb_field(1, 2, pb_field(1, 2, text) + pb_field(2, 5, bits) + pb_field(3, 0, pb_varint(uint64_t(type))));
}

}  // namespace

TEST_CASE("SentencePiece BPE models merge the best-scoring pair first, the leftmost among equals", "[trocr][text]") {
  // bpe_model.cc: "▁abab" -> ▁ a b a b; both "ab" pairs score -2, the left one merges first; then
  // "▁ab" (-1) beats the remaining "ab" (-2). Unknown characters: one <unk> per run.
  const std::string sp = "\xe2\x96\x81";
  const std::string model = pb_piece("<unk>", 2) + pb_piece("<s>", 3) + pb_piece("</s>", 3) + pb_piece(sp, 1, -5) +
                            pb_piece("a", 1, -5) + pb_piece("b", 1, -5) + pb_piece("ab", 1, -2) + pb_piece(sp + "ab", 1, -1) +
                            pb_field(2, 2, pb_field(3, 0, pb_varint(2)));
  const SentencePieceTokenizer bpe = SentencePieceTokenizer::parse(model, "bpe.model");
  CHECK(bpe.kind() == SentencePieceTokenizer::Kind::Bpe);
  CHECK(bpe.encode("abab") == std::vector<uint32_t>{8, 7});        // ▁ab, ab (fairseq: piece id + 1)
  CHECK(bpe.encode("ab cc") == std::vector<uint32_t>{8, 4, 3});    // ▁ab, ▁, <unk> for "cc"
  CHECK(bpe.encode("ba") == std::vector<uint32_t>{4, 6, 5});       // ▁ b a: no pair is a piece
  CHECK(bpe.decode({0, 8, 7, 4, 2}) == "abab ");
}

TEST_CASE("SentencePiece models that are broken or hostile are refused naming the problem", "[trocr][text]") {
  const std::string good = pb_piece("<unk>", 2) + pb_piece("<s>", 3) + pb_piece("</s>", 3) + pb_piece("\xe2\x96\x81" "a") +
                           pb_field(2, 2, pb_field(3, 0, pb_varint(1)));
  CHECK(SentencePieceTokenizer::parse(good, "good.model").encode("a") == std::vector<uint32_t>{4});
  auto refused = [](const std::string& bytes, const char* what) {
    INFO(what);
    CHECK_THROWS_WITH(SentencePieceTokenizer::parse(bytes, "x.model"), Catch::Contains("x.model") && Catch::Contains(what));
  };
  refused(good.substr(0, good.size() - 3), "truncated");
  refused(good.substr(0, 5), "runs past the end");
  refused(pb_varint(1 << 3 | 2) + pb_varint(0xFFFFFFFFFFull), "runs past the end");                  // absurd length
  refused(pb_varint(1 << 3 | 2) + std::string(11, '\xff'), "varint longer than 10 bytes");
  refused(pb_field(1, 0, pb_varint(5)), "field 1 has wire type 0");
  refused(pb_varint(1 << 3 | 3), "wire type 3");
  refused(good + pb_field(2, 2, pb_field(3, 0, pb_varint(3))), "model_type 3 is not supported");
  refused(pb_field(2, 2, pb_field(3, 0, pb_varint(1))), "has no pieces");
  refused(good + pb_field(2, 2, pb_field(40, 0, pb_varint(99))), "unk_id 99 is not a piece");
  refused(pb_piece("a", 9), "has type 9");
  refused(pb_piece(std::string(2000, 'a')), "2000 bytes long");
  refused(good + pb_field(3, 2, pb_field(2, 2, std::string("\xff\xff\x00\x00", 4))), "trie size");
  refused(good + pb_field(3, 2, pb_field(2, 2, "ab")), "truncated");
}
