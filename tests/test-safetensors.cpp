// The safetensors reader: valid single files and shards, and every kind of broken header.
#include "runtime/error.hpp"
#include "runtime/half.hpp"
#include "runtime/safetensors.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace glimpse;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("glimpse-st-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Writes 8-byte little-endian header length + header + data.
fs::path write_st(const fs::path& path, const std::string& header, const std::string& data,
                  uint64_t claimed_len = UINT64_MAX) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
  out << header << data;
  return path;
}

std::string floats_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

}  // namespace

TEST_CASE("safetensors: reads tensors of every kind a checkpoint holds", "[safetensors][loader]") {
  TempDir dir;
  const std::vector<float> w = {1.5f, -2.0f, 0.25f, 8.0f, 3.0f, -1.0f};
  std::string data = floats_bytes(w);                          // 0..24: F32 [2,3]
  const uint16_t h[2] = {float_to_half(0.5f), float_to_half(-3.0f)};
  data.append(reinterpret_cast<const char*>(h), 4);            // 24..28: F16 [2]
  const uint16_t b[2] = {0x3f80, 0xc000};                      // 1.0, -2.0
  data.append(reinterpret_cast<const char*>(b), 4);            // 28..32: BF16 [2]
  data.append(16, '\0');                                       // 32..48: I64 [1,2] position_ids
  data.append(4, '\x01');                                      // 48..52: U8 [1,1,2,2] mask buffer
  data.append(floats_bytes({-1e4f}));                          // 52..56: F32 [] masked_bias
  const std::string header =
      R"({"__metadata__": {"format": "pt"},
          "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
          "h": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},
          "b": {"dtype": "BF16", "shape": [2], "data_offsets": [28, 32]},
          "position_ids": {"dtype": "I64", "shape": [1, 2], "data_offsets": [32, 48]},
          "attn.bias": {"dtype": "U8", "shape": [1, 1, 2, 2], "data_offsets": [48, 52]},
          "attn.masked_bias": {"dtype": "F32", "shape": [], "data_offsets": [52, 56]}})";
  write_st(dir.path / "model.safetensors", header, data);

  const SafeTensors st = SafeTensors::open(dir.path.string());  // a directory finds model.safetensors
  CHECK(st.size() == 6);
  CHECK(st.metadata().at("format") == "pt");
  CHECK(SafeTensors::to_f32(st.require("w", {2, 3})) == w);
  CHECK(SafeTensors::to_f32(st.require("h", {2})) == std::vector<float>{0.5f, -3.0f});
  CHECK(SafeTensors::to_f32(st.require("b", {2})) == std::vector<float>{1.0f, -2.0f});
  CHECK(st.find("position_ids")->dtype == StDType::I64);
  CHECK(st.find("attn.bias")->numel() == 4);
  CHECK(st.find("attn.masked_bias")->shape.empty());
  CHECK(st.find("nope") == nullptr);
  CHECK_THROWS_WITH(st.require("w", {3, 2}), "tensor w: expected shape [3, 2], found [2, 3]");
  CHECK_THROWS_WITH(st.require("nope", {1}), "tensor nope: missing from the checkpoint");
  CHECK_THROWS_WITH(st.require("position_ids", {1, 2}), Catch::Contains("expected a float tensor, found I64"));
}

