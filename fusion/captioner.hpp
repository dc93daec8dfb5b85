// Image captioning, whatever the model family: the options, the result, and the interface that
// BLIP and VisionEncoderDecoder (ViT-GPT2) captioners implement. fusion/registry opens one from a
// model folder.
#pragma once

#include "runtime/device.hpp"
#include "runtime/memory.hpp"
#include "runtime/sequence.hpp"
#include "runtime/tensor.hpp"
#include "text/decoder.hpp"
#include "text/generate.hpp"
#include "vision/image.hpp"
#include "vision/preprocess.hpp"
#include "vision/vit.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace glimpse {

struct CaptionOptions {
  std::string prompt;         // conditional captioning (BLIP only): the caption continues this text
  GenerationConfig gen{0};    // max_length 0 = the model config's (20); greedy unless beams or sampling
  bool keep_tensors = false;  // return pixel_values, image_embeds and the first step's logits
};

struct CaptionResult {
  std::string text;
  std::vector<uint32_t> ids;  // the decoder start, any prompt, the generated ids (eos if produced)
  double encode_ms = 0, decode_ms = 0;
  double preprocess_ms = 0;  // of encode_ms: decoding-independent image preparation (resize, normalise)
  std::vector<float> pixel_values, image_embeds, logits_step0;  // with keep_tensors, this image's
};

struct ModelOptions {
  DType weights = DType::F32;  // F16 halves memory and bandwidth at a small accuracy cost
  std::function<bool(float)> progress;  // load progress in [0, 1]; returning false cancels
};

class Captioner {
 public:
  virtual ~Captioner() = default;
  virtual std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {}) = 0;
  virtual std::string detokenize(const std::vector<uint32_t>& ids) const = 0;
};

// A model's vision-encoder pass recorded once and replayed (Vulkan backend): its activations,
// pixel and state tensors and command buffer stay between calls for the last batch size, so
// encoding costs a pixel upload and one submission (on an H100 the recording and allocation were
// 6 ms of a 36 ms encode). One call at a time uses it; a concurrent call records its own pass.
// On discrete GPUs the pixels live in host-visible memory that the pass reads once: the upload is
// a memcpy, not a staging copy with its own submission and wait (1.2 ms on an H100). Given a
// decoder, the pass also computes the states' cross-attention K/V for it: a separate recording
// and submission per call cost 1.6 ms on an H100 for 0.4 ms of GPU work.
struct RecordedEncoder {
  std::mutex busy;
  int64_t batch = 0;  // 0: nothing recorded
  const TextDecoder* cross_for = nullptr;  // the decoder `cross` is for, if any
  std::unique_ptr<Allocator> arena;
  std::unique_ptr<Allocator> host;  // the pixels, when device memory is not host-visible
  Tensor pixels, states;
  CrossKv cross;                    // [b rows] per layer, with cross_for
  std::unique_ptr<Sequence> seq;  // after `arena`: destroyed first

  // On the Vulkan backend, when no other call holds it: takes `lock`, records the pass for batch
  // `b` (and `decoder`'s cross-attention K/V) if it holds another, and uploads `pixel_values`; the
  // caller then runs `seq` and reads `states` and `cross` before releasing `lock`. Returns false,
  // having done nothing, otherwise.
  bool prepare(Context& ctx, const VitEncoder& encoder, const std::vector<float>& pixel_values, int64_t b,
               std::unique_lock<std::mutex>& lock, const TextDecoder* decoder = nullptr);
};

// The captioning flow both families share: preprocess, the vision encoder over the batch, then
// the decoder from `start` (prompt) over its states; `detokenize` turns ids into the caption.
// `recorded`, when given, keeps the encoder pass between calls on GPUs; the host backend records
// per call and frees the pass's memory before decoding.
std::vector<CaptionResult> caption_images(Context& ctx, const ImageProcessorConfig& pre, const VitEncoder& encoder,
                                          const TextDecoder& decoder, const std::vector<Image>& images,
                                          const std::vector<uint32_t>& start, int64_t max_len,
                                          const CaptionOptions& opt,
                                          const std::function<std::string(const std::vector<uint32_t>&)>& detokenize,
                                          RecordedEncoder* recorded = nullptr);

}  // namespace glimpse
