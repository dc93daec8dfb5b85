// layer_norm and softmax: the arguments checked once, then the backend's recording
// (runtime/{vulkan,cpu}/norm.cpp).
#include "runtime/backend.hpp"
#include "runtime/ops-common.hpp"

namespace glimpse {

void layer_norm(Sequence& seq, const Tensor& x, const Tensor* residual, const Tensor& gamma, const Tensor& beta,
                float eps, const Tensor& y) {
  const char* op = "layer_norm";
  detail::expect_dtype(op, "x", x, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  if (x.rank() == 0) fail("layer_norm: x has no dimensions");
  const int64_t n = x.dim(-1), rows = x.numel() / std::max<int64_t>(n, 1);
  detail::expect_numel(op, "y", y, x.numel());
  detail::expect_numel(op, "gamma", gamma, n);
  detail::expect_numel(op, "beta", beta, n);
  if (residual) detail::expect_numel(op, "residual", *residual, x.numel());
  if (rows == 0 || n == 0) return;
  seq.context().backend().layer_norm(seq, x, residual, gamma, beta, eps, y, rows, n);
}

void softmax(Sequence& seq, const Tensor& x, const Tensor& y, float scale) {
  const char* op = "softmax";
  detail::expect_dtype(op, "x", x, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  if (x.rank() == 0) fail("softmax: x has no dimensions");
  const int64_t n = x.dim(-1), rows = x.numel() / std::max<int64_t>(n, 1);
  detail::expect_numel(op, "y", y, x.numel());
  if (rows == 0 || n == 0) return;
  seq.context().backend().softmax(seq, x, y, scale, rows, n);
}

}  // namespace glimpse
