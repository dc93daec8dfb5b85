#include "text/decoder.hpp"

#include "runtime/error.hpp"

namespace glimpse {

DecodeState decode_state_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len, int64_t width,
                               size_t layers, bool reorderable) {
  DecodeState st;
  st.batch = batch;
  st.max_len = max_len;
  for (size_t i = 0; i < layers; ++i)
    for (int set = 0; set < (reorderable ? 2 : 1); ++set) {
      st.caches[set].k.push_back(arena.alloc(DType::F32, {batch, max_len, width}));
      st.caches[set].v.push_back(arena.alloc(DType::F32, {batch, max_len, width}));
    }
  st.step = host.alloc(DType::U32, {1});
  return st;
}

void decode_state_reorder(Sequence& seq, DecodeState& st, int set, const Tensor& reorder) {
  const DecodeState::Caches& from = st.caches[1 - set];
  DecodeState::Caches& to = st.caches[set];
  if (from.k.empty() || to.k.empty()) fail("decoder: reordering needs both cache sets (decode_alloc reorderable)");
  for (size_t i = 0; i < to.k.size(); ++i) {
    gather_rows(seq, from.k[i], reorder, to.k[i]);
    gather_rows(seq, from.v[i], reorder, to.v[i]);
  }
}

void last_positions(Sequence& seq, const Tensor& x, int64_t batch, int64_t tokens, const Tensor& last) {
  const uint32_t t = uint32_t(tokens), d = uint32_t(x.numel() / (batch * tokens));
  KvAppendArgs pick;  // row b*T + T-1 of x into row b of last
  pick.batch = uint32_t(batch);
  pick.tokens = 1;
  pick.dim = d;
  pick.max_t = 1;
  pick.src = {&x, (t - 1) * d, d, t * d};
  pick.cache = &last;
  kv_append(seq, pick);
}

}  // namespace glimpse
