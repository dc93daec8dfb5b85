// The SPIR-V of every shader variant, compiled from shaders/ at build time and embedded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace glimpse {

struct ShaderBlob {
  const char* name;  // variant name, e.g. "linear_f16_texel"
  const unsigned char* data;
  size_t size;
};

const std::span<const ShaderBlob> shader_library();  // generated: build/shaders/shaders-embedded.cpp
const ShaderBlob* shader_find(std::string_view name);
uint64_t shader_library_hash();  // FNV-1a over every variant's name and code

}  // namespace glimpse
