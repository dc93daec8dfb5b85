// Loading a checkpoint's tensors onto the device: plain tensors as fp32, linear weights packed
// (runtime/ops.hpp), fused concatenations (q|k|v), tied aliases resolved by name with fallback.
// Every missing tensor or wrong shape is an error naming the tensor, expected and found shapes.
#pragma once

#include "runtime/memory.hpp"
#include "runtime/ops.hpp"
#include "runtime/safetensors.hpp"

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace glimpse {

// A checkpoint seen under other names: the layout a family's loaders ask for, read from a layout
// the Hub publishes (e.g. Florence-2's original and converted repositories). A name the loader asks
// for that starts with a rule's `from` is looked up as `to` + the rest; the first matching rule
// wins, and names no rule matches are looked up as they are. Messages name the file's tensor.
struct NameRule {
  std::string from, to;
};
class RenamedTensors : public TensorSource {
 public:
  RenamedTensors(const TensorSource& source, std::vector<NameRule> rules) : source_(source), rules_(std::move(rules)) {}
  const StTensor* find(const std::string& name, const Shape& shape = {}) const override;
  size_t count() const override { return source_.count(); }
  void release(const StTensor& t) const override { source_.release(t); }
  std::string renamed(const std::string& name) const;  // the name looked up for `name`

 private:
  const TensorSource& source_;
  std::vector<NameRule> rules_;
};

class WeightLoader {
 public:
  // `linear_dtype`: storage of linear weights (F32, or F16 to halve memory and bandwidth).
  WeightLoader(Context& ctx, Allocator& arena, const TensorSource& st, DType linear_dtype)
      : ctx_(ctx), arena_(arena), st_(st), linear_dtype_(linear_dtype) {}

  // The first of `names` present in the checkpoint (tied aliases), checked against `shape`.
  const StTensor& find(std::initializer_list<std::string> names, const Shape& shape) const;

  // The tensor when the checkpoint has it (checked as find() checks it), else nullptr.
  const StTensor* find_optional(const std::string& name, const Shape& shape) const;
  // A tensor's values on the host as fp32, for what a model computes from weights at load.
  std::vector<float> host_values(const std::string& name, const Shape& shape);

  // An fp32 tensor of `shape` (the checkpoint's tensor may be F32, F16 or BF16). `as_shape`
  // reshapes on the device side (e.g. [1, 1, D] -> [D]).
  Tensor tensor(std::initializer_list<std::string> names, const Shape& shape, Shape as_shape = {});
  // Linear(in -> out) from weight [out, in] (or [in, out] for GPT-2 Conv1D layout).
  LinearWeight linear(const std::string& name, int64_t out, int64_t in, WeightLayout layout = WeightLayout::OutIn);
  // A weight stored as `file_shape` used as Linear(in -> out), e.g. a Conv2d [D, C, P, P] with
  // kernel = stride as [D, C*P*P].
  LinearWeight linear_as(const std::string& name, const Shape& file_shape, int64_t out, int64_t in);
  // Several [out_i, in] weights stacked along out into one (fused projections).
  LinearWeight linear_stack(const std::vector<std::string>& names, const std::vector<int64_t>& outs, int64_t in);
  // A token-embedding table [V, D] tied to the output projection `head` (loaded from `head_name`):
  // the head's packed rows themselves (fp32 or fp16, one copy of the biggest tensor instead of two)
  // when the checkpoint ties them (`table_name` absent, or holding the same values) and the rows
  // fit one binding unpadded; otherwise an fp32 copy of `table_name` (or of the head's tensor).
  Tensor tied_table(const std::string& table_name, const std::string& head_name, const LinearWeight& head,
                    const Shape& shape);
  // Several [out_i] biases concatenated.
  Tensor vector_concat(const std::vector<std::string>& names, const std::vector<int64_t>& sizes);
  // Tensors of `shapes` concatenated in order (e.g. DeiT's class and distillation tokens), fp32,
  // viewed as `as_shape` (empty: one flat dimension).
  Tensor concat(const std::vector<std::string>& names, const std::vector<Shape>& shapes, Shape as_shape = {});

  Context& context() { return ctx_; }
  Allocator& arena() { return arena_; }  // where the weights go (for tensors a model computes itself)
  DType linear_dtype() const { return linear_dtype_; }

  // Called with the fraction of the source's tensors loaded so far after each one; returning
  // false cancels the load (Error "load cancelled").
  std::function<bool(float)> progress;

 private:
  void loaded(size_t tensors = 1);
  bool same_values(const StTensor& a, const StTensor& b) const;

  size_t loaded_ = 0;
  Context& ctx_;
  Allocator& arena_;
  const TensorSource& st_;
  DType linear_dtype_;
};

}  // namespace glimpse
