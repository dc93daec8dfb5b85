// Options and inputs shared by the CLI's image-to-text commands (caption, vqa).
#pragma once

#include "text/generate.hpp"

#include <string>
#include <vector>

namespace glimpse::cli {

int parse_count(const std::string& flag, const std::string& value);
float parse_float(const std::string& flag, const std::string& value);

// Consumes a generation flag at args[i] (and its value); false when args[i] is not one.
bool parse_generation_flag(const std::vector<std::string>& args, size_t& i, GenerationConfig& gen);
extern const char* const kGenerationUsage;

// Files as given; folders expand to their images, sorted.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs);

// Points GLIMPSE_DUMP at DIR/<image file name>/ for the next model call (no-op without DIR).
void dump_dir_for(const std::string& dir, const std::string& image);

}  // namespace glimpse::cli
