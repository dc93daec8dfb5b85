// Compute pipelines: created from embedded SPIR-V with specialisation constants, once, at load
// time, and kept in a VkPipelineCache persisted under the user cache directory.
#pragma once

#include "runtime/vk-handle.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace glimpse {

class Context;

enum class BindingKind { Storage, Texel };

struct PipelineDesc {
  std::string shader;                // variant name in the shader library
  std::vector<BindingKind> bindings;  // binding i of set 0
  uint32_t push_bytes = 0;
  std::vector<uint32_t> spec;  // specialisation constant i = spec[i]; constant 0 is local_size_x
};

struct Pipeline {
  std::string name;  // shader name and spec constants, for errors and profiles
  std::vector<BindingKind> bindings;
  uint32_t push_bytes = 0;
  uint32_t local_size = 0;
  SetLayoutHandle set_layout;
  PipelineLayoutHandle layout;
  PipelineHandle pipeline;
};

class PipelineStore {
 public:
  explicit PipelineStore(Context& ctx);
  ~PipelineStore();  // saves the cache

  // The pipeline for `desc`, created on first request. Thread-safe.
  const Pipeline& get(const PipelineDesc& desc);
  // Writes the pipeline cache to disk (atomically); errors are reported, not thrown.
  void save();

  size_t count() const;
  const std::string& cache_path() const { return path_; }
  bool cache_loaded() const { return loaded_; }  // a valid cache file was found at start-up

 private:
  Context& ctx_;
  std::string path_;
  bool loaded_ = false;
  bool dirty_ = false;  // pipelines were created since the cache was read or written
  PipelineCacheHandle cache_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
};

}  // namespace glimpse
