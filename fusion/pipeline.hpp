// The encode -> decode flow every family runs (docs/architecture.md): preprocessing, the image pass
// (recorded once and replayed where the backend prefers it), an optional middle stage, the
// decoder's cross-attention K/V (computed by text/decoder.hpp's cross_kv_record, nowhere else),
// the decoding, and the timings. Captioning and VQA are this flow with different stages.
#pragma once

#include "fusion/model.hpp"
#include "runtime/device.hpp"
#include "runtime/memory.hpp"
#include "runtime/sequence.hpp"
#include "text/decoder.hpp"
#include "vision/preprocess.hpp"
#include "vision/image-encoder.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace glimpse {

// A stage between the image pass and the decoder, whose output the decoder cross-attends to
// instead of the image states (BLIP VQA: the question encoder over the image).
struct MiddleStage {
  int64_t tokens = 0, width = 0;  // its output per input: [tokens, width]
  std::string name;               // the output's dump name and kept tensor, e.g. "question_embeds"
  // Records the stage: image states [B, N, D] in, `out` [B, tokens, width] out.
  std::function<void(Sequence& seq, Allocator& arena, const Tensor& image_states, const Tensor& out)> record;
};

struct PipelineRequest {
  std::vector<uint32_t> start;  // the decoder's first ids (its start token, any prompt)
  int64_t max_len = 20;         // ids per sequence, `start` included
  GenerationConfig gen{0};
  bool keep_tensors = false;
  const MiddleStage* middle = nullptr;
};

struct PipelineResult {
  std::vector<std::vector<uint32_t>> ids;  // per image: `start` and what was generated
  Timings timings;
  // With keep_tensors, per image: the model's inputs, the image states, the middle stage's output
  // and the first step's logits.
  std::vector<std::vector<float>> pixel_values, image_embeds, middle, logits0;
};

// The image pass recorded once and replayed (backends that prefer it: Backend::replay_recorded_passes):
// its activations, pixel and state tensors and command buffer stay between calls for the last batch
// size, so encoding costs a pixel upload and one submission (on an H100 the recording and allocation
// were 6 ms of a 36 ms encode). On discrete GPUs the pixels live in host-visible memory that the
// pass reads once: the upload is a memcpy, not a staging copy with its own submission and wait
// (1.2 ms on an H100). Given a decoder, the pass also computes the states' cross-attention K/V for
// it (a separate recording and submission cost 1.6 ms on an H100 for 0.4 ms of GPU work). One call
// at a time uses it; a concurrent call records its own pass.
struct RecordedPass {
  std::mutex busy;
  int64_t batch = 0;  // 0: nothing recorded
  const TextDecoder* cross_for = nullptr;  // the decoder `cross` is for, if any
  std::unique_ptr<Allocator> arena;
  std::unique_ptr<Allocator> host;  // the pixels, when device memory is not host-visible
  Tensor pixels, states;
  CrossKv cross;                    // [b rows] per layer, with cross_for
  std::unique_ptr<Sequence> seq;  // after `arena`: destroyed first

  // When the backend replays passes and no other call holds it: takes `lock`, records the pass for
  // batch `b` (and `decoder`'s cross-attention K/V) if it holds another, and uploads `pixel_values`;
  // the caller then runs `seq` and reads `states` and `cross` before releasing `lock`. Returns
  // false, having done nothing, otherwise.
  bool prepare(Context& ctx, const ImageEncoder& encoder, const std::vector<float>& pixel_values, int64_t b,
               std::unique_lock<std::mutex>& lock, const TextDecoder* decoder);
};

// One CaptionResult per image of `r`, the text from `detokenize`.
std::vector<CaptionResult> captions_from(PipelineResult r,
                                         const std::function<std::string(const std::vector<uint32_t>&)>& detokenize);

// The ids a sequence may reach, `start_len` start ids included: start_len + max_new_tokens when
// set, else max_length, else the model's default; never past the decoder's `positions` (its
// position table), where transformers would fail with an index error: generation stops there as
// at a length limit.
int64_t max_length_of(const GenerationConfig& gen, int64_t start_len, int64_t model_default, int64_t positions);

class EncodeDecode {
 public:
  // The stages must outlive this object.
  EncodeDecode(Context& ctx, const ImageProcessorConfig& pre, const ImageEncoder& vision, const TextDecoder& decoder)
      : ctx_(ctx), pre_(pre), vision_(vision), decoder_(decoder) {}

  PipelineResult run(const std::vector<Image>& images, const PipelineRequest& rq);

 private:
  Context& ctx_;
  const ImageProcessorConfig& pre_;
  const ImageEncoder& vision_;
  const TextDecoder& decoder_;
  RecordedPass recorded_;
};

}  // namespace glimpse
