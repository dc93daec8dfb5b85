// The ops: host wrappers that record one op into a Sequence. Each has a shader in shaders/ and a
// plain CPU reference in runtime/reference.hpp that tests hold it to. Shapes are validated when
// recording; a mismatch throws Error naming the op, the tensor, what was expected and found.
#pragma once

#include "runtime/device.hpp"
#include "runtime/memory.hpp"
#include "runtime/sequence.hpp"
#include "runtime/tensor.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace glimpse {

// ---- linear ---------------------------------------------------------------------------------

enum class HostType { F32, F16, BF16 };  // element type of weights as they come from a checkpoint

enum class WeightLayout {
  OutIn,  // nn.Linear / Conv2d: [N, K] (y = x W^T)
  InOut,  // GPT-2 Conv1D: [K, N] (y = x W), repacked to [N, K] at upload
};

// A linear layer's weight on the device, packed once at load: [N, Kp] rows (Kp = K rounded up
// to 8, zero padded) in fp32 or fp16, split into chunks of rows that each fit one binding.
struct LinearWeight {
  int64_t n = 0, k = 0, kp = 0;
  DType dtype = DType::F32;  // storage type: F32 or F16
  bool texel = false;        // read through uniform texel buffers (views below)
  Tensor packed;
  int64_t chunk_rows = 0;
  std::vector<BufferViewHandle> views;  // one per chunk when texel

  int64_t chunks() const { return (n + chunk_rows - 1) / chunk_rows; }
  VkDeviceSize row_bytes() const { return VkDeviceSize(kp) * dtype_size(dtype); }
};

// Packs and uploads `data` (n x k in `layout`, of `src` type). `store` F16 falls back to F32
// when the device or GLIMPSE_DISABLE_F16 forbids fp16 weights.
LinearWeight linear_weight_upload(Context& ctx, Allocator& arena, const void* data, HostType src, int64_t n,
                                  int64_t k, WeightLayout layout, DType store);

enum class Activation : uint32_t { None = 0, GeluErf = 1, GeluTanh = 2, Relu = 3 };  // shaders/common.glsl ACT_*

// A config's activation name (hidden_act, activation_function) as transformers' ACT2FN reads it:
// "gelu" is the erf form, "gelu_new" and "gelu_pytorch_tanh" the tanh approximation, "relu"
// max(x, 0). Anything
// else is an Error naming `where` and listing what glimpse runs.
Activation activation_parse(const std::string& name, const std::string& where);

enum class LinearKernel {
  Auto,     // per device and M: on CPUs Blocked; on GPUs SplitK for M <= 8, Coop (fp16 weights,
            // Caps::coop_matrix) or Tiled above
  Blocked,  // linear.comp: register blocks, no shared memory (lavapipe)
  SplitK,   // linear_gemv.comp: K split over a workgroup; M <= 8 only
  Tiled,    // linear_tiled.comp: 64x64 shared-memory tiles (GPUs)
  Coop,     // linear_coop.comp: tensor cores (VK_NV_cooperative_matrix), fp16 weights only
};

// The tensor-core GEMM's tiling (linear_coop.comp): a workgroup of wm x wn subgroups, each owning
// tm x tn accumulators of 16x16, so an output tile of (wm*tm*16) x (wn*tn*16).
struct CoopTile {
  uint32_t wm = 0, wn = 0, tm = 0, tn = 0;  // all zero: chosen per shape (coop_tile_auto)
  bool operator==(const CoopTile&) const = default;
};

struct LinearOptions {
  const Tensor* bias = nullptr;      // [N]
  Activation act = Activation::None; // applied after the bias
  const Tensor* residual = nullptr;  // [M, N], added last; may be y itself
  LinearKernel kernel = LinearKernel::Auto;
  CoopTile coop_tile;                // LinearKernel::Coop only; GLIMPSE_COOP_TILE=WMxWNxTMxTN overrides
};

// y[M, N] = act(x[M, K] . W^T + bias) + residual, with M = x.numel() / K. y is f32, or f16
// without a residual where the backend reads fp16 K/V (Backend::attention_f16_kv: the CPU backend).
void linear(Sequence& seq, const Tensor& x, const LinearWeight& w, const Tensor& y, const LinearOptions& opt = {});

// The shader LinearKernel::Auto picks for M rows and weights stored as `weights` on the Vulkan
// backend (Coop multiplies x rounded to fp16: tests build their references from this).
LinearKernel linear_kernel_auto(const Caps& caps, DType weights, int64_t m);

