// PyTorch checkpoints as Hugging Face publishes them (pytorch_model.bin, or shards listed by
// pytorch_model.bin.index.json): torch.save's zip archive of a pickled state dict plus one stored
// entry per storage. The pickle is interpreted, never executed: a restricted reader accepts only the
// opcodes and the few globals a state dict needs (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter, the torch.*Storage types) and refuses
// anything else naming it. Storages are memory-mapped like safetensors, every tensor checked to lie
// inside its storage. docs/checkpoints.md.
#pragma once

#include "runtime/safetensors.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace glimpse {

class TorchCheckpoint : public TensorSource {
 public:
  // `path`: a pytorch_model.bin, a pytorch_model.bin.index.json, or a folder holding either.
  static TorchCheckpoint open(const std::string& path);
  // Reads a checkpoint from `bytes` (a whole .bin file; fuzzing and tests). `name` is for messages.
  static TorchCheckpoint parse(std::string bytes, const std::string& name);

  TorchCheckpoint(TorchCheckpoint&&) noexcept;
  TorchCheckpoint& operator=(TorchCheckpoint&&) noexcept;
  ~TorchCheckpoint();

  const StTensor* find(const std::string& name, const Shape& shape = {}) const override;
  size_t count() const override { return tensors_.size(); }
  void release(const StTensor& t) const override;
  std::vector<std::string> names() const;

 private:
  struct File;
  TorchCheckpoint() = default;
  void add(std::unique_ptr<File> file);

  std::vector<std::unique_ptr<File>> files_;
  std::map<std::string, StTensor> tensors_;
};

// Whether `dir` holds a PyTorch checkpoint (pytorch_model.bin or its index).
bool torch_checkpoint_present(const std::string& dir);

}  // namespace glimpse
