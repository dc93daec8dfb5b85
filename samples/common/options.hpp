// What the sample programs (the glimpse CLI, glimpse-vqa) share: generation flags parsed into the
// C API's glimpse_generate_params, image folders expanded, the bundled models found. Only the
// public API (glimpse.h / glimpse.hpp) is used here.
#pragma once

#include "glimpse.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace glimpse::sample {

// A mistake on the command line: the programs print it (with their usage) and exit with 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The exit status for a failure: 2 for the caller's mistakes (a bad flag, an invalid request,
// a model for another task), 1 for everything else.
int exit_status(const std::exception& e);

uint32_t parse_count(const std::string& flag, const std::string& value);
float parse_float(const std::string& flag, const std::string& value);

// Consumes a generation flag at args[i] (and its value); false when args[i] is not one.
bool parse_generation_flag(const std::vector<std::string>& args, size_t& i, glimpse_generate_params& gen);
extern const char* const kGenerationUsage;

// Files as given; folders expand to their images, sorted.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs);

// Points GLIMPSE_DUMP at DIR/<image file name>/ for the next model call (no-op without DIR).
void dump_dir_for(const std::string& dir, const std::string& image);

// The folder of a bundled model (glimpse_bundled_model); embed::Error when it is nowhere.
std::string bundled_model(const char* name);

}  // namespace glimpse::sample
