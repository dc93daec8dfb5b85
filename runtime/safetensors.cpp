#include "runtime/safetensors.hpp"

#include "runtime/error.hpp"
#include "runtime/file.hpp"
#include "runtime/half.hpp"
#include "runtime/json-file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace glimpse {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct DTypeInfo {
  const char* name;
  StDType dtype;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {"F64", StDType::F64, 8},   {"F32", StDType::F32, 4},         {"F16", StDType::F16, 2},
    {"BF16", StDType::BF16, 2}, {"I64", StDType::I64, 8},         {"I32", StDType::I32, 4},
    {"I16", StDType::I16, 2},   {"I8", StDType::I8, 1},           {"U64", StDType::U64, 8},
    {"U32", StDType::U32, 4},   {"U16", StDType::U16, 2},         {"U8", StDType::U8, 1},
    {"BOOL", StDType::BOOL, 1}, {"F8_E4M3", StDType::F8_E4M3, 1}, {"F8_E5M2", StDType::F8_E5M2, 1},
};

// The format caps the header at 100 MB; anything larger is a corrupt or hostile file.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

}  // namespace

const char* st_dtype_name(StDType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

size_t st_dtype_size(StDType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

std::string StTensor::describe() const { return str(name, " (", st_dtype_name(dtype), " ", shape_str(shape), ")"); }

HostType StTensor::host_type() const {
  switch (dtype) {
    case StDType::F32: return HostType::F32;
    case StDType::F16: return HostType::F16;
    case StDType::BF16: return HostType::BF16;
    default: fail("tensor ", name, " in ", *file, ": dtype ", st_dtype_name(dtype), " is not a float type (F32, F16, BF16)");
  }
}

void SafeTensors::release(const StTensor& t) const { memory_release(t.data, t.bytes); }

SafeTensors::SafeTensors(SafeTensors&&) noexcept = default;
SafeTensors& SafeTensors::operator=(SafeTensors&&) noexcept = default;
SafeTensors::~SafeTensors() = default;

void SafeTensors::add_file(const std::string& path, const std::vector<std::string>* expected) {
  files_.push_back(std::make_unique<MappedFile>(path));
  file_names_.push_back(std::make_unique<std::string>(path));
  const MappedFile& m = *files_.back();
  const std::string* file = file_names_.back().get();

  if (m.size < 8) fail(path, ": truncated safetensors file (", m.size, " bytes, the header length alone takes 8)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | uint8_t(m.bytes()[i]);
  if (header_len > kMaxHeaderBytes) fail(path, ": header length ", header_len, " exceeds the format's 100 MB limit");
  if (header_len > m.size - 8)
    fail(path, ": header length ", header_len, " runs past the end of the file (", m.size, " bytes): truncated?");
  const size_t data_size = m.size - 8 - header_len;
  const std::byte* data = m.bytes() + 8 + header_len;

  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(m.bytes() + 8),
                         reinterpret_cast<const char*>(m.bytes() + 8 + header_len));
  } catch (const json::exception& e) {
    fail(path, ": header is not valid JSON: ", e.what());
  }
  if (!header.is_object()) fail(path, ": header must be a JSON object");

  struct Span {
    size_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, ": __metadata__ must be an object of strings");
      for (auto m_it = entry.begin(); m_it != entry.end(); ++m_it) {
        if (!m_it.value().is_string()) fail(path, ": __metadata__ value '", m_it.key(), "' is not a string");
        metadata_[m_it.key()] = m_it.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const auto&... what) { fail("tensor ", name, " in ", path, ": ", what...); };
    if (!entry.is_object()) bad("entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) bad("missing dtype");
    if (!entry.contains("shape") || !entry["shape"].is_array()) bad("missing shape");
    if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
      bad("data_offsets must be [begin, end]");

    StTensor t;
    t.name = name;
    t.file = file;
    const std::string dtype = entry["dtype"].get<std::string>();
    const DTypeInfo* info = nullptr;
    for (const auto& d : kDTypes)
      if (dtype == d.name) info = &d;
    if (!info) bad("unknown dtype '", dtype, "'");
    t.dtype = info->dtype;

    // Element count with overflow checks: a hostile shape must not wrap around.
    uint64_t count = 1;
    for (const json& d : entry["shape"]) {
      if (!d.is_number_unsigned()) bad("shape ", entry["shape"].dump(), " must hold non-negative integers");
      const uint64_t dim = d.get<uint64_t>();
      if (dim > (uint64_t(1) << 40) || (dim && count > (uint64_t(1) << 50) / dim)) bad("shape ", entry["shape"].dump(), " is absurdly large");
      count *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const json& off = entry["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) bad("data_offsets must be non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end) bad("data_offsets [", begin, ", ", end, "] are reversed");
    if (end > data_size) bad("data_offsets [", begin, ", ", end, "] run past the data (", data_size, " bytes): truncated file?");
    const uint64_t expect = count * info->size;
    if (end - begin != expect)
      bad(dtype, " ", shape_str(t.shape), " needs ", expect, " bytes, data_offsets give ", end - begin);
    t.data = data + begin;
    t.bytes = static_cast<size_t>(end - begin);
    spans.push_back({static_cast<size_t>(begin), static_cast<size_t>(end), name});
    if (expected && std::find(expected->begin(), expected->end(), name) == expected->end()) continue;
    if (tensors_.count(name)) fail("tensor ", name, " appears in two shards (", *tensors_[name].file, " and ", path, ")");
    tensors_.emplace(name, std::move(t));
  }

  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end && spans[i].begin != spans[i].end && spans[i - 1].begin != spans[i - 1].end)
      fail(path, ": tensors ", spans[i - 1].name, " and ", spans[i].name, " overlap (bytes ", spans[i].begin, "..",
           std::min(spans[i].end, spans[i - 1].end), ")");
  if (expected)
    for (const std::string& name : *expected)
      if (!tensors_.count(name)) fail(path, ": the index lists tensor ", name, " in this shard, but the file does not hold it");
}

SafeTensors SafeTensors::open(const std::string& path_in) {
  fs::path path(path_in);
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path / "model.safetensors")) path /= "model.safetensors";
    else if (fs::exists(path / "model.safetensors.index.json")) path /= "model.safetensors.index.json";
    else fail(path_in, ": no model.safetensors or model.safetensors.index.json in this directory");
  }
  if (!fs::exists(path, ec)) fail(ErrorCode::Io, path.string(), ": no such file");

  SafeTensors st;
  const std::string name = path.filename().string();
  if (name.size() > 5 && name.substr(name.size() - 5) == ".json") {
    // Sharded: {"metadata": {...}, "weight_map": {"tensor": "model-00001-of-00002.safetensors", ...}}
    const json index = json_load(path.string());
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      fail(path.string(), ": a safetensors index needs a \"weight_map\" object");
    std::map<std::string, std::vector<std::string>> shards;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) fail(path.string(), ": weight_map entry ", it.key(), " is not a file name");
      const std::string shard = it.value().get<std::string>();
      // Shards live beside the index: no directories, no way out of the model folder.
      if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
          shard == "." || shard == "..")
        fail(path.string(), ": weight_map entry ", it.key(), " names '", shard, "', which is not a file beside the index");
      shards[shard].push_back(it.key());
    }
    for (const auto& [shard, names] : shards) st.add_file((path.parent_path() / shard).string(), &names);
  } else {
    st.add_file(path.string(), nullptr);
  }
  return st;
}

const StTensor* SafeTensors::find(const std::string& name, const Shape&) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const StTensor& SafeTensors::require(const std::string& name, const Shape& shape) const {
  const StTensor* t = find(name);
  if (!t) fail("tensor ", name, ": missing from the checkpoint");
  if (!t->is_float()) fail("tensor ", name, ": expected a float tensor, found ", st_dtype_name(t->dtype));
  if (t->shape != shape) fail("tensor ", name, ": expected shape ", shape_str(shape), ", found ", shape_str(t->shape));
  return *t;
}

std::vector<std::string> SafeTensors::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

std::vector<float> SafeTensors::to_f32(const StTensor& t) {
  const HostType type = t.host_type();
  std::vector<float> out(size_t(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (type == HostType::F32) {
      std::memcpy(&out[i], t.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = type == HostType::F16 ? half_to_float(h) : bf16_to_float(h);
    }
  }
  return out;
}

}  // namespace glimpse
