// Text generation with a decoder over a batch of encoder states (image embeddings for captioning,
// question embeddings for VQA), with generate()'s semantics (model-spec.md §5): greedy on the
// device's argmax, beam search, sampling, min_length.
#pragma once

#include "runtime/device.hpp"
#include "text/decoder.hpp"
#include "text/generate.hpp"

#include <vector>

namespace glimpse {

class Decoding {
 public:
  Decoding(Context& ctx, const TextDecoder& decoder) : ctx_(ctx), decoder_(decoder) {}

  // states: [B, N, Ve] on the device. Every input starts from `prompt` and generates until
  // max_len ids (prompt included) or eos. With logits0, the first step's logits per input; with
  // cross_ms, the time spent on the states' cross-attention K/V (once per input: encoding work).
  // `cross`, when given, holds those K/V already (one row per input: greedy and sampling only).
  std::vector<std::vector<uint32_t>> generate(const Tensor& states, int64_t batch, int64_t tokens,
                                              const std::vector<uint32_t>& prompt, const GenerationConfig& gen,
                                              int64_t max_len, std::vector<std::vector<float>>* logits0 = nullptr,
                                              double* cross_ms = nullptr, const CrossKv* cross = nullptr);

 private:
  struct Request;
  void prefill(Request& rq, const std::vector<uint32_t>& prompt, std::vector<std::vector<float>>* logits0);
  void feed(Request& rq, int64_t len);
  static void check_stop(const GenerationConfig& gen);
  void decode_greedy(Request& rq, const GenerationConfig& gen, int64_t len, int64_t max_len,
                     std::vector<std::vector<uint32_t>>& ids);
  void decode_beam(Request& rq, const GenerationConfig& gen, const std::vector<uint32_t>& prompt, int64_t max_len,
                   std::vector<std::vector<uint32_t>>& ids);

  Context& ctx_;
  const TextDecoder& decoder_;
};

}  // namespace glimpse
