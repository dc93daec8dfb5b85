#include "runtime/torch-checkpoint.hpp"

#include "runtime/error.hpp"
#include "runtime/file.hpp"
#include "runtime/json-file.hpp"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <set>
#include <unordered_map>

namespace glimpse {

namespace {

constexpr size_t kMaxStack = 1 << 20;       // values on the pickle stack (a state dict holds a few thousand)
constexpr int kMaxDepth = 32;               // containers inside containers (a state dict nests 3 deep)
constexpr size_t kMaxEntries = 1 << 20;     // zip entries

uint64_t le(const std::byte* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
  return v;
}

// One zip entry torch.save wrote: stored (method 0), its data inside the file.
struct ZipEntry {
  const std::byte* data = nullptr;
  size_t size = 0;
};

// The zip central directory of `bytes` (with zip64 records when sizes or offsets need them).
std::map<std::string, ZipEntry> zip_entries(const std::byte* bytes, size_t size, const std::string& file) {
  if (size < 22) fail(file, ": ", size, " bytes is too short for a zip archive (truncated? torch.save writes zip)");
  size_t eocd = std::string::npos;
  const size_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
  for (size_t i = size - 22 + 1; i-- > lowest;)
    if (le(bytes + i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos)
    fail(file, ": no zip end-of-central-directory record: truncated, or not torch.save's zip format "
         "(checkpoints from before PyTorch 1.6 are not read)");
  uint64_t entries = le(bytes + eocd + 10, 2), cd_size = le(bytes + eocd + 12, 4), cd_off = le(bytes + eocd + 16, 4);
  if ((entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) && eocd >= 20 &&
      le(bytes + eocd - 20, 4) == 0x07064b50) {  // zip64 locator -> zip64 end of central directory
    const uint64_t at = le(bytes + eocd - 20 + 8, 8);
    if (size < 56 || at > size - 56 || le(bytes + at, 4) != 0x06064b50) fail(file, ": zip64 end-of-central-directory record out of range");
    entries = le(bytes + at + 32, 8), cd_size = le(bytes + at + 40, 8), cd_off = le(bytes + at + 48, 8);
  }
  if (cd_off > size || cd_size > size - cd_off) fail(file, ": zip central directory runs past the end of the file (truncated?)");
  if (entries > kMaxEntries) fail(file, ": ", entries, " zip entries is more than a checkpoint holds");
  std::map<std::string, ZipEntry> out;
  size_t p = cd_off;
  const size_t cd_end = cd_off + cd_size;
  for (uint64_t n = 0; n < entries; ++n) {
    if (p + 46 > cd_end || le(bytes + p, 4) != 0x02014b50) fail(file, ": zip central directory entry ", n, " is corrupt");
    const uint64_t method = le(bytes + p + 10, 2), name_len = le(bytes + p + 28, 2), extra_len = le(bytes + p + 30, 2),
                   comment_len = le(bytes + p + 32, 2);
    uint64_t csize = le(bytes + p + 20, 4), usize = le(bytes + p + 24, 4), local = le(bytes + p + 42, 4);
    if (p + 46 + name_len + extra_len + comment_len > cd_end) fail(file, ": zip central directory entry ", n, " is truncated");
    const std::string name(reinterpret_cast<const char*>(bytes + p + 46), name_len);
    for (size_t e = p + 46 + name_len; e + 4 <= p + 46 + name_len + extra_len;) {  // zip64 extended sizes
      const uint64_t id = le(bytes + e, 2), len = le(bytes + e + 2, 2);
      if (e + 4 + len > p + 46 + name_len + extra_len) break;
      if (id == 1) {
        size_t q = e + 4, end = e + 4 + len;
        auto take = [&](uint64_t& v) {
          if (v == 0xFFFFFFFF && q + 8 <= end) v = le(bytes + q, 8), q += 8;
        };
        take(usize);
        take(csize);
        take(local);
      }
      e += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;
    if (method != 0)
      fail(file, ": zip entry ", name, " is compressed (method ", method, "); torch.save stores entries uncompressed");
    if (csize != usize) fail(file, ": zip entry ", name, " has sizes ", csize, " and ", usize);
    if (size < 30 || local > size - 30 || le(bytes + local, 4) != 0x04034b50)
      fail(file, ": zip entry ", name, ": its local header is out of range or corrupt (truncated?)");
    const uint64_t data = local + 30 + le(bytes + local + 26, 2) + le(bytes + local + 28, 2);
    if (data > size || usize > size - data) fail(file, ": zip entry ", name, " runs past the end of the file (truncated?)");
    out[name] = {bytes + data, size_t(usize)};
  }
  return out;
}

// ---- the restricted unpickler ---------------------------------------------------------------------

struct Value {
  enum Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, StorageRef, TensorRef, Mark } kind = None;
  int64_t i = 0;
  double f = 0;
  std::string s;  // Str; Global: "module.name"
  std::shared_ptr<std::vector<Value>> items;  // Tuple, List; Dict: key, value, key, value ...
  int depth = 0;

  static Value container(Kind k, std::vector<Value> v = {}) {
    Value x;
    x.kind = k;
    for (const Value& c : v) x.depth = std::max(x.depth, c.depth + 1);
    x.items = std::make_shared<std::vector<Value>>(std::move(v));
    return x;
  }
};

const char* kind_name(Value::Kind k) {
  static const char* names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict", "global", "storage", "tensor", "mark"};
  return names[k];
}

struct StorageType {
  const char* name;
  StDType dtype;
};
constexpr StorageType kStorages[] = {
    {"FloatStorage", StDType::F32}, {"HalfStorage", StDType::F16},   {"BFloat16Storage", StDType::BF16},
    {"DoubleStorage", StDType::F64}, {"LongStorage", StDType::I64},  {"IntStorage", StDType::I32},
    {"ShortStorage", StDType::I16}, {"CharStorage", StDType::I8},    {"ByteStorage", StDType::U8},
    {"BoolStorage", StDType::BOOL},
};

const char* kAllowed = "collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, "
                       "torch.*Storage";

bool global_allowed(const std::string& g) {
  if (g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" || g == "torch._utils._rebuild_parameter")
    return true;
  for (const StorageType& s : kStorages)
    if (g == std::string("torch.") + s.name) return true;
  return false;
}

struct Storage {
  StDType dtype;
  const std::byte* data;
  size_t bytes;
  std::string key;
};

class Unpickler {
 public:
  Unpickler(const std::byte* p, size_t n, const std::string& file, const std::map<std::string, ZipEntry>& zip,
            const std::string& prefix)
      : p_(p), end_(p + n), file_(file), zip_(zip), prefix_(prefix) {}

  // The state dict: name -> tensor.
  std::map<std::string, StTensor> run(const std::string* file_name) {
    file_name_ = file_name;
    while (true) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                     // PROTO
        case 0x95: take(8); break;                    // FRAME
        case '}': push(Value::container(Value::Dict)); break;
        case ']': push(Value::container(Value::List)); break;
        case ')': push(Value::container(Value::Tuple)); break;
        case '(': { Value m; m.kind = Value::Mark; push(m); break; }
        case 'N': push(Value{}); break;
        case 0x88: case 0x89: { Value b; b.kind = Value::Bool; b.i = op == 0x88; push(b); break; }
        case 'K': push_int(int64_t(le(take(1), 1))); break;
        case 'M': push_int(int64_t(le(take(2), 2))); break;
        case 'J': push_int(int64_t(int32_t(uint32_t(le(take(4), 4))))); break;
        case 0x8a: {                                   // LONG1
          const size_t n = byte();
          if (n > 8) bad("LONG1 of ", n, " bytes");
          const std::byte* b = take(n);
          uint64_t v = le(b, int(n));
          if (n && n < 8 && (uint8_t(b[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
          push_int(int64_t(v));
          break;
        }
        case 'G': {                                    // BINFLOAT (big-endian)
          const std::byte* b = take(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | uint8_t(b[k]);
          Value f;
          f.kind = Value::Float;
          std::memcpy(&f.f, &bits, 8);
          push(f);
          break;
        }
        case 'X': push_str(size_t(le(take(4), 4))); break;    // BINUNICODE
        case 0x8c: push_str(byte()); break;                   // SHORT_BINUNICODE
        case 0x8d: push_str(size_t(le(take(8), 8))); break;   // BINUNICODE8
        case 'T': push_str(size_t(le(take(4), 4))); break;    // BINSTRING
        case 'U': push_str(byte()); break;                    // SHORT_BINSTRING
        case 'B': push_str(size_t(le(take(4), 4))); break;    // BINBYTES
        case 'C': push_str(byte()); break;                    // SHORT_BINBYTES
        case 'c': {                                    // GLOBAL module\nname\n
          const std::string module = line(), name = line();
          push_global(module + "." + name);
          break;
        }
        case 0x93: {                                   // STACK_GLOBAL
          const Value name = pop(), module = pop();
          if (name.kind != Value::Str || module.kind != Value::Str) bad("STACK_GLOBAL of non-strings");
          push_global(module.s + "." + name.s);
          break;
        }
        case 'q': memo_put(byte()); break;
        case 'r': memo_put(le(take(4), 4)); break;
        case 0x94: memo_put(memo_.size()); break;     // MEMOIZE
        case 'h': memo_get(byte()); break;
        case 'j': memo_get(le(take(4), 4)); break;
        case 't': push(tuple(pop_mark())); break;
        case 0x85: { auto a = pop(); push(tuple({a})); break; }
        case 0x86: { auto b = pop(), a = pop(); push(tuple({a, b})); break; }
        case 0x87: { auto c = pop(), b = pop(), a = pop(); push(tuple({a, b, c})); break; }
        case 'a': { Value v = pop(); append(top(), {v}); break; }
        case 'e': { std::vector<Value> v = pop_mark(); append(top(), v); break; }
        case 's': { Value v = pop(), k = pop(); set_items(top(), {k, v}); break; }
        case 'u': { std::vector<Value> kv = pop_mark(); set_items(top(), kv); break; }
        case '0': pop(); break;                        // POP
        case '1': pop_mark(); break;                   // POP_MARK
        case '2': push(top()); break;                  // DUP
        case 'Q': persistent(pop()); break;            // BINPERSID
        case 'R': { Value args = pop(), f = pop(); reduce(f, args); break; }
        case 'b': {                                    // BUILD: an OrderedDict's instance state is ignored
          const Value state = pop();
          if (top().kind != Value::Dict) bad("BUILD on a ", kind_name(top().kind));
          (void)state;
          break;
        }
        case '.': return finish();
        default: bad("opcode 0x", hex(op), " is not one a state dict needs");
      }
    }
  }

  std::vector<Storage> storages;

 private:
  template <typename... A>
  [[noreturn]] void bad(A&&... a) const {
    fail(file_, ": pickle at byte ", size_t(pos_ - start_), ": ", std::forward<A>(a)...);
  }
  static std::string hex(uint8_t b) {
    const char* d = "0123456789abcdef";
    return {d[b >> 4], d[b & 15]};
  }
  uint8_t byte() { return uint8_t(take(1)[0]); }
  const std::byte* take(size_t n) {
    pos_ = p_;
    if (size_t(end_ - p_) < n) bad("truncated (", n, " bytes wanted, ", size_t(end_ - p_), " left)");
    const std::byte* at = p_;
    p_ += n;
    return at;
  }
  std::string line() {
    std::string s;
    while (true) {
      const char c = char(byte());
      if (c == '\n') return s;
      if (s.size() > 256) bad("GLOBAL name too long");
      s += c;
    }
  }
  void push(Value v) {
    if (stack_.size() >= kMaxStack) bad("more than ", kMaxStack, " values on the stack");
    if (v.depth > kMaxDepth) bad("containers nested more than ", kMaxDepth, " deep");
    stack_.push_back(std::move(v));
  }
  void push_int(int64_t i) {
    Value v;
    v.kind = Value::Int;
    v.i = i;
    push(v);
  }
  void push_str(size_t n) {
    Value v;
    v.kind = Value::Str;
    const std::byte* b = take(n);
    v.s.assign(reinterpret_cast<const char*>(b), n);
    push(v);
  }
  void push_global(const std::string& g) {
    if (!global_allowed(g)) bad("global '", g, "' is not allowed (a state dict needs only ", kAllowed, ")");
    Value v;
    v.kind = Value::Global;
    v.s = g;
    push(v);
  }
  Value pop() {
    if (stack_.empty() || stack_.back().kind == Value::Mark) bad("stack underflow");
    Value v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  Value& top() {
    if (stack_.empty() || stack_.back().kind == Value::Mark) bad("stack underflow");
    return stack_.back();
  }
  std::vector<Value> pop_mark() {
    size_t m = stack_.size();
    while (m > 0 && stack_[m - 1].kind != Value::Mark) --m;
    if (m == 0) bad("no MARK on the stack");
    std::vector<Value> v(std::make_move_iterator(stack_.begin() + long(m)), std::make_move_iterator(stack_.end()));
    stack_.resize(m - 1);
    return v;
  }
  void memo_put(uint64_t k) {
    if (memo_.size() > kMaxStack) bad("memo too large");
    memo_[k] = top();
  }
  void memo_get(uint64_t k) {
    const auto it = memo_.find(k);
    if (it == memo_.end()) bad("memo key ", k, " was never stored");
    push(it->second);
  }
  // Containers are shared (memo GET), so a pickle can build cycles, which shared_ptr never frees
  // (fuzz-torch-checkpoint found the leak). A checkpoint holds none: a container is complete
  // before it goes into another. So once a container is inside another it is sealed, and adding
  // to it is refused; with the direct case below, no cycle can close.
  void seal(const Value& v) {
    if (v.items) sealed_.insert(v.items);
  }
  Value tuple(std::vector<Value> v) {
    for (const Value& c : v) seal(c);
    return Value::container(Value::Tuple, std::move(v));
  }
  void grow(Value& c, const std::vector<Value>& add) {
    if (sealed_.count(c.items)) bad("a container changed after it was put in another (a cycle?)");
    for (const Value& v : add) {
      if (v.depth + 1 > kMaxDepth) bad("containers nested more than ", kMaxDepth, " deep");
      if (c.items.get() == v.items.get() && v.items) bad("a container inside itself");
      c.depth = std::max(c.depth, v.depth + 1);
      seal(v);
      c.items->push_back(v);
    }
  }
  void append(Value& c, const std::vector<Value>& v) {
    if (c.kind != Value::List) bad("APPEND to a ", kind_name(c.kind));
    grow(c, v);
  }
  void set_items(Value& c, const std::vector<Value>& kv) {
    if (c.kind != Value::Dict) bad("SETITEM on a ", kind_name(c.kind));
    if (kv.size() % 2) bad("SETITEMS with an odd number of values");
    grow(c, kv);
  }
  void persistent(const Value& pid) {
    // ('storage', torch.XStorage, key, location, numel)
    const auto& t = pid.items;
    if (pid.kind != Value::Tuple || t->size() != 5 || (*t)[0].kind != Value::Str || (*t)[0].s != "storage" ||
        (*t)[1].kind != Value::Global || (*t)[2].kind != Value::Str || (*t)[4].kind != Value::Int)
      bad("a persistent id that is not ('storage', type, key, location, numel)");
    StDType dtype = StDType::F32;
    bool found = false;
    for (const StorageType& s : kStorages)
      if ((*t)[1].s == std::string("torch.") + s.name) dtype = s.dtype, found = true;
    if (!found) bad("'", (*t)[1].s, "' is not a storage type");
    const std::string key = (*t)[2].s;
    const auto it = zip_.find(prefix_ + "data/" + key);
    if (it == zip_.end()) bad("storage '", key, "' has no entry ", prefix_, "data/", key, " in the archive");
    const int64_t numel = (*t)[4].i;
    const size_t el = st_dtype_size(dtype);
    if (numel < 0 || uint64_t(numel) > it->second.size / el)
      bad("storage '", key, "' holds ", numel, " ", st_dtype_name(dtype), " elements but its entry is only ",
          it->second.size, " bytes (dtype mismatch or truncated)");
    Value v;
    v.kind = Value::StorageRef;
    v.i = int64_t(storages.size());
    storages.push_back({dtype, it->second.data, size_t(numel) * el, key});
    push(v);
  }
  void reduce(const Value& f, const Value& args) {
    if (f.kind != Value::Global) bad("REDUCE of a ", kind_name(f.kind));
    if (args.kind != Value::Tuple) bad("REDUCE arguments are a ", kind_name(args.kind));
    const std::vector<Value>& a = *args.items;
    if (f.s == "collections.OrderedDict") {
      if (!a.empty()) bad("OrderedDict with arguments");
      push(Value::container(Value::Dict));
    } else if (f.s == "torch._utils._rebuild_parameter") {  // (data, requires_grad, hooks): the data
      if (a.empty() || a[0].kind != Value::TensorRef) bad("_rebuild_parameter without a tensor");
      push(a[0]);
    } else if (f.s == "torch._utils._rebuild_tensor_v2") {
      rebuild_tensor(a);
    } else {
      bad("'", f.s, "' cannot be called");
    }
  }
  void rebuild_tensor(const std::vector<Value>& a) {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (a.size() < 4 || a[0].kind != Value::StorageRef || a[1].kind != Value::Int || a[2].kind != Value::Tuple ||
        a[3].kind != Value::Tuple)
      bad("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
    const Storage& s = storages[size_t(a[0].i)];
    const std::vector<Value>& size = *a[2].items;
    const std::vector<Value>& stride = *a[3].items;
    if (size.size() != stride.size() || size.size() > 8) bad("tensor of rank ", size.size(), " with ", stride.size(), " strides");
    StTensor t;
    t.dtype = s.dtype;
    uint64_t numel = 1, expect = 1;
    for (size_t k = size.size(); k-- > 0;) {
      if (size[k].kind != Value::Int || stride[k].kind != Value::Int || size[k].i < 0 || size[k].i > (int64_t(1) << 40))
        bad("tensor size or stride is not a sane integer");
      if (size[k].i != 1 && stride[k].i != int64_t(expect))
        bad("tensor in storage '", s.key, "' is not contiguous (strides); glimpse reads row-major tensors only");
      expect *= uint64_t(size[k].i);
      numel = expect;
      if (numel > (uint64_t(1) << 40)) bad("tensor of more than 2^40 elements");
    }
    for (const Value& v : size) t.shape.push_back(v.i);
    const size_t el = st_dtype_size(s.dtype);
    if (a[1].i < 0 || uint64_t(a[1].i) > s.bytes / el || numel > s.bytes / el - uint64_t(a[1].i))
      bad("tensor at offset ", a[1].i, " of ", numel, " elements runs past storage '", s.key, "' (", s.bytes / el,
          " elements)");
    t.data = s.data + size_t(a[1].i) * el;
    t.bytes = size_t(numel) * el;
    t.file = file_name_;
    Value v;
    v.kind = Value::TensorRef;
    v.i = int64_t(tensors_.size());
    tensors_.push_back(t);
    push(v);
  }
  std::map<std::string, StTensor> finish() {
    if (stack_.size() != 1) bad("STOP with ", stack_.size(), " values on the stack");
    const Value& root = stack_[0];
    if (root.kind != Value::Dict) bad("the checkpoint is a ", kind_name(root.kind), ", not a state dict");
    std::map<std::string, StTensor> out;
    const std::vector<Value>& kv = *root.items;
    for (size_t k = 0; k + 1 < kv.size(); k += 2) {
      if (kv[k].kind != Value::Str) bad("a state dict key is a ", kind_name(kv[k].kind));
      if (kv[k + 1].kind != Value::TensorRef) continue;  // not a tensor: nothing to load
      StTensor t = tensors_[size_t(kv[k + 1].i)];
      t.name = kv[k].s;
      out[t.name] = t;
    }
    return out;
  }

  const std::byte* p_;
  const std::byte* end_;
  const std::byte* start_ = p_;
  const std::byte* pos_ = p_;
  const std::string& file_;
  const std::string* file_name_ = nullptr;
  const std::map<std::string, ZipEntry>& zip_;
  std::string prefix_;
  std::vector<Value> stack_;
  std::unordered_map<uint64_t, Value> memo_;
  std::set<std::shared_ptr<std::vector<Value>>> sealed_;  // held, so no address is reused meanwhile
  std::vector<StTensor> tensors_;
};

}  // namespace

struct TorchCheckpoint::File {
  std::unique_ptr<MappedFile> map;  // or
  std::string bytes;                // (parse)
  std::string name;
  const std::byte* data() const { return map ? map->bytes() : reinterpret_cast<const std::byte*>(bytes.data()); }
  size_t size() const { return map ? map->size : bytes.size(); }
};

TorchCheckpoint::TorchCheckpoint(TorchCheckpoint&&) noexcept = default;
TorchCheckpoint& TorchCheckpoint::operator=(TorchCheckpoint&&) noexcept = default;
TorchCheckpoint::~TorchCheckpoint() = default;

void TorchCheckpoint::add(std::unique_ptr<File> file) {
  files_.push_back(std::move(file));
  const File& f = *files_.back();
  const std::map<std::string, ZipEntry> zip = zip_entries(f.data(), f.size(), f.name);
  std::string pkl;
  for (const auto& [name, e] : zip)
    if (name == "data.pkl" || (name.size() > 9 && name.compare(name.size() - 9, 9, "/data.pkl") == 0)) {
      if (!pkl.empty()) fail(f.name, ": the archive holds two pickles (", pkl, ", ", name, ")");
      pkl = name;
    }
  if (pkl.empty()) fail(f.name, ": the zip archive has no data.pkl: not a torch.save checkpoint");
  const ZipEntry& e = zip.at(pkl);
  Unpickler u(e.data, e.size, f.name, zip, pkl.substr(0, pkl.size() - 8));
  for (auto& [name, t] : u.run(&f.name)) {
    if (tensors_.count(name)) fail(f.name, ": tensor ", name, " is also in another shard");
    tensors_.emplace(name, t);
  }
}

TorchCheckpoint TorchCheckpoint::parse(std::string bytes, const std::string& name) {
  TorchCheckpoint c;
  auto f = std::make_unique<File>();
  f->bytes = std::move(bytes);
  f->name = name;
  c.add(std::move(f));
  return c;
}

TorchCheckpoint TorchCheckpoint::open(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (fs::is_directory(p)) p = fs::exists(p / "pytorch_model.bin") ? p / "pytorch_model.bin" : p / "pytorch_model.bin.index.json";
  TorchCheckpoint c;
  std::vector<std::string> files;
  if (p.extension() == ".json") {
    const nlohmann::json index = json_load(p.string());
    const nlohmann::json* map = index.is_object() && index.contains("weight_map") ? &index["weight_map"] : nullptr;
    if (!map || !map->is_object()) fail(p.string(), ": no weight_map object");
    std::set<std::string> shards;
    for (const auto& [k, v] : map->items()) {
      if (!v.is_string() || v.get<std::string>().find('/') != std::string::npos)
        fail(p.string(), ": weight_map entry ", k, " does not name a file in the folder");
      shards.insert(v.get<std::string>());
    }
    for (const std::string& s : shards) files.push_back((p.parent_path() / s).string());
  } else {
    files.push_back(p.string());
  }
  for (const std::string& f : files) {
    auto file = std::make_unique<File>();
    file->name = f;
    file->map = std::make_unique<MappedFile>(f);
    c.add(std::move(file));
  }
  return c;
}

const StTensor* TorchCheckpoint::find(const std::string& name, const Shape&) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void TorchCheckpoint::release(const StTensor& t) const {
  // Mapped files only: dropping pages of parse()'s heap copy would zero them.
  if (!files_.empty() && files_.front()->map) memory_release(t.data, t.bytes);
}

std::vector<std::string> TorchCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

bool torch_checkpoint_present(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  return fs::exists(fs::path(dir) / "pytorch_model.bin", ec) || fs::exists(fs::path(dir) / "pytorch_model.bin.index.json", ec);
}

}  // namespace glimpse
