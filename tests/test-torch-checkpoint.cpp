// The restricted unpickler for PyTorch checkpoints (runtime/torch-checkpoint.hpp): archives built
// here byte by byte, as torch.save lays them out (a stored zip holding archive/data.pkl and
// archive/data/<key>), good and hostile; and the committed tiny TrOCR .bin against its safetensors twin.
#include "runtime/safetensors.hpp"
#include "runtime/torch-checkpoint.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace glimpse;
namespace fs = std::filesystem;

namespace {

void put(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s += char((v >> (8 * i)) & 0xFF);
}

// A zip of stored entries (CRCs left zero: the reader does not check them, torch's does).
std::string zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, cd;
  for (const auto& [name, data] : entries) {
    const size_t local = out.size();
    put(out, 0x04034b50, 4), put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4), put(out, 0, 4);
    put(out, data.size(), 4), put(out, data.size(), 4), put(out, name.size(), 2), put(out, 0, 2);
    out += name + data;
    put(cd, 0x02014b50, 4), put(cd, 20, 2), put(cd, 20, 2), put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 4), put(cd, 0, 4);
    put(cd, data.size(), 4), put(cd, data.size(), 4), put(cd, name.size(), 2), put(cd, 0, 2), put(cd, 0, 2);
    put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 4), put(cd, local, 4);
    cd += name;
  }
  const size_t cd_off = out.size();
  out += cd;
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2), put(out, entries.size(), 2), put(out, entries.size(), 2);
  put(out, cd.size(), 4), put(out, cd_off, 4), put(out, 0, 2);
  return out;
}

std::string str(const std::string& s) {  // BINUNICODE
  std::string o = "X";
  put(o, s.size(), 4);
  return o + s;
}

struct TensorSpec {
  std::string name, storage = "FloatStorage", key = "0";
  int64_t numel = 6, offset = 0;
  std::vector<int64_t> size = {2, 3}, stride = {3, 1};
};

std::string tuple(const std::vector<int64_t>& v) {
  std::string o = "(";
  for (int64_t x : v) o += "J", put(o, uint64_t(x), 4);
  return o + "t";
}

// A protocol-2 pickle of an OrderedDict of tensors, as torch.save writes a state dict.
std::string state_dict(const std::vector<TensorSpec>& ts, const std::string& global = "torch._utils\n_rebuild_tensor_v2\n") {
  std::string p = "\x80\x02" "ccollections\nOrderedDict\n)R";
  for (const TensorSpec& t : ts) {
    p += str(t.name) + "c" + global + "(";
    p += "(" + str("storage") + "ctorch\n" + t.storage + "\n" + str(t.key) + str("cpu") + "J";
    put(p, uint64_t(t.numel), 4);
    p += "tQ";
    p += "J", put(p, uint64_t(t.offset), 4);
    p += tuple(t.size) + tuple(t.stride) + "\x89" "ccollections\nOrderedDict\n)RtRs";
  }
  return p + ".";
}

std::string floats(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    const float f = float(i) + 0.5f;
    s.append(reinterpret_cast<const char*>(&f), 4);
  }
  return s;
}

}  // namespace

TEST_CASE("PyTorch checkpoints: tensors from a state dict pickle, shared storages and offsets", "[loader]") {
  TensorSpec a{"a.weight"}, b{"b.weight"};
  b.offset = 2, b.size = {4}, b.stride = {1};  // a view into the same storage
  const std::string bin = zip({{"archive/data.pkl", state_dict({a, b})}, {"archive/data/0", floats(6)}});
  const TorchCheckpoint c = TorchCheckpoint::parse(bin, "ok.bin");
  REQUIRE(c.count() == 2);
  const StTensor* t = c.find("a.weight");
  REQUIRE(t);
  CHECK(t->shape == Shape{2, 3});
  CHECK(t->dtype == StDType::F32);
  CHECK(SafeTensors::to_f32(*t) == std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f});
  CHECK(SafeTensors::to_f32(*c.find("b.weight")) == std::vector<float>{2.5f, 3.5f, 4.5f, 5.5f});
  CHECK(c.find("c") == nullptr);
}