// The tensor-core tile linear() picks for an M x N output on a device with `max_shared` bytes of
// shared memory per workgroup, and the bytes a tile needs.
CoopTile coop_tile_auto(int64_t m, int64_t n, uint64_t max_shared);
uint64_t coop_tile_shared_bytes(const CoopTile& t);
// fail()s, naming the tile, when it is out of range or needs more shared memory than `ctx` has.
void coop_tile_check(const Context& ctx, const CoopTile& t);

// ---- normalisation ------------------------------------------------------------------------------

// y = LayerNorm(x + residual) over the last dim (residual optional); y may be x.
void layer_norm(Sequence& seq, const Tensor& x, const Tensor* residual, const Tensor& gamma, const Tensor& beta,
                float eps, const Tensor& y);

// y = softmax(x * scale) over the last dim; y may be x.
void softmax(Sequence& seq, const Tensor& x, const Tensor& y, float scale = 1.0f);

// ---- attention ------------------------------------------------------------------------------------

// A [B, T, H*Dh] operand inside a tensor: element offset, token stride and batch stride
// (all multiples of 4). dense() is the contiguous case.
struct AttnView {
  const Tensor* t = nullptr;
  uint32_t offset = 0, token_stride = 0, batch_stride = 0;
  static AttnView dense(const Tensor& t, uint32_t tokens, uint32_t width) { return {&t, 0, width, tokens * width}; }
};

struct AttentionArgs {
  uint32_t batch = 1, heads = 1, head_dim = 64;
  uint32_t q_len = 1;
  uint32_t kv_len = 1;            // keys; plus step[0] when kv_len_add_past
  bool kv_len_add_past = false;   // decode with a growing cache
  const Tensor* step = nullptr;   // u32 [1]: past length (decode position), read at run time
  AttnView q, k, v, o;            // f32; K and V may both be f16 where Backend::attention_f16_kv()
  bool causal = false;            // key j visible to query i iff j <= kv - q_len + i
  const Tensor* mask = nullptr;   // additive f32 [B, mask_batch_stride] over keys (padding)
  uint32_t mask_batch_stride = 0;
  float scale = 0;                // 0: 1/sqrt(head_dim)
  // The model runs in fp16 (fp16 weights): many-query attention may round Q, K, V and the
  // probabilities to fp16 and use tensor cores (Caps::attention_coop, head dims 32, 48 or 64).
  bool fp16 = false;
};
void attention(Sequence& seq, const AttentionArgs& a);
// What attention() runs: `heads` dividing `hidden` into heads of a multiple of 8, at most 128. An
// Error naming `where` (a config file and section) otherwise.
void attention_heads_check(int64_t hidden, int64_t heads, const std::string& where);

// cache[b, pos0 (+ step[0]) + t, :] = src[b, t, :]: cache is [B, max_t, dim].
struct KvAppendArgs {
  uint32_t batch = 1, tokens = 1, dim = 0;
  AttnView src;
  const Tensor* cache = nullptr;
  uint32_t max_t = 0;
  uint32_t pos0 = 0;
  const Tensor* step = nullptr;  // adds step[0] to pos0 when given
};
void kv_append(Sequence& seq, const KvAppendArgs& a);

// ---- embeddings -----------------------------------------------------------------------------------

// How embed_tokens scales the token rows and numbers the positions.
struct EmbedOptions {
  float scale = 1.0f;  // token rows times this before the position is added (BART's scale_embedding)
  // fairseq's pad-aware positions (make_positions; TrOCR's sinusoidal embedding): a token equal to
  // pad_id takes position row pos0 - 1, and each pad earlier in the same pass moves the tokens
  // after it down one row. kNoPad: plain positions.
  uint32_t pad_id = kNoPad;
  static constexpr uint32_t kNoPad = 0xFFFFFFFFu;
};

// y[b*T + t] = table[ids[ids_offset + b*T + t]] * scale + pos_table[pos0 (+ step[0]) + t];
// pos_table optional.
void embed_tokens(Sequence& seq, const Tensor& ids, uint32_t ids_offset, uint32_t batch, uint32_t tokens,
                  const Tensor& table, const Tensor* pos_table, uint32_t pos0, const Tensor* step, const Tensor& y,
                  const EmbedOptions& opt = {});

// ViT embeddings: y[b] = concat(cls, patches[b]) + pos.  patches [B, Np, D], cls [C, D] (C prefix
// tokens: the class token, and DeiT's distillation token), pos [C + Np, D].
void class_prepend(Sequence& seq, const Tensor& patches, const Tensor& cls, const Tensor& pos, const Tensor& y);

