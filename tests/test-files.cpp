// Files a model folder or a request names are read only when they are regular files: a FIFO once
// blocked a load forever, /dev/zero as a vocabulary read 4.2 GB before failing and as an image
// until memory ran out, and a directory gave "basic_filebuf::underflow" without a path.
#include "fusion/family.hpp"
#include "runtime/error.hpp"
#include "runtime/file.hpp"
#include "runtime/json-file.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/torch-checkpoint.hpp"
#include "tests/op-test.hpp"
#include "text/wordpiece.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

using namespace glimpse;
namespace fs = std::filesystem;

namespace {

// The code and message of the Error `body` throws.
std::pair<ErrorCode, std::string> failure(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  return {ErrorCode::Unspecified, ""};
}

}  // namespace

TEST_CASE("only regular files are read, with size caps", "[loader]") {
  const fs::path dir = fs::temp_directory_path() / ("glimpse-files-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto t0 = std::chrono::steady_clock::now();

  auto [code, msg] = failure([&] { json_load(fifo.string()); });
  CHECK(code == ErrorCode::Io);
  CHECK_THAT(msg, Catch::Contains(fifo.string()) && Catch::Contains("not a regular file"));
  std::tie(code, msg) = failure([&] { image_load(fifo.string()); });
  CHECK(code == ErrorCode::Io);
  CHECK_THAT(msg, Catch::Contains("not a regular file"));
  std::tie(code, msg) = failure([&] { WordPiece::from_vocab_txt("/dev/zero"); });
  CHECK(code == ErrorCode::Io);
  CHECK_THAT(msg, Catch::Contains("/dev/zero: is not a regular file"));
  std::tie(code, msg) = failure([&] { image_load("/dev/zero"); });
  CHECK(code == ErrorCode::Io);
  std::tie(code, msg) = failure([&] { image_load(dir.string()); });
  CHECK(code == ErrorCode::Io);
  CHECK_THAT(msg, Catch::Contains(dir.string() + ": is a directory, not an image file"));
  // A model folder whose config.json is a FIFO or a directory: refused, named, at once.
  const fs::path model = dir / "model";
  fs::create_directories(model);
  REQUIRE(::mkfifo((model / "config.json").c_str(), 0600) == 0);
  std::tie(code, msg) = failure([&] { model_open(test::context(), model.string()); });
  CHECK(code == ErrorCode::Io);
  CHECK_THAT(msg, Catch::Contains("config.json: is not a regular file"));
  fs::remove(model / "config.json");
  fs::create_directories(model / "config.json");
  std::tie(code, msg) = failure([&] { model_open(test::context(), model.string()); });
  CHECK_THAT(msg, Catch::Contains("config.json: is a directory"));
  // Checkpoints are memory-mapped, not read: a FIFO there used to block open() for good.
  for (const char* weights : {"model.safetensors", "pytorch_model.bin"}) {
    const fs::path w = dir / weights;
    REQUIRE(::mkfifo(w.c_str(), 0600) == 0);
    std::tie(code, msg) = failure([&] {
      if (w.extension() == ".bin") TorchCheckpoint::open(w.string());
      else SafeTensors::open(w.string());
    });
    CHECK(code == ErrorCode::Io);
    CHECK_THAT(msg, Catch::Contains(w.string() + ": is not a regular file"));
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));

  // Size caps: a file past its kind's cap is refused before it is read.
  const fs::path big = dir / "big.json";
  std::ofstream(big) << "{}";
  fs::resize_file(big, kMaxJsonFileBytes + 1);  // sparse: no disk is used
  std::tie(code, msg) = failure([&] { json_load(big.string()); });
  CHECK(code == ErrorCode::Io);
  CHECK_THAT(msg, Catch::Contains("is more than a JSON file may hold"));
  CHECK(regular_file_size(big.string(), kMaxJsonFileBytes + 1, "a JSON file") == kMaxJsonFileBytes + 1);
  fs::remove_all(dir);
}
