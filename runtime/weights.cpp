#include "runtime/weights.hpp"

#include "runtime/device.hpp"
#include "runtime/error.hpp"

#include <algorithm>
#include <cstring>

namespace glimpse {

std::string RenamedTensors::renamed(const std::string& name) const {
  for (const NameRule& r : rules_)
    if (name.compare(0, r.from.size(), r.from) == 0) return r.to + name.substr(r.from.size());
  return name;
}

const StTensor* RenamedTensors::find(const std::string& name, const Shape& shape) const {
  return source_.find(renamed(name), shape);
}

const StTensor& WeightLoader::find(std::initializer_list<std::string> names, const Shape& shape) const {
  for (const std::string& name : names) {
    const StTensor* t = st_.find(name, shape);
    if (!t) continue;
    if (!t->is_float()) fail("tensor ", name, ": expected a float tensor, found ", st_dtype_name(t->dtype));
    if (t->shape != shape) fail("tensor ", name, ": expected shape ", shape_str(shape), ", found ", shape_str(t->shape));
    return *t;
  }
  std::string all;
  for (const std::string& name : names) all += (all.empty() ? "" : " or ") + name;
  fail("tensor ", all, ": missing from the checkpoint (expected shape ", shape_str(shape), ")");
}

const StTensor* WeightLoader::find_optional(const std::string& name, const Shape& shape) const {
  if (!st_.find(name, shape)) return nullptr;
  return &find({name}, shape);
}

std::vector<float> WeightLoader::host_values(const std::string& name, const Shape& shape) {
  std::vector<float> v = SafeTensors::to_f32(find({name}, shape));
  loaded();
  return v;
}

void WeightLoader::loaded(size_t tensors) {
  loaded_ += tensors;
  const size_t total = st_.count();
  if (progress && !progress(total ? std::min(1.0f, float(loaded_) / float(total)) : 0.0f)) fail(ErrorCode::Cancelled, "load cancelled");
}

Tensor WeightLoader::tensor(std::initializer_list<std::string> names, const Shape& shape, Shape as_shape) {
  const StTensor& t = find(names, shape);
  const std::vector<float> values = SafeTensors::to_f32(t);
  Tensor out = arena_.alloc(DType::F32, as_shape.empty() ? shape : as_shape);
  if (out.numel() != t.numel()) fail("tensor ", t.name, ": cannot view ", shape_str(shape), " as ", out.describe());
  tensor_upload(ctx_, out, values.data(), values.size() * 4);
  st_.release(t);
  loaded();
  return out;
}

LinearWeight WeightLoader::linear(const std::string& name, int64_t out, int64_t in, WeightLayout layout) {
  const Shape shape = layout == WeightLayout::OutIn ? Shape{out, in} : Shape{in, out};
  const StTensor& t = find({name}, shape);
  LinearWeight w = linear_weight_upload(ctx_, arena_, t.data, t.host_type(), out, in, layout, linear_dtype_);
  st_.release(t);
  loaded();
  return w;
}

LinearWeight WeightLoader::linear_as(const std::string& name, const Shape& file_shape, int64_t out, int64_t in) {
  const StTensor& t = find({name}, file_shape);
  if (t.numel() != out * in) fail("tensor ", name, ": ", shape_str(file_shape), " cannot serve as [", out, ", ", in, "]");
  LinearWeight w = linear_weight_upload(ctx_, arena_, t.data, t.host_type(), out, in, WeightLayout::OutIn, linear_dtype_);
  st_.release(t);
  loaded();
  return w;
}

LinearWeight WeightLoader::linear_stack(const std::vector<std::string>& names, const std::vector<int64_t>& outs,
                                        int64_t in) {
  int64_t total = 0;
  for (int64_t o : outs) total += o;
  std::vector<float> stacked;
  stacked.reserve(size_t(total * in));
  for (size_t i = 0; i < names.size(); ++i) {
    const StTensor& t = find({names[i]}, {outs[i], in});
    const std::vector<float> part = SafeTensors::to_f32(t);
    stacked.insert(stacked.end(), part.begin(), part.end());
    st_.release(t);
  }
  LinearWeight w = linear_weight_upload(ctx_, arena_, stacked.data(), HostType::F32, total, in, WeightLayout::OutIn, linear_dtype_);
  loaded(names.size());
  return w;
}

bool WeightLoader::same_values(const StTensor& a, const StTensor& b) const {
  if (a.dtype != b.dtype || a.bytes != b.bytes) return false;
  if (a.data == b.data) return true;
  // In slices, each dropped once compared: two 94 MB tables must not both become resident.
  constexpr size_t slice = size_t(4) << 20;
  for (size_t off = 0; off < a.bytes; off += slice) {
    const size_t n = std::min(slice, a.bytes - off);
    const bool same = std::memcmp(a.data + off, b.data + off, n) == 0;
    StTensor va = a, vb = b;
    va.data += off, vb.data += off;
    va.bytes = vb.bytes = n;
    st_.release(va);
    st_.release(vb);
    if (!same) return false;
  }
  return true;
}

Tensor WeightLoader::tied_table(const std::string& table_name, const std::string& head_name, const LinearWeight& head,
                                const Shape& shape) {
  const bool fits = shape.size() == 2 && head.n == shape[0] && head.kp == shape[1] &&
                    head.packed.bytes <= ctx_.caps().max_binding_bytes;
  const StTensor* table = table_name == head_name ? nullptr : st_.find(table_name, shape);
  if (fits && !table) return head.packed;  // only the head's tensor is stored: already counted
  if (fits && table->shape == shape) {
    const StTensor* h = st_.find(head_name, shape);
    if (h && same_values(*table, *h)) {
      loaded();
      return head.packed;
    }
  }
  return tensor({table_name, head_name}, shape);
}

Tensor WeightLoader::vector_concat(const std::vector<std::string>& names, const std::vector<int64_t>& sizes) {
  std::vector<Shape> shapes;
  for (int64_t s : sizes) shapes.push_back({s});
  return concat(names, shapes);
}

Tensor WeightLoader::concat(const std::vector<std::string>& names, const std::vector<Shape>& shapes, Shape as_shape) {
  GLIMPSE_ASSERT(names.size() == shapes.size());
  std::vector<float> all;
  for (size_t i = 0; i < names.size(); ++i) {
    const StTensor& t = find({names[i]}, shapes[i]);
    const std::vector<float> part = SafeTensors::to_f32(t);
    all.insert(all.end(), part.begin(), part.end());
    st_.release(t);
  }
  if (as_shape.empty()) as_shape = {int64_t(all.size())};
  if (shape_numel(as_shape) != int64_t(all.size()))
    fail("tensors ", names.front(), "...: ", all.size(), " values cannot be viewed as ", shape_str(as_shape));
  Tensor out = arena_.alloc(DType::F32, as_shape);
  tensor_upload(ctx_, out, all.data(), all.size() * 4);
  loaded(names.size());
  return out;
}

}  // namespace glimpse
