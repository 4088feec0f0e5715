// Jinja values: Python truthiness, str(), repr(), json.dumps() and ==.
#include <algorithm>
#include <cmath>
#include <string>

#include "loader/template/jinja_ast.h"

namespace moevk::jinja {

namespace {

thread_local WorkMeter* g_meter = nullptr;  // the render running on this thread, if any

}  // namespace

WorkMeter::WorkMeter() : outer_(g_meter) { g_meter = this; }
WorkMeter::~WorkMeter() { g_meter = outer_; }

void charge(uint64_t steps) {
  WorkMeter* m = g_meter;
  if (!m) return;
  m->steps_ += steps;
  if (m->steps_ > kMaxSteps) {
    m->steps_ = kMaxSteps;  // later charges (while the error unwinds) fail again, never wrap
    fail("the template takes too long (more than {} steps of work: evaluations, loop iterations, and "
         "the items and bytes its filters and operators touch)", kMaxSteps);
  }
}

const Value* Object::find(std::string_view key) const {
  charge(items.size() / 16);  // a linear search
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

Value* Object::find(std::string_view key) {
  charge(items.size() / 16);
  for (auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

void Object::set(const std::string& key, Value v) {
  if (Value* p = find(key)) {
    *p = std::move(v);
  } else {
    items.emplace_back(key, std::move(v));
  }
}

std::u32string utf8_decode(std::string_view s) {
  charge_scan(2 * s.size());  // a byte at a time, into 4 bytes per character
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint8_t c = uint8_t(s[i]);
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || i + size_t(n) >= s.size() + (n == 0 ? 1 : 0)) {
      out += char32_t(c);  // invalid or truncated: keep the byte (templates see valid UTF-8)
      ++i;
      continue;
    }
    char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k <= n; ++k) cp = (cp << 6) | (uint8_t(s[i + k]) & 0x3F);
    out += cp;
    i += size_t(n) + 1;
  }
  return out;
}

std::string utf8_encode(std::u32string_view s) {
  charge_scan(2 * s.size());
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

bool Value::truthy() const {
  switch (type_) {
    case Type::Undefined:
    case Type::None: return false;
    case Type::Bool:
    case Type::Int: return i_ != 0;
    case Type::Float: return f_ != 0;
    case Type::String: return !s_.empty();
    case Type::Array: return !arr_->empty();
    case Type::Object: return obj_->is_namespace || !obj_->items.empty();
    case Type::Function: return true;
  }
  return false;
}

static std::string float_str(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", f);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

static std::string quote_repr(const std::string& s) {
  charge_scan(s.size());
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (uint8_t(c) < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", uint8_t(c));
    } else {
      out += c;
    }
  }
  return out + q;
}

std::string Value::str() const {
  switch (type_) {
    case Type::Undefined: return "";
    case Type::String: return s_;
    default: return repr();
  }
}

namespace {

// Lists and dicts are shared, so a template can make one contain itself: repr, tojson and == stop at
// kMaxValueDepth levels instead of recursing forever.
thread_local int g_value_depth = 0;
struct ValueNest {
  ValueNest() {
    if (++g_value_depth > kMaxValueDepth) {
      g_value_depth = 0;  // the error unwinds every level; the count restarts for the next call
      fail("a list or dict nested deeper than {} levels (or containing itself)", kMaxValueDepth);
    }
  }
  ~ValueNest() {
    if (g_value_depth > 0) --g_value_depth;
  }
};

}  // namespace

bool holds(const Value& v, const void* target) {
  std::vector<const Value*> todo{&v};
  uint64_t visited = 0;
  while (!todo.empty()) {
    const Value* x = todo.back();
    todo.pop_back();
    if (++visited % 16 == 0) charge(1);
    if (visited > 4 * kMaxItems) fail("a list or dict too large to check for cycles");
    if (x->is_array()) {
      if (&x->as_array() == target) return true;
      for (const Value& y : x->as_array()) todo.push_back(&y);
    } else if (x->is_object()) {
      if (&x->as_object() == target) return true;
      for (const auto& kv : x->as_object().items) todo.push_back(&kv.second);
    }
  }
  return false;
}

std::string Value::repr() const {
  ValueNest nest;
  charge(1);
  switch (type_) {
    case Type::Undefined: return "";
    case Type::None: return "None";
    case Type::Bool: return i_ ? "True" : "False";
    case Type::Int: return std::to_string(i_);
    case Type::Float: return float_str(f_);
    case Type::String: return quote_repr(s_);
    case Type::Array: {
      std::string out = tuple_ ? "(" : "[";
      for (size_t k = 0; k < arr_->size(); ++k) {
        out += (k ? ", " : "") + (*arr_)[k].repr();
        check_string_size(out.size());
      }
      if (tuple_) return out + (arr_->size() == 1 ? ",)" : ")");
      return out + "]";
    }
    case Type::Object: {
      if (obj_->is_namespace) return "<Namespace>";
      std::string out = "{";
      for (size_t k = 0; k < obj_->items.size(); ++k)
      {
        out += (k ? ", " : "") + quote_repr(obj_->items[k].first) + ": " + obj_->items[k].second.repr();
        check_string_size(out.size());
      }
      return out + "}";
    }
    case Type::Function: return "<function>";
  }
  return "";
}

std::string Value::type_name() const {
  switch (type_) {
    case Type::Undefined: return "undefined";
    case Type::None: return "none";
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return "string";
    case Type::Array: return "list";
    case Type::Object: return obj_->is_namespace ? "namespace" : "dict";
    case Type::Function: return "function";
  }
  return "?";
}

static std::string json_string(const std::string& s) {
  charge_scan(s.size());
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (uint8_t(c) < 0x20) {
          out += fmt::format("\\u{:04x}", uint8_t(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

static void json_dump(const Value& v, int indent, bool sort_keys, int depth, std::string& out) {
  ValueNest nest;
  charge(1);
  check_string_size(out.size());
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(size_t(indent) * size_t(d), ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.type()) {
    case Value::Type::Undefined:
    case Value::Type::None: out += "null"; return;
    case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Type::Int: out += std::to_string(v.as_int()); return;
    case Value::Type::Float: {
      double f = v.as_float();
      out += std::isnan(f) ? "NaN" : std::isinf(f) ? (f > 0 ? "Infinity" : "-Infinity") : float_str(f);
      return;
    }
    case Value::Type::String: out += json_string(v.as_string()); return;
    case Value::Type::Array: {
      const Array& a = v.as_array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < a.size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        json_dump(a[k], indent, sort_keys, depth + 1, out);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Value::Type::Object: {
      auto items = v.as_object().items;
      charge(items.size());
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (sort_keys)
        std::stable_sort(items.begin(), items.end(), [](auto& a, auto& b) {
          charge(1);
          return a.first < b.first;
        });
      out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        out += json_string(items[k].first) + ": ";
        json_dump(items[k].second, indent, sort_keys, depth + 1, out);
      }
      newline(depth);
      out += '}';
      return;
    }
    case Value::Type::Function: fail("tojson: a function is not JSON serializable");
  }
}

std::string Value::to_json(int indent, bool sort_keys) const {
  std::string out;
  json_dump(*this, indent, sort_keys, 0, out);
  return out;
}

bool Value::operator==(const Value& o) const {
  ValueNest nest;
  charge(1);
  if (is_number() || is_bool()) {
    if (!(o.is_number() || o.is_bool())) return false;
    if (is_float() || o.is_float()) return as_float() == o.as_float();
    return i_ == o.i_;
  }
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::Undefined:
    case Type::None: return true;
    case Type::String:
      if (s_.size() != o.s_.size()) return false;
      charge_copy(s_.size());
      return s_ == o.s_;
    case Type::Array: {
      if (arr_->size() != o.arr_->size()) return false;
      for (size_t k = 0; k < arr_->size(); ++k)
        if (!((*arr_)[k] == (*o.arr_)[k])) return false;
      return true;
    }
    case Type::Object: {
      if (obj_ == o.obj_) return true;
      if (obj_->is_namespace || o.obj_->is_namespace) return false;
      if (obj_->items.size() != o.obj_->items.size()) return false;
      for (const auto& [k, v] : obj_->items) {
        const Value* w = o.obj_->find(k);
        if (!w || !(v == *w)) return false;
      }
      return true;
    }
    case Type::Function: return fn_ == o.fn_;
    default: return false;
  }
}

}  // namespace moevk::jinja