TEST_CASE("safetensors: broken files fail with the file, the tensor and the problem", "[safetensors][loader]") {
  TempDir dir;
  const std::string data = floats_bytes({1, 2, 3, 4});
  auto open = [&](const std::string& header, const std::string& body, uint64_t claimed = UINT64_MAX) {
    const fs::path p = write_st(dir.path / "bad.safetensors", header, body, claimed);
    return SafeTensors::open(p.string());
  };
  const std::string ok = R"({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})";
  CHECK_NOTHROW(open(ok, data));

  {  // empty and truncated files
    std::ofstream(dir.path / "empty.safetensors").put('x');
    CHECK_THROWS_WITH(SafeTensors::open((dir.path / "empty.safetensors").string()),
                      Catch::Contains("truncated safetensors file (1 bytes"));
  }
  CHECK_THROWS_WITH(open(ok, data.substr(0, 10)), Catch::Contains("tensor t in") && Catch::Contains("run past the data (10 bytes)"));
  CHECK_THROWS_WITH(open(ok, data, 1000), Catch::Contains("header length 1000 runs past the end of the file"));
  CHECK_THROWS_WITH(open(ok, data, uint64_t(1) << 40), Catch::Contains("exceeds the format's 100 MB limit"));
  CHECK_THROWS_WITH(open("{\"t\": [1, 2", data), Catch::Contains("header is not valid JSON"));
  CHECK_THROWS_WITH(open("[1, 2]", data), Catch::Contains("header must be a JSON object"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 16]}})", data),
                    Catch::Contains("tensor t in") && Catch::Contains("unknown dtype 'Q4'"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}})", data),
                    Catch::Contains("F32 [5] needs 20 bytes, data_offsets give 16"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "F16", "shape": [4], "data_offsets": [0, 16]}})", data),
                    Catch::Contains("F16 [4] needs 8 bytes, data_offsets give 16"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", data),
                    Catch::Contains("must hold non-negative integers"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}})", data),
                    Catch::Contains("absurdly large"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}})", data),
                    Catch::Contains("reversed"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0]}})", data),
                    Catch::Contains("data_offsets must be [begin, end]"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "F32", "data_offsets": [0, 16]}})", data), Catch::Contains("missing shape"));
  CHECK_THROWS_WITH(open(R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                             "u": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", data),
                    Catch::Contains("tensors t and u overlap"));
  CHECK_THROWS_WITH(open(R"({"__metadata__": {"n": 1}})", data), Catch::Contains("__metadata__ value 'n' is not a string"));
  CHECK_THROWS_WITH(SafeTensors::open((dir.path / "missing.safetensors").string()), Catch::Contains("no such file"));
  CHECK_THROWS_WITH(SafeTensors::open((dir.path / "nowhere").string() + "/"), Catch::Contains("no such file"));
  fs::create_directories(dir.path / "emptydir");
  CHECK_THROWS_WITH(SafeTensors::open((dir.path / "emptydir").string()),
                    Catch::Contains("no model.safetensors or model.safetensors.index.json"));
}

TEST_CASE("safetensors: sharded checkpoints through model.safetensors.index.json", "[safetensors][loader]") {
  TempDir dir;
  write_st(dir.path / "model-00001-of-00002.safetensors",
           R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", floats_bytes({1, 2}));
  write_st(dir.path / "model-00002-of-00002.safetensors",
           R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", floats_bytes({3}));
  auto index = [&](const std::string& text) {
    std::ofstream(dir.path / "model.safetensors.index.json") << text;
    return dir.path.string();
  };
  const SafeTensors st = SafeTensors::open(index(
      R"({"metadata": {"total_size": 12}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                          "b": "model-00002-of-00002.safetensors"}})"));
  CHECK(st.names() == std::vector<std::string>{"a", "b"});
  CHECK(SafeTensors::to_f32(*st.find("b")) == std::vector<float>{3});

  CHECK_THROWS_WITH(SafeTensors::open(index(R"({"weight_map": {"a": "model-00003-of-00002.safetensors"}})")),
                    Catch::Contains("model-00003-of-00002.safetensors: cannot open"));
  CHECK_THROWS_WITH(SafeTensors::open(index(R"({"weight_map": {"c": "model-00001-of-00002.safetensors"}})")),
                    Catch::Contains("the index lists tensor c in this shard, but the file does not hold it"));
  CHECK_THROWS_WITH(SafeTensors::open(index(R"({"weight_map": {"a": "../outside.safetensors"}})")),
                    Catch::Contains("not a file beside the index"));
  CHECK_THROWS_WITH(SafeTensors::open(index(R"({"metadata": {}})")), Catch::Contains("needs a \"weight_map\" object"));
  CHECK_THROWS_WITH(SafeTensors::open(index("{oops")), Catch::Contains("not valid JSON"));
}
