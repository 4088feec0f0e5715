// GGUF v2/v3 reader. Layout (little-endian):
//   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv x { string key | u32 value_type | value }
//   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
//   padding to general.alignment (default 32) | tensor data
// string = u64 length + bytes; array = u32 elem_type + u64 count + elements.
// Everything is validated in open(); accessors afterwards only walk validated bytes.
#include "loader/gguf/gguf.h"

#include <algorithm>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <type_traits>

namespace moevk::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxKeyLength = 65535;
constexpr uint64_t kMaxNameLength = 65535;

// Fixed payload size of a scalar value type; 0 for STRING/ARRAY; nullopt for unknown ids.
std::optional<uint64_t> scalar_size(uint32_t t) {
  switch (static_cast<ValueType>(t)) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL: return 1;
    case ValueType::UINT16:
    case ValueType::INT16: return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32: return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64: return 8;
    case ValueType::STRING:
    case ValueType::ARRAY: return 0;
  }
  return std::nullopt;
}

bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64: return true;
    default: return false;
  }
}
bool is_float(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

// Bounds-checked little-endian cursor over the file bytes.
struct Cursor {
  const uint8_t* data;
  uint64_t size;
  uint64_t pos;
  const std::string& path;

  uint64_t remaining() const { return size - pos; }

  // `what` describes the field for error messages: a string, or a callable returning one (formatted
  // only on error, so hot loops over string arrays do not format).
  template <typename W>
  static std::string describe(const W& what) {
    if constexpr (std::is_invocable_v<W>)
      return what();
    else
      return std::string(what);
  }

  template <typename T, typename W>
  T read(const W& what) {
    if (remaining() < sizeof(T))
      fail("{}: {} at byte {}: needs {} bytes but the file ends at byte {}", path, describe(what),
           pos, sizeof(T), size);
    T v;
    std::memcpy(&v, data + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }

  template <typename W>
  std::string_view read_string(const W& what, uint64_t max_len) {
    uint64_t at = pos;
    uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail("{}: {} at byte {}: string length {} exceeds the {} bytes left in the file", path,
           describe(what), at, len, remaining());
    if (len > max_len)
      fail("{}: {} at byte {}: string length {} exceeds the limit {}", path, describe(what), at,
           len, max_len);
    std::string_view s(reinterpret_cast<const char*>(data + pos), len);
    pos += len;
    return s;
  }
};

}  // namespace

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

// An integer value as sign and magnitude (covers the whole uint64 and int64 ranges).
struct IntVal {
  bool negative;
  uint64_t magnitude;
};

struct File::Impl {
  std::string path;
  std::vector<uint8_t> owned;
  void* map = nullptr;
  uint64_t map_size = 0;
  const uint8_t* data = nullptr;
  uint64_t size = 0;

  uint32_t version = 0;
  uint64_t alignment = kDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<KeyValue> kvs;
  std::map<std::string, size_t, std::less<>> kv_index;
  std::vector<TensorInfo> tensors;
  std::vector<uint64_t> tensor_info_at;  // file offset of each tensor's info record
  std::map<std::string, size_t, std::less<>> tensor_index;

  ~Impl() {
    if (map) munmap(map, map_size);
  }

  void parse();
  Value parse_value(Cursor& c, std::string_view key);
  void parse_tensor(Cursor& c);

  // Reads (validated) payload bytes.
  template <typename T>
  T load(uint64_t off) const {
    T v;
    std::memcpy(&v, data + off, sizeof(T));
    return v;
  }
  IntVal load_int(ValueType t, uint64_t off) const;
  double load_number(ValueType t, uint64_t off) const;
  std::string_view load_string(uint64_t off) const {
    uint64_t len = load<uint64_t>(off);
    return {reinterpret_cast<const char*>(data + off + 8), len};
  }
};

void File::Impl::parse() {
  Cursor c{data, size, 0, path};
  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic)
    fail("{}: at byte 0: bad magic 0x{:08x} (expected 0x{:08x}, \"GGUF\"): not a GGUF file", path,
         magic, kMagic);
  version = c.read<uint32_t>("version");
  if (version == 1)
    fail("{}: at byte 4: unsupported GGUF version 1 (only versions 2 and 3 are supported)", path);
  if (version != 2 && version != 3)
    fail("{}: at byte 4: unsupported GGUF version {} (only versions 2 and 3 are supported)", path,
         version);
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("key-value count");
  // Each kv takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least
  // 8 + 4 + 8 + 4 + 8. Larger counts cannot fit: reject them before allocating anything.
  if (n_kv > c.remaining() / 13)
    fail("{}: at byte 16: key-value count {} cannot fit in the {} bytes left in the file", path,
         n_kv, c.remaining());
  if (n_tensors > c.remaining() / 32)
    fail("{}: at byte 8: tensor count {} cannot fit in the {} bytes left in the file", path,
         n_tensors, c.remaining());

  kvs.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; i++) {
    uint64_t kv_at = c.pos;
    std::string_view key =
        c.read_string([&] { return fmt::format("key of key-value #{}", i); }, kMaxKeyLength);
    if (key.empty()) fail("{}: at byte {}: key-value #{} has an empty key", path, kv_at, i);
    Value v = parse_value(c, key);
    if (kv_index.count(key)) fail("{}: key '{}' at byte {}: duplicate key", path, key, kv_at);
    kv_index.emplace(std::string(key), kvs.size());
    kvs.push_back(KeyValue{std::string(key), v});
  }

  if (auto it = kv_index.find("general.alignment"); it != kv_index.end()) {
    const Value& v = kvs[it->second].value;
    if (v.type != ValueType::UINT32)
      fail("{}: key 'general.alignment' at byte {}: must be uint32, found {}", path, v.offset,
           value_type_name(v.type));
    uint32_t a = load<uint32_t>(v.offset);
    if (a == 0 || (a & (a - 1)) != 0)
      fail("{}: key 'general.alignment' at byte {}: alignment {} is not a nonzero power of two",
           path, v.offset, a);
    alignment = a;
  }

  tensors.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; i++) parse_tensor(c);

  uint64_t header_end = c.pos;
  uint64_t pad = (alignment - header_end % alignment) % alignment;
  data_offset = header_end + pad;  // header_end <= size < 2^63 and pad < 2^32: no overflow
  if (data_offset > size) {
    if (!tensors.empty())
      fail(
          "{}: at byte {}: tensor data section (aligned to {}) starts at byte {}, past the end of "
          "the file (size {})",
          path, header_end, alignment, data_offset, size);
    data_offset = size;  // a file without tensors needs no padding
  }
  uint64_t data_size = size - data_offset;
  for (size_t i = 0; i < tensors.size(); i++) {
    const TensorInfo& t = tensors[i];
    if (t.offset % alignment != 0)
      fail("{}: tensor '{}' at byte {}: data offset {} is not a multiple of the alignment {}", path,
           t.name, tensor_info_at[i], t.offset, alignment);
    uint64_t end;
    if (__builtin_add_overflow(t.offset, t.n_bytes, &end) || end > data_size)
      fail(
          "{}: tensor '{}' at byte {}: data [offset {}, offset+size {}) lies past the end of the "
          "file (size {}, data section starts at byte {})",
          path, t.name, data_offset + std::min(t.offset, data_size), t.offset,
          t.offset + std::min(t.n_bytes, ~t.offset), size, data_offset);
  }
  // No two tensors share bytes: every command (info, run, the engines) sees the same valid file.
  std::vector<size_t> by_offset(tensors.size());
  for (size_t i = 0; i < by_offset.size(); i++) by_offset[i] = i;
  std::sort(by_offset.begin(), by_offset.end(),
            [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
  for (size_t k = 1; k < by_offset.size(); k++) {
    const TensorInfo& prev = tensors[by_offset[k - 1]];
    const TensorInfo& t = tensors[by_offset[k]];
    if (t.offset < prev.offset + prev.n_bytes)
      fail("{}: tensor '{}' at byte {}: data offset {} overlaps tensor '{}' (data offsets {} to {})", path,
           t.name, tensor_info_at[by_offset[k]], t.offset, prev.name, prev.offset, prev.offset + prev.n_bytes);
  }
}

Value File::Impl::parse_value(Cursor& c, std::string_view key) {
  uint64_t type_at = c.pos;
  uint32_t t = c.read<uint32_t>([&] { return fmt::format("value type of key '{}'", key); });
  auto sz = scalar_size(t);
  if (!sz) fail("{}: key '{}' at byte {}: unknown value type {}", path, key, type_at, t);
  ValueType type = static_cast<ValueType>(t);
  Value v{type, type, 1, c.pos};
  if (type == ValueType::STRING) {
    c.read_string([&] { return fmt::format("string value of key '{}'", key); },
                  std::numeric_limits<uint64_t>::max());
    return v;
  }
  if (type != ValueType::ARRAY) {
    if (c.remaining() < *sz)
      fail("{}: key '{}' at byte {}: {} value needs {} bytes but the file ends at byte {}", path,
           key, c.pos, value_type_name(type), *sz, size);
    if (type == ValueType::BOOL && data[c.pos] > 1)
      fail("{}: key '{}' at byte {}: bool value {} is neither 0 nor 1", path, key, c.pos,
           data[c.pos]);
    c.pos += *sz;
    return v;
  }
  uint64_t et_at = c.pos;
  uint32_t et =
      c.read<uint32_t>([&] { return fmt::format("array element type of key '{}'", key); });
  auto esz = scalar_size(et);
  if (!esz) fail("{}: key '{}' at byte {}: unknown array element type {}", path, key, et_at, et);
  if (static_cast<ValueType>(et) == ValueType::ARRAY)
    fail("{}: key '{}' at byte {}: arrays of arrays are not supported", path, key, et_at);
  uint64_t count_at = c.pos;
  uint64_t count = c.read<uint64_t>([&] { return fmt::format("array length of key '{}'", key); });
  v.elem_type = static_cast<ValueType>(et);
  v.count = count;
  v.offset = c.pos;
  uint64_t min_elem = v.elem_type == ValueType::STRING ? 8 : *esz;
  if (count > c.remaining() / min_elem)
    fail("{}: key '{}' at byte {}: array of {} {} elements cannot fit in the {} bytes left", path,
         key, count_at, count, value_type_name(v.elem_type), c.remaining());
  if (v.elem_type == ValueType::STRING) {
    for (uint64_t i = 0; i < count; i++)
      c.read_string([&] { return fmt::format("element {} of string array '{}'", i, key); },
                    std::numeric_limits<uint64_t>::max());
  } else {
    if (v.elem_type == ValueType::BOOL)
      for (uint64_t i = 0; i < count; i++)
        if (data[c.pos + i] > 1)
          fail("{}: key '{}' at byte {}: bool element {} has value {}", path, key, c.pos + i, i,
               data[c.pos + i]);
    c.pos += count * *esz;
  }
  return v;
}

void File::Impl::parse_tensor(Cursor& c) {
  uint64_t at = c.pos;
  std::string_view name = c.read_string(
      [&] { return fmt::format("name of tensor #{}", tensors.size()); }, kMaxNameLength);
  if (name.empty()) fail("{}: at byte {}: tensor #{} has an empty name", path, at, tensors.size());
  TensorInfo t;
  t.name = std::string(name);
  uint64_t dims_at = c.pos;
  t.n_dims = c.read<uint32_t>([&] { return fmt::format("n_dims of tensor '{}'", name); });
  if (t.n_dims < 1 || t.n_dims > 4)
    fail("{}: tensor '{}' at byte {}: n_dims {} is outside 1..4", path, name, dims_at, t.n_dims);
  t.ne = {1, 1, 1, 1};
  t.n_elements = 1;
  for (uint32_t d = 0; d < t.n_dims; d++) {
    uint64_t ne_at = c.pos;
    t.ne[d] = c.read<uint64_t>([&] { return fmt::format("dimension {} of tensor '{}'", d, name); });
    if (t.ne[d] == 0)
      fail("{}: tensor '{}' at byte {}: dimension {} is zero", path, name, ne_at, d);
    if (t.ne[d] > (uint64_t(1) << 62) ||
        __builtin_mul_overflow(t.n_elements, t.ne[d], &t.n_elements) ||
        t.n_elements > (uint64_t(1) << 62))
      fail("{}: tensor '{}' at byte {}: element count overflows (dimension {} = {})", path, name,
           ne_at, d, t.ne[d]);
  }
  uint64_t type_at = c.pos;
  uint32_t type_id = c.read<uint32_t>([&] { return fmt::format("type of tensor '{}'", name); });
  auto tt = type_traits(type_id);
  if (!tt)
    fail("{}: tensor '{}' at byte {}: unknown tensor type id {}", path, name, type_at, type_id);
  t.type = static_cast<GgmlType>(type_id);
  if (t.ne[0] % tt->block_size != 0)
    fail(
        "{}: tensor '{}' at byte {}: row length ne[0] = {} is not a multiple of the {} block size "
        "{}",
        path, name, dims_at, t.ne[0], tt->name, tt->block_size);
  uint64_t rb = *row_bytes(t.type, t.ne[0]);
  if (__builtin_mul_overflow(rb, t.n_elements / t.ne[0], &t.n_bytes))
    fail("{}: tensor '{}' at byte {}: byte size overflows", path, name, dims_at);
  t.offset = c.read<uint64_t>([&] { return fmt::format("data offset of tensor '{}'", name); });
  if (tensor_index.count(name))
    fail("{}: tensor '{}' at byte {}: duplicate tensor name", path, name, at);
  tensor_index.emplace(t.name, tensors.size());
  tensors.push_back(std::move(t));
  tensor_info_at.push_back(at);
}

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file ({})", path,
         S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device" : "not a plain file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    fail("{}: at byte 0: empty file, not a GGUF file", path);
  }
  void* p = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) fail("{}: mmap failed: {}", path, std::strerror(e));
  impl->map = p;
  impl->map_size = uint64_t(st.st_size);
  impl->data = static_cast<const uint8_t*>(p);
  impl->size = impl->map_size;
  impl->parse();
  return File(std::move(impl));
}

