// safetensors checkpoints as Hugging Face publishes them: one model.safetensors, or shards listed
// by model.safetensors.index.json. Files are memory-mapped; every header is validated in full
// (length bounds, JSON, dtypes, shapes, offsets inside the file, byte size = dtype x shape, no
// overlaps), and every error names the file, the tensor and the problem. docs/checkpoints.md.
#pragma once

#include "runtime/ops.hpp"
#include "runtime/tensor.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace glimpse {

class MappedFile;  // runtime/file.hpp

// Every dtype the format defines; glimpse computes with F32/F16/BF16 and skips the rest
// (position_ids I64 buffers, GPT-2's U8 causal-mask buffers).
enum class StDType { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2 };

const char* st_dtype_name(StDType dtype);
size_t st_dtype_size(StDType dtype);

struct StTensor {
  std::string name;
  StDType dtype = StDType::F32;
  Shape shape;  // may be empty: a 0-d scalar
  const std::byte* data = nullptr;
  size_t bytes = 0;
  const std::string* file = nullptr;  // the file it lives in, for messages

  int64_t numel() const { return shape_numel(shape); }
  std::string describe() const;  // "text_decoder.cls.predictions.bias (F32 [30524])"
  bool is_float() const { return dtype == StDType::F32 || dtype == StDType::F16 || dtype == StDType::BF16; }
  HostType host_type() const;  // F32/F16/BF16; throws Error for the others
};

// Where a model's tensors come from: a checkpoint, or (benchmarks) a generator.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // The tensor called `name`, or nullptr. `shape` is what the caller expects (a generator makes
  // it; a checkpoint ignores it and the caller checks).
  virtual const StTensor* find(const std::string& name, const Shape& shape = {}) const = 0;
  virtual size_t count() const { return 0; }  // how many tensors it holds (0: unknown), for progress
  // Done with `t` for now: a checkpoint lets the OS drop its pages (a later read faults them back
  // in from the file), so a model's host memory peaks near its device copy, not file + copy.
  virtual void release(const StTensor& t) const { (void)t; }
};

class SafeTensors : public TensorSource {
 public:
  // `path` is a .safetensors file, a .safetensors.index.json, or a directory holding either
  // (model.safetensors preferred, then model.safetensors.index.json).
  static SafeTensors open(const std::string& path);

  SafeTensors(SafeTensors&&) noexcept;
  SafeTensors& operator=(SafeTensors&&) noexcept;
  ~SafeTensors();

  const StTensor* find(const std::string& name, const Shape& shape = {}) const override;  // nullptr when absent
  // The tensor, checked to hold floats of `shape`; the error names the tensor, expected and found.
  const StTensor& require(const std::string& name, const Shape& shape) const;
  std::vector<std::string> names() const;
  size_t size() const { return tensors_.size(); }
  size_t count() const override { return tensors_.size(); }
  void release(const StTensor& t) const override;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The values of a float tensor converted to fp32.
  static std::vector<float> to_f32(const StTensor& t);

 private:

  SafeTensors() = default;
  void add_file(const std::string& path, const std::vector<std::string>* expected);

  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<std::unique_ptr<std::string>> file_names_;
  std::map<std::string, StTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace glimpse
