#include "tests/loader/hostile_gguf.h"

#include <cstring>
#include <limits>

namespace moevk::test {

namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put(out, uint64_t(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

template <typename T>
std::vector<uint8_t> le(T v) {
  std::vector<uint8_t> out;
  put(out, v);
  return out;
}

constexpr uint32_t kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
                   kStr = 8, kArr = 9, kU64 = 10, kI64 = 11, kF64 = 12;
constexpr uint64_t kHuge = uint64_t(1) << 62;

}  // namespace

void RawGguf::kv_raw(const std::string& key, uint32_t type, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> kv;
  put_string(kv, key);
  put(kv, type);
  kv.insert(kv.end(), payload.begin(), payload.end());
  kvs.push_back(std::move(kv));
}

void RawGguf::kv_u32(const std::string& key, uint32_t v) { kv_raw(key, kU32, le(v)); }

void RawGguf::kv_string(const std::string& key, const std::string& v) {
  std::vector<uint8_t> p;
  put_string(p, v);
  kv_raw(key, kStr, p);
}

void RawGguf::kv_array(const std::string& key, uint32_t elem_type, uint64_t count,
                       const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> p;
  put(p, elem_type);
  put(p, count);
  p.insert(p.end(), payload.begin(), payload.end());
  kv_raw(key, kArr, p);
}

std::vector<uint8_t> RawGguf::bytes() const {
  std::vector<uint8_t> out;
  put(out, magic);
  put(out, version);
  put(out, n_tensors == -1   ? uint64_t(tensors.size())
           : n_tensors == -2 ? n_tensors_raw
                             : uint64_t(n_tensors));
  put(out, n_kv == -1 ? uint64_t(kvs.size()) : n_kv == -2 ? n_kv_raw : uint64_t(n_kv));
  for (const auto& kv : kvs) out.insert(out.end(), kv.begin(), kv.end());
  for (const Tensor& t : tensors) {
    put_string(out, t.name);
    put(out, uint32_t(t.dims.size()));
    for (uint64_t d : t.dims) put(out, d);
    put(out, t.type);
    put(out, t.offset);
  }
  if (alignment > 0) out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
  for (uint64_t i = 0; i < data_size; i++) out.push_back(uint8_t(i * 7 + 3));
  return out;
}

RawGguf valid_raw() {
  RawGguf g;
  g.kv_string("general.architecture", "test");
  g.kv_raw("v.u8", kU8, le(uint8_t(200)));
  g.kv_raw("v.i8", kI8, le(int8_t(-100)));
  g.kv_raw("v.u16", kU16, le(uint16_t(60000)));
  g.kv_raw("v.i16", kI16, le(int16_t(-30000)));
  g.kv_u32("v.u32", 4000000000u);
  g.kv_raw("v.i32", kI32, le(int32_t(-7)));
  g.kv_raw("v.f32", kF32, le(1.5f));
  g.kv_raw("v.bool", kBool, le(uint8_t(1)));
  g.kv_raw("v.u64", kU64, le(std::numeric_limits<uint64_t>::max()));
  g.kv_raw("v.i64", kI64, le(int64_t(-1) << 40));
  g.kv_raw("v.f64", kF64, le(0.25));
  std::vector<uint8_t> strs;
  put_string(strs, "a");
  put_string(strs, "");
  put_string(strs, "hello");
  g.kv_array("v.strs", kStr, 3, strs);
  std::vector<uint8_t> ints;
  for (int32_t v : {1, -2, 3}) put(ints, v);
  g.kv_array("v.i32s", kI32, 3, ints);
  std::vector<uint8_t> floats;
  for (float v : {0.5f, -1.0f}) put(floats, v);
  g.kv_array("v.f32s", kF32, 2, floats);
  g.kv_array("v.empty", kU8, 0, {});
  // F32 [8, 2] = 64 bytes at 0; Q8_0 [64] = 68 bytes at 64; Q4_K [256] = 144 bytes at 160.
  g.tensors.push_back({"t.f32", {8, 2}, 0, 0});
  g.tensors.push_back({"t.q8_0", {64}, 8, 64});
  g.tensors.push_back({"blk.0.ffn_up_exps.weight", {256, 1, 1}, 12, 160});
  g.data_size = 160 + 144;
  return g;
}

std::vector<HostileCase> hostile_corpus() {
  std::vector<HostileCase> c;
  auto add = [&](std::string name, const RawGguf& g, std::string expect) {
    c.push_back({std::move(name), g.bytes(), std::move(expect)});
  };
  const RawGguf base = valid_raw();
  RawGguf g;

  g = base, g.magic = 0x46554746;
  add("wrong magic", g, "bad magic");
  g = base, g.version = 1;
  add("version 1", g, "unsupported GGUF version 1");
  g = base, g.version = 99;
  add("version 99", g, "unsupported GGUF version 99");
  g = base, g.n_tensors = -2, g.n_tensors_raw = std::numeric_limits<uint64_t>::max();
  add("absurd tensor count", g, "tensor count");
  g = base, g.n_kv = -2, g.n_kv_raw = kHuge;
  add("absurd kv count", g, "key-value count");
  g = base, g.n_kv = int64_t(base.kvs.size()) + 1;
  add("kv count one too many", g, "");
  {
    g = base;
    std::vector<uint8_t> kv;
    put(kv, kHuge);  // key length
    g.kvs.insert(g.kvs.begin(), kv);
    add("absurd key length", g, "string length");
  }
  g = base, g.kv_raw("s.huge", kStr, le(kHuge));
  add("absurd string length", g, "string length");
  g = base, g.kv_array("a.huge", kU32, kHuge, {});
  add("absurd array length", g, "cannot fit");
  g = base, g.kv_array("a.strs", kStr, 1000000, {});
  add("absurd string array length", g, "cannot fit");
  {
    g = base;
    std::vector<uint8_t> p;
    put(p, uint64_t(5));
    put(p, uint32_t(0));
    g.kv_array("a.strs_bad", kStr, 2, p);  // second string length runs past the end
    add("string array element past end", g, "a.strs_bad");
  }
  g = base, g.kv_raw("v.unknown", 13, le(uint32_t(0)));
  add("unknown value type", g, "unknown value type 13");
  g = base, g.kv_array("a.unknown", 77, 1, le(uint32_t(0)));
  add("unknown array element type", g, "unknown array element type 77");
  {
    g = base;
    std::vector<uint8_t> inner;
    put(inner, kU8);
    put(inner, uint64_t(1));
    inner.push_back(1);
    g.kv_array("a.nested", kArr, 1, inner);
    add("nested array", g, "arrays of arrays");
  }
  g = base, g.kv_u32("v.u32", 1);
  add("duplicate key", g, "duplicate key");
  g = base, g.kv_raw("", kU8, le(uint8_t(1)));
  add("empty key", g, "empty key");
  g = base, g.kv_raw("v.bool2", kBool, le(uint8_t(2)));
  add("bool value 2", g, "bool");
  g = base, g.kv_u32("general.alignment", 0);
  add("alignment 0", g, "general.alignment");
  g = base, g.kv_u32("general.alignment", 48);
  add("alignment 48", g, "power of two");
  g = base, g.kv_raw("general.alignment", kU64, le(uint64_t(32)));
  add("alignment as uint64", g, "must be uint32");
  g = base, g.kv_string("general.alignment", "32");
  add("alignment as string", g, "must be uint32");
  g = base, g.tensors[0].dims = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  add("9 dims", g, "n_dims 9");
  g = base, g.tensors[0].dims = {};
  add("0 dims", g, "n_dims 0");
  g = base, g.tensors[0].dims = {8, 0};
  add("zero dim", g, "dimension 1 is zero");
  g = base, g.tensors[0].dims = {uint64_t(1) << 32, uint64_t(1) << 32, 1 << 8};
  add("overflowing dims", g, "overflows");
  g = base, g.tensors[0].dims = {std::numeric_limits<uint64_t>::max(), 2};
  add("huge dim", g, "overflows");
  g = base, g.tensors[1].type = 200;
  add("unknown tensor type", g, "unknown tensor type id 200");
  g = base, g.tensors[1].type = 4;
  add("removed tensor type", g, "unknown tensor type id 4");
  g = base, g.tensors[1].dims = {48};
  add("ne0 not a block multiple", g, "not a multiple of the Q8_0 block size");
  g = base, g.tensors[2].offset = 1 << 20;
  add("offset past end", g, "past the end of the file");
  g = base, g.tensors[2].offset = std::numeric_limits<uint64_t>::max() - 31;
  add("offset overflow", g, "past the end of the file");
  g = base, g.tensors[1].offset = 65;
  add("misaligned offset", g, "not a multiple of the alignment");
  g = base, g.tensors[1].offset = 32;  // inside t.f32's 64 bytes: refused by every command
  add("overlapping tensors", g, "overlaps tensor 't.f32'");
  g = base, g.tensors[2].name = "t.f32";
  add("duplicate tensor name", g, "duplicate tensor name");
  g = base, g.tensors[0].name = "";
  add("empty tensor name", g, "empty name");
  g = base, g.data_size -= 1;
  add("last tensor one byte short", g, "blk.0.ffn_up_exps.weight");
  g = base, g.alignment = 0, g.data_size = 0;
  add("no data section", g, "past the end");
  return c;
}

}  // namespace moevk::test
