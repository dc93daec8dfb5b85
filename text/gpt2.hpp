// GPT-2 with cross-attention (GPT2LMHeadModel with add_cross_attention, as VisionEncoderDecoder
// uses it; docs/models/vit-gpt2.md): pre-LN blocks of causal self-attention, cross-attention to the
// encoder states and a gelu_new MLP; Conv1D weights [in, out]; logits = ln_f(h) . wte^T.
#pragma once

#include "runtime/weights.hpp"
#include "text/decoder.hpp"
#include "text/gpt2-config.hpp"

#include <string>
#include <vector>

namespace glimpse {

struct Gpt2Layer {  // decoder.transformer.h.L.*
  Tensor ln1_w, ln1_b;               // ln_1 [D]
  LinearWeight attn;                 // attn.c_attn [D, 3D] (Conv1D): q | k | v
  Tensor attn_b;                     // [3D]
  LinearWeight attn_proj;            // attn.c_proj [D, D]
  Tensor attn_proj_b;
  Tensor lnx_w, lnx_b;               // ln_cross_attn [D]
  LinearWeight cross_q;              // crossattention.q_attn [D, D]
  Tensor cross_q_b;
  LinearWeight cross_kv;             // crossattention.c_attn [Ve, 2D]: k | v of the encoder states
  Tensor cross_kv_b;
  LinearWeight cross_proj;           // crossattention.c_proj [D, D]
  Tensor cross_proj_b;
  Tensor ln2_w, ln2_b;               // ln_2 [D]
  LinearWeight fc, proj;             // mlp.c_fc [D, I], mlp.c_proj [I, D]
  Tensor fc_b, proj_b;
};

class Gpt2Decoder : public TextDecoder {
 public:
  Gpt2Decoder(WeightLoader& w, const Gpt2Config& cfg);

  DecoderTokens tokens() const override { return {uint32_t(cfg_.eos), uint32_t(cfg_.pad), cfg_.vocab}; }
  int64_t encoder_width() const override { return cfg_.encoder_hidden; }
  CrossKv cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const override;
  void record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const override;
  DecodeState decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                           bool reorderable) const override;
  void record_step(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                   const CrossKv& cross, const Tensor& logits, const Tensor& next, const Tensor& next_logit,
                   int set = 0, const Tensor* reorder = nullptr) const override;
  const Gpt2Config& config() const { return cfg_; }

 private:
  Gpt2Config cfg_;
  Tensor wte;        // transformer.wte.weight [V, D] (or lm_head.weight: tied, either name)
  Tensor wpe;        // transformer.wpe.weight [P, D]
  std::vector<Gpt2Layer> layers;
  Tensor lnf_w, lnf_b;  // transformer.ln_f [D]
  LinearWeight lm_head;  // lm_head.weight [V, D] (or wte), no bias
};

}  // namespace glimpse