File File::from_memory(std::vector<uint8_t> bytes) {
  auto impl = std::make_unique<Impl>();
  impl->path = "<memory>";
  impl->owned = std::move(bytes);
  impl->data = impl->owned.data();
  impl->size = impl->owned.size();
  impl->parse();
  return File(std::move(impl));
}

uint32_t File::version() const { return impl_->version; }
uint64_t File::file_size() const { return impl_->size; }
uint64_t File::data_offset() const { return impl_->data_offset; }
uint64_t File::alignment() const { return impl_->alignment; }
const std::string& File::path() const { return impl_->path; }
const std::vector<KeyValue>& File::metadata() const { return impl_->kvs; }
const std::vector<TensorInfo>& File::tensors() const { return impl_->tensors; }

const Value* File::find(std::string_view key) const {
  auto it = impl_->kv_index.find(key);
  return it == impl_->kv_index.end() ? nullptr : &impl_->kvs[it->second].value;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

std::span<const uint8_t> File::tensor_data(const TensorInfo& t) const {
  MOEVK_ASSERT(t.offset <= impl_->size - impl_->data_offset &&
                   t.n_bytes <= impl_->size - impl_->data_offset - t.offset,
               "tensor outside the file");
  return {impl_->data + impl_->data_offset + t.offset, t.n_bytes};
}

std::span<const uint8_t> File::bytes() const { return {impl_->data, impl_->size}; }

// Typed getters.
IntVal File::Impl::load_int(ValueType t, uint64_t off) const {
  const Impl& f = *this;
  auto s = [](int64_t v) {
    return v < 0 ? IntVal{true, uint64_t(0) - uint64_t(v)} : IntVal{false, uint64_t(v)};
  };
  switch (t) {
    case ValueType::UINT8: return {false, f.load<uint8_t>(off)};
    case ValueType::UINT16: return {false, f.load<uint16_t>(off)};
    case ValueType::UINT32: return {false, f.load<uint32_t>(off)};
    case ValueType::UINT64: return {false, f.load<uint64_t>(off)};
    case ValueType::INT8: return s(f.load<int8_t>(off));
    case ValueType::INT16: return s(f.load<int16_t>(off));
    case ValueType::INT32: return s(f.load<int32_t>(off));
    case ValueType::INT64: return s(f.load<int64_t>(off));
    default: break;
  }
  MOEVK_ASSERT(false, "not an integer type");
  return {false, 0};
}

double File::Impl::load_number(ValueType t, uint64_t off) const {
  if (t == ValueType::FLOAT32) return load<float>(off);
  if (t == ValueType::FLOAT64) return load<double>(off);
  IntVal v = load_int(t, off);
  return v.negative ? -double(v.magnitude) : double(v.magnitude);
}

namespace {
int64_t to_int64(const std::string& path, std::string_view key, uint64_t off, IntVal v) {
  if (!v.negative && v.magnitude > uint64_t(std::numeric_limits<int64_t>::max()))
    fail("{}: key '{}' at byte {}: value {} does not fit in int64", path, key, off, v.magnitude);
  return v.negative ? int64_t(uint64_t(0) - v.magnitude) : int64_t(v.magnitude);
}

}  // namespace

std::optional<uint64_t> File::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!is_integer(v->type))
    fail("{}: key '{}' at byte {}: expected an unsigned integer, found {}", path(), key, v->offset,
         value_type_name(v->type));
  IntVal i = impl_->load_int(v->type, v->offset);
  if (i.negative)
    fail("{}: key '{}' at byte {}: expected a non-negative integer, found -{}", path(), key,
         v->offset, i.magnitude);
  return i.magnitude;
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!is_integer(v->type))
    fail("{}: key '{}' at byte {}: expected an integer, found {}", path(), key, v->offset,
         value_type_name(v->type));
  return to_int64(path(), key, v->offset, impl_->load_int(v->type, v->offset));
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!is_integer(v->type) && !is_float(v->type))
    fail("{}: key '{}' at byte {}: expected a number, found {}", path(), key, v->offset,
         value_type_name(v->type));
  return impl_->load_number(v->type, v->offset);
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::BOOL)
    fail("{}: key '{}' at byte {}: expected a bool, found {}", path(), key, v->offset,
         value_type_name(v->type));
  return impl_->data[v->offset] != 0;
}

