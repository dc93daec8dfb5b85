// Text generation with a decoder cross-attending to a batch of encoder states (image embeddings for
// captioning, question embeddings for VQA), with generate()'s semantics (docs/generation.md):
// greedy on the device's argmax, beam search with KV-cache reordering, sampling, min_length,
// cancellation.
#pragma once

#include "runtime/device.hpp"
#include "text/decoder.hpp"
#include "text/generate.hpp"

#include <vector>

namespace glimpse {

class Decoding {
 public:
  // `arena` holds the caches and each step's tensors (the caller's cross-attention K/V may sit in
  // the same block), `host` (host-visible) the ids and positions each step reads and writes.
  Decoding(Context& ctx, const TextDecoder& decoder, Allocator& arena, Allocator& host)
      : ctx_(ctx), decoder_(decoder), arena_(arena), host_(host) {}

  // `cross`: the encoder states' cross-attention K/V, one row per beam of each of `batch` inputs
  // (cross_kv_record). Every input starts from `prompt` and generates until max_len ids (prompt
  // included) or eos. With logits0, the first step's logits per input. Invalid settings (beams
  // with sampling) are ErrorCode::InvalidArgument; gen.should_stop ends it with Cancelled.
  std::vector<std::vector<uint32_t>> generate(const CrossKv& cross, int64_t batch, const std::vector<uint32_t>& prompt,
                                              const GenerationConfig& gen, int64_t max_len,
                                              std::vector<std::vector<float>>* logits0 = nullptr);
  // The check generate() starts with, for callers that want it before any work.
  static void check(const GenerationConfig& gen);
  // gen.should_stop asked to stop: Error (Cancelled). The one abort poll, for the decode steps and
  // for the work before them (preprocessing in EncodeDecode::run).
  static void check_stop(const GenerationConfig& gen);

 private:
  struct Request;
  void prefill(Request& rq, const std::vector<uint32_t>& prompt, std::vector<std::vector<float>>* logits0);
  void feed(Request& rq, int64_t len);
  void decode_greedy(Request& rq, const GenerationConfig& gen, int64_t len, int64_t max_len,
                     std::vector<std::vector<uint32_t>>& ids);
  void decode_beam(Request& rq, const GenerationConfig& gen, const std::vector<uint32_t>& prompt, int64_t max_len,
                   std::vector<std::vector<uint32_t>>& ids);

  Context& ctx_;
  const TextDecoder& decoder_;
  Allocator &arena_, &host_;
};

}  // namespace glimpse