// y[b, t] = x[b, t] + rows[row0 + t] for x, y [B, T, D] (y may be x): a position table added to
// every sequence of a batch (Florence-2's BART encoder over [image tokens; prompt]).
void add_positions(Sequence& seq, const Tensor& x, const Tensor& rows, uint32_t row0, const Tensor& y);

// Conv2d(kernel = stride = patch, no padding) as im2col + linear: image [B, C, H, W] ->
// y [B, Np, D], Np row-major over the (H/P) x (W/P) grid. `cols` is scratch [B*Np, C*P*P].
void patch_embed(Sequence& seq, const Tensor& image, uint32_t patch, const LinearWeight& w, const Tensor* bias,
                 const Tensor& cols, const Tensor& y);

// ---- convolution ------------------------------------------------------------------------------------

// The geometry of a square-kernel 2-D convolution with the same stride and zero padding on both
// axes, over an image [B, C, H, W] or, channels_last, a token grid [B, H*W, C] (row-major).
struct Conv2dShape {
  int64_t batch = 1, channels = 0, height = 0, width = 0;
  uint32_t kernel = 1, stride = 1, padding = 0;
  bool channels_last = false;
  int64_t out_h() const { return (height + 2 * int64_t(padding) - kernel) / stride + 1; }
  int64_t out_w() const { return (width + 2 * int64_t(padding) - kernel) / stride + 1; }
  int64_t out_tokens() const { return out_h() * out_w(); }
  int64_t cols() const { return channels * int64_t(kernel) * kernel; }  // one im2col row
};

// nn.Conv2d as im2col + linear: x (as `s` says) -> y [B, out_h * out_w, D] tokens, row-major over
// the output grid. w is the conv weight [D, C, k, k] read as [D, C*k*k]; `cols` is scratch
// [B * out_tokens, C*k*k] (zeros where the window covers the padding).
void conv2d(Sequence& seq, const Tensor& x, const Conv2dShape& s, const LinearWeight& w, const Tensor* bias,
            const Tensor& cols, const Tensor& y);

// Depthwise nn.Conv2d (groups = channels) over a token grid [B, H*W, C] (s.channels_last), kernel
// weight [C, k*k] and bias [C]: y = conv(x) (+ x when `residual`, which needs an output as large as
// the input). y must not overlap x.
void depthwise_conv(Sequence& seq, const Tensor& x, const Conv2dShape& s, const Tensor& weight, const Tensor& bias,
                    bool residual, const Tensor& y);

// DaViT's channel attention over qkv [B, N, 3C] (q | k | v, each C = groups x Cg channels): per
// batch and group, P = softmax over j of (sum_n q[n, i] k[n, j]) * scale, and y[b, n, g*Cg + i] =
// sum_j P[i, j] v[n, j]. y [B, N, C]. `scratch` holds channel_attention_scratch() floats. Cg <= 64.
void channel_attention(Sequence& seq, const Tensor& qkv, uint32_t batch, uint32_t tokens, uint32_t channels,
                       uint32_t groups, float scale, const Tensor& scratch, const Tensor& y);
int64_t channel_attention_scratch(uint32_t batch, uint32_t tokens, uint32_t channels, uint32_t groups);

// x [B, 1 + N, D]: row 0 of each batch becomes the mean of the N rows after it (Florence-2's
// spatial_avg_pool token ahead of the grid tokens it pools).
void pool_first(Sequence& seq, const Tensor& x);

// ---- element-wise -----------------------------------------------------------------------------------

void add(Sequence& seq, const Tensor& a, const Tensor& b, const Tensor& y);
void scale(Sequence& seq, const Tensor& a, float s, const Tensor& y);
void gelu(Sequence& seq, const Tensor& a, Activation kind, const Tensor& y);

// dst[j] = src[index[j]] over the rows of src [R, ...] (the leading dimension); index: u32 [rows of
// dst], read at run time, so a recorded sequence can reorder by a host-written index each replay.
// kZeroRow gives a row of zeros (window padding); other indices past the end read the last row.
void gather_rows(Sequence& seq, const Tensor& src, const Tensor& index, const Tensor& dst);
constexpr uint32_t kZeroRow = 0xFFFFFFFFu;

// ---- selection --------------------------------------------------------------------------------------

// ids[out_offset + r] = argmax over the last dim of x (first among ties); vals the maxima.
void argmax(Sequence& seq, const Tensor& x, const Tensor& ids, const Tensor& vals, uint32_t out_offset = 0);
// ids/vals [R, k]: the k largest per row, descending (ties: lower index first). k <= 64.
void topk(Sequence& seq, const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals);

}  // namespace glimpse