std::optional<std::string_view> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::STRING)
    fail("{}: key '{}' at byte {}: expected a string, found {}", path(), key, v->offset,
         value_type_name(v->type));
  return impl_->load_string(v->offset);
}

std::optional<std::vector<std::string_view>> File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::ARRAY || v->elem_type != ValueType::STRING)
    fail("{}: key '{}' at byte {}: expected an array of strings, found {} of {}", path(), key,
         v->offset, value_type_name(v->type), value_type_name(v->elem_type));
  std::vector<std::string_view> out;
  out.reserve(v->count);
  uint64_t off = v->offset;
  for (uint64_t i = 0; i < v->count; i++) {
    out.push_back(impl_->load_string(off));
    off += 8 + out.back().size();
  }
  return out;
}

std::optional<std::vector<double>> File::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::ARRAY || !(is_integer(v->elem_type) || is_float(v->elem_type)))
    fail("{}: key '{}' at byte {}: expected an array of numbers, found {} of {}", path(), key,
         v->offset, value_type_name(v->type), value_type_name(v->elem_type));
  uint64_t esz = *scalar_size(uint32_t(v->elem_type));
  std::vector<double> out(v->count);
  for (uint64_t i = 0; i < v->count; i++)
    out[i] = impl_->load_number(v->elem_type, v->offset + i * esz);
  return out;
}

std::optional<std::vector<int64_t>> File::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::ARRAY || !is_integer(v->elem_type))
    fail("{}: key '{}' at byte {}: expected an array of integers, found {} of {}", path(), key,
         v->offset, value_type_name(v->type), value_type_name(v->elem_type));
  uint64_t esz = *scalar_size(uint32_t(v->elem_type));
  std::vector<int64_t> out(v->count);
  for (uint64_t i = 0; i < v->count; i++)
    out[i] = to_int64(path(), key, v->offset + i * esz,
                      impl_->load_int(v->elem_type, v->offset + i * esz));
  return out;
}

uint64_t File::require_uint(std::string_view key) const {
  auto v = get_uint(key);
  if (!v) fail("{}: missing key '{}'", path(), key);
  return *v;
}

double File::require_float(std::string_view key) const {
  auto v = get_float(key);
  if (!v) fail("{}: missing key '{}'", path(), key);
  return *v;
}

std::string_view File::require_string(std::string_view key) const {
  auto v = get_string(key);
  if (!v) fail("{}: missing key '{}'", path(), key);
  return *v;
}

}  // namespace moevk::gguf