TEST_CASE("PyTorch checkpoints: hostile and broken files are refused naming the problem", "[loader]") {
  const TensorSpec a{"w"};
  const std::string good = zip({{"archive/data.pkl", state_dict({a})}, {"archive/data/0", floats(6)}});
  auto refused = [](const std::string& bytes, const char* what) {
    INFO(what);
    CHECK_THROWS_WITH(TorchCheckpoint::parse(bytes, "x.bin"), Catch::Contains(what));
  };
  // code execution: any global outside the state-dict set, never called
  refused(zip({{"archive/data.pkl", "\x80\x02" "cos\nsystem\n" + str("touch /tmp/pwned") + "\x85R."}}),
          "global 'os.system' is not allowed");
  refused(zip({{"archive/data.pkl", state_dict({a}, "builtins\neval\n")}, {"archive/data/0", floats(6)}}),
          "global 'builtins.eval' is not allowed");
  refused(zip({{"archive/data.pkl", "\x80\x04\x8c\x05posix\x8c\x06system\x93."}}), "global 'posix.system'");
  // truncated archives and pickles
  refused(good.substr(0, good.size() / 2), "truncated");
  refused(good.substr(0, 10), "too short for a zip archive");
  refused(zip({{"archive/data.pkl", state_dict({a}).substr(0, 40)}, {"archive/data/0", floats(6)}}), "truncated");
  refused(zip({{"archive/data/0", floats(6)}}), "has no data.pkl");
  // storages: missing, too small for their dtype (a dtype mismatch), offsets out of range
  refused(zip({{"archive/data.pkl", state_dict({a})}}), "has no entry archive/data/0");
  TensorSpec half = a;
  half.storage = "DoubleStorage";
  refused(zip({{"archive/data.pkl", state_dict({half})}, {"archive/data/0", floats(6)}}), "dtype mismatch or truncated");
  TensorSpec off = a;
  off.offset = 4;
  refused(zip({{"archive/data.pkl", state_dict({off})}, {"archive/data/0", floats(6)}}), "runs past storage");
  TensorSpec neg = a;
  neg.offset = -1;
  refused(zip({{"archive/data.pkl", state_dict({neg})}, {"archive/data/0", floats(6)}}), "runs past storage");
  TensorSpec strided = a;
  strided.stride = {1, 2};
  refused(zip({{"archive/data.pkl", state_dict({strided})}, {"archive/data/0", floats(6)}}), "not contiguous");
  TensorSpec odd = a;
  odd.storage = "QInt8Storage";
  refused(zip({{"archive/data.pkl", state_dict({odd})}, {"archive/data/0", floats(6)}}), "'torch.QInt8Storage' is not allowed");
  // pickle machinery a state dict never uses, and structural abuse
  refused(zip({{"archive/data.pkl", std::string("\x80\x02]q\x00h\x00\x81.", 9)}}), "opcode 0x81");
  refused(zip({{"archive/data.pkl", "\x80\x02h\x07."}}), "memo key 7 was never stored");
  refused(zip({{"archive/data.pkl", "\x80\x02" + std::string(100, ']') + std::string(99, 'a') + "."}}), "nested more than");
  refused(zip({{"archive/data.pkl", "\x80\x02]."}}), "is a list, not a state dict");
  // cycles, which shared containers would never free (fuzz-torch-checkpoint found the leak):
  // l.append(l), and a.append(b) after b.append(a)
  refused(zip({{"archive/data.pkl", std::string("\x80\x02]q\x00h\x00" "a.", 9)}}), "a container inside itself");
  refused(zip({{"archive/data.pkl", std::string("\x80\x02]q\x00]q\x01h\x00" "aa.", 13)}}), "changed after it was put in another");
  refused(zip({{"archive/data.pkl", "\x80\x02s."}}), "stack underflow");
  std::string compressed = good;
  compressed[8] = 8;  // the first local header's method: deflate
  const size_t cd = compressed.find("PK\x01\x02");
  compressed[cd + 10] = 8;
  refused(compressed, "is compressed (method 8)");
}

TEST_CASE("PyTorch checkpoints: the tiny TrOCR .bin holds the safetensors twin's tensors", "[loader]") {
  const fs::path dir = fs::path(GLIMPSE_TEST_DATA) / "trocr";
  const TorchCheckpoint bin = TorchCheckpoint::open((dir / "tiny-vit-bin").string());
  const SafeTensors st = SafeTensors::open((dir / "tiny-vit").string());
  CHECK(bin.names() == st.names());
  for (const std::string& name : st.names()) {
    INFO(name);
    const StTensor* a = bin.find(name);
    const StTensor* b = st.find(name);
    REQUIRE(a);
    CHECK(a->shape == b->shape);
    CHECK(a->dtype == b->dtype);
    REQUIRE(a->bytes == b->bytes);
    CHECK(std::memcmp(a->data, b->data, a->bytes) == 0);
  }
  // a truncated copy on disk: refused by name
  const fs::path tmp = fs::temp_directory_path() / "glimpse-truncated-pytorch_model.bin";
  {
    std::ifstream in(dir / "tiny-vit-bin" / "pytorch_model.bin", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(tmp, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() - 100));
  }
  CHECK_THROWS_WITH(TorchCheckpoint::open(tmp.string()), Catch::Contains("glimpse-truncated-pytorch_model.bin"));
  fs::remove(tmp);
}
