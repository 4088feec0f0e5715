// Attribute and item access, slicing, and the Python str/dict/list methods templates call
// (message.content.startswith('x'), tool.parameters.properties.items(), ...).
#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "loader/template/jinja_ast.h"

namespace moevk::jinja {
namespace {

bool is_ws(char32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

const Value& arg(std::vector<Value>& args, Kwargs& kwargs, size_t i, const char* name) {
  static const Value undefined;
  if (i < args.size()) return args[i];
  for (auto& [k, v] : kwargs)
    if (k == name) return v;
  return undefined;
}

std::string need_string(const Value& v, const char* what) {
  if (!v.is_string()) fail("{} expects a string, got {}", what, v.type_name());
  return v.as_string();
}

// Python str.strip/lstrip/rstrip with optional chars.
std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  std::u32string u = utf8_decode(s);
  std::u32string set = chars.is_string() ? utf8_decode(chars.as_string()) : std::u32string();
  auto strip_it = [&](char32_t c) {
    return chars.is_string() ? set.find(c) != std::u32string::npos : is_ws(c);
  };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && strip_it(u[b])) ++b;
  if (right)
    while (e > b && strip_it(u[e - 1])) --e;
  return utf8_encode(std::u32string_view(u).substr(b, e - b));
}

Array split(const std::string& s, const Value& sep, const Value& maxsplit) {
  int64_t limit = maxsplit.is_int() ? maxsplit.as_int() : -1;
  charge_scan(s.size());  // a pass over the string, and a step per piece below
  Array out;
  if (sep.is_undefined() || sep.is_none()) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && is_ws(char32_t(uint8_t(s[i])))) ++i;
      if (i >= s.size()) break;
      if (limit >= 0 && int64_t(out.size()) == limit) {
        size_t e = s.size();
        while (e > i && is_ws(char32_t(uint8_t(s[e - 1])))) --e;
        out.emplace_back(s.substr(i, e - i));
        break;
      }
      size_t j = i;
      while (j < s.size() && !is_ws(char32_t(uint8_t(s[j])))) ++j;
      check_items(out.size() + 1);
      charge(1);
      out.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  std::string d = need_string(sep, "split");
  if (d.empty()) fail("split: empty separator");
  size_t i = 0;
  for (;;) {
    size_t j = s.find(d, i);
    if (j == std::string::npos || (limit >= 0 && int64_t(out.size()) == limit)) {
      out.emplace_back(s.substr(i));
      return out;
    }
    check_items(out.size() + 1);
    charge(1);
    out.emplace_back(s.substr(i, j - i));
    i = j + d.size();
  }
}

std::string replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  charge_copy(s.size());
  std::string out;
  size_t i = 0;
  int64_t n = 0;
  if (from.empty()) {
    // Python inserts `to` between every character (and at both ends).
    std::u32string u = utf8_decode(s);
    for (size_t k = 0; k <= u.size(); ++k) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      if (k < u.size()) out += utf8_encode(std::u32string(1, u[k]));
      check_string_size(out.size());
      charge(1);
      charge_copy(to.size());
    }
    return out;
  }
  for (;;) {
    size_t j = s.find(from, i);
    if (j == std::string::npos || (count >= 0 && n >= count)) break;
    out.append(s, i, j - i);
    out += to;
    check_string_size(out.size());
    charge(1);
    charge_copy(j - i + to.size());
    i = j + from.size();
    ++n;
  }
  out.append(s, i);
  return out;
}

std::string change_case(const std::string& s, int mode) {  // 0 lower, 1 upper, 2 title, 3 capitalize
  charge_scan(s.size());
  std::string out = s;
  bool word_start = true;
  for (size_t k = 0; k < out.size(); ++k) {
    char c = out[k];
    bool alpha = std::isalpha(uint8_t(c));
    bool up = mode == 1 || (mode == 2 && word_start) || (mode == 3 && k == 0);
    if (alpha) out[k] = char(up ? std::toupper(uint8_t(c)) : std::tolower(uint8_t(c)));
    if (mode == 2) word_start = !alpha;
  }
  return out;
}

Value string_method(const std::string& s, const std::string& name, std::vector<Value>& a, Kwargs& kw) {
  if (name == "startswith" || name == "endswith") {
    const Value& p = arg(a, kw, 0, "prefix");
    auto test = [&](const std::string& x) {
      charge(1);
      if (x.size() > s.size()) return false;
      charge_copy(x.size());
      return name == "startswith" ? s.compare(0, x.size(), x) == 0
                                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
    };
    if (p.is_array()) {
      for (const Value& x : p.as_array())
        if (test(need_string(x, name.c_str()))) return Value(true);
      return Value(false);
    }
    return Value(test(need_string(p, name.c_str())));
  }
  if (name == "strip") return Value(strip(s, arg(a, kw, 0, "chars"), true, true));
  if (name == "lstrip") return Value(strip(s, arg(a, kw, 0, "chars"), true, false));
  if (name == "rstrip") return Value(strip(s, arg(a, kw, 0, "chars"), false, true));
  if (name == "split") return Value(split(s, arg(a, kw, 0, "sep"), arg(a, kw, 1, "maxsplit")));
  if (name == "replace") {
    const Value& c = arg(a, kw, 2, "count");
    return Value(replace(s, need_string(arg(a, kw, 0, "old"), "replace"),
                         need_string(arg(a, kw, 1, "new"), "replace"), c.is_int() ? c.as_int() : -1));
  }
  if (name == "lower") return Value(change_case(s, 0));
  if (name == "upper") return Value(change_case(s, 1));
  if (name == "title") return Value(change_case(s, 2));
  if (name == "capitalize") return Value(change_case(s, 3));
  if (name == "find" || name == "count") {
    std::string x = need_string(arg(a, kw, 0, "sub"), name.c_str());
    charge_copy(s.size());
    if (name == "find") {
      size_t j = s.find(x);
      return Value(j == std::string::npos ? int64_t(-1) : int64_t(utf8_decode(s.substr(0, j)).size()));
    }
    int64_t n = 0;
    if (x.empty()) return Value(int64_t(utf8_decode(s).size() + 1));
    for (size_t j = s.find(x); j != std::string::npos; j = s.find(x, j + x.size())) {
      ++n;
      if (n % 16 == 0) charge(1);
    }
    return Value(n);
  }
  if (name == "join") {
    const Value& it = arg(a, kw, 0, "iterable");
    if (!it.is_array()) fail("join expects a list");
    std::string out;
    for (size_t k = 0; k < it.as_array().size(); ++k) {
      const std::string piece = it.as_array()[k].str();
      check_string_size(out.size() + (k ? s.size() : 0) + piece.size());
      charge(1);
      charge_copy(2 * (s.size() + piece.size()));
      if (k) out += s;
      out += piece;
    }
    return Value(out);
  }
  fail("unknown string method '{}'", name);
}

Value object_method(const Value& self, const std::string& name, std::vector<Value>& a, Kwargs& kw) {
  Object& o = self.as_object();
  if (name == "items" || name == "keys" || name == "values") {
    charge(o.items.size());
    Array out;
    for (auto& [k, v] : o.items) {
      if (name == "items") out.push_back(Value::tuple(Array{Value(k), v}));
      else if (name == "keys") out.emplace_back(k);
      else out.push_back(v);
    }
    return Value(std::move(out));
  }
  if (name == "get") {
    const Value& key = arg(a, kw, 0, "key");
    const Value* v = key.is_string() ? o.find(key.as_string()) : nullptr;
    if (v) return *v;
    const Value& d = arg(a, kw, 1, "default");
    return d.is_undefined() ? Value(nullptr) : d;
  }
  fail("unknown dict method '{}'", name);
}

Value array_method(const Value& self, const std::string& name, std::vector<Value>& a, Kwargs& kw) {
  Array& arr = self.as_array();
  if (name == "append") {
    check_items(arr.size() + 1);
    const Value& x = arg(a, kw, 0, "object");
    charge(arr.size() / 16);  // list_bytes walks the list
    check_list_bytes(list_bytes(arr), sizeof(Value) + (x.is_string() ? x.as_string().size() : 0), 1);
    if (holds(arg(a, kw, 0, "object"), &arr)) fail("append would make a list containing itself");
    arr.push_back(arg(a, kw, 0, "object"));
    return Value(nullptr);
  }
  if (name == "pop") {
    if (arr.empty()) fail("pop from empty list");
    const Value& i = arg(a, kw, 0, "index");
    int64_t k = i.is_int() ? i.as_int() : -1;
    if (k < 0) k += int64_t(arr.size());
    if (k < 0 || k >= int64_t(arr.size())) fail("pop index out of range");
    Value v = arr[size_t(k)];
    charge((arr.size() - size_t(k)) / 16);  // the items after it move
    arr.erase(arr.begin() + k);
    return v;
  }
  if (name == "index" || name == "count") {
    const Value& x = arg(a, kw, 0, "value");
    int64_t n = 0;
    for (size_t k = 0; k < arr.size(); ++k) {
      if (!(arr[k] == x)) continue;
      if (name == "index") return Value(int64_t(k));
      ++n;
    }
    if (name == "index") fail("value is not in list");
    return Value(n);
  }
  fail("unknown list method '{}'", name);
}

const std::set<std::string> kStringMethods = {"startswith", "endswith", "strip", "lstrip", "rstrip",
                                              "split", "replace", "lower", "upper", "title",
                                              "capitalize", "find", "count", "join"};
const std::set<std::string> kObjectMethods = {"items", "keys", "values", "get"};
const std::set<std::string> kArrayMethods = {"append", "pop", "index", "count"};

Value bind(const Value& self, const std::string& name) {
  return Value::function([self, name](std::vector<Value>& a, Kwargs& kw) -> Value {
    if (self.is_string()) return string_method(self.as_string(), name, a, kw);
    if (self.is_object()) return object_method(self, name, a, kw);
    return array_method(self, name, a, kw);
  });
}

int64_t norm_index(int64_t i, size_t n) { return i < 0 ? i + int64_t(n) : i; }

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::Undefined: fail("cannot read attribute '{}' of an undefined value", name);
    case Value::Type::String:
      return kStringMethods.count(name) ? bind(obj, name) : Value();
    case Value::Type::Object: {
      // jinja2 tries getattr() first: dict methods win over keys of the same name.
      if (!obj.as_object().is_namespace && kObjectMethods.count(name)) return bind(obj, name);
      const Value* v = obj.as_object().find(name);
      return v ? *v : Value();
    }
    case Value::Type::Array:
      return kArrayMethods.count(name) ? bind(obj, name) : Value();
    default:
      return Value();
  }
}

Value get_item(const Value& obj, const Value& key) {
  switch (obj.type()) {
    case Value::Type::Undefined: fail("cannot index an undefined value with {}", key.repr());
    case Value::Type::Object: {
      if (!key.is_string()) return Value();
      const Value* v = obj.as_object().find(key.as_string());
      if (v) return *v;
      return get_attr(obj, key.as_string());  // jinja2 falls back to getattr()
    }
    case Value::Type::Array: {
      if (key.is_string()) return get_attr(obj, key.as_string());
      if (!key.is_int() && !key.is_bool()) return Value();
      const Array& a = obj.as_array();
      int64_t i = norm_index(key.as_int(), a.size());
      return i >= 0 && i < int64_t(a.size()) ? a[size_t(i)] : Value();
    }
    case Value::Type::String: {
      if (key.is_string()) return get_attr(obj, key.as_string());
      if (!key.is_int()) return Value();
      std::u32string u = utf8_decode(obj.as_string());  // charged: s[i] in a loop is quadratic
      int64_t i = norm_index(key.as_int(), u.size());
      return i >= 0 && i < int64_t(u.size()) ? Value(utf8_encode(std::u32string(1, u[size_t(i)]))) : Value();
    }
    default:
      return Value();
  }
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step_v) {
  auto as_opt = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int()) fail("slice {} must be an integer, got {}", what, v.type_name());
    return v.as_int();
  };
  int64_t step = as_opt(step_v, "step").value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  auto indices = [&](size_t n) {
    // Python's slice.indices(n).
    int64_t len = int64_t(n);
    auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
      if (!v) return dflt;
      int64_t x = *v < 0 ? *v + len : *v;
      if (step > 0) return std::clamp<int64_t>(x, 0, len);
      return std::clamp<int64_t>(x, -1, len - 1);
    };
    int64_t b = clamp(as_opt(start, "start"), step > 0 ? 0 : len - 1);
    int64_t e = clamp(as_opt(stop, "stop"), step > 0 ? len : -1);
    std::vector<size_t> idx;
    for (int64_t i = b; step > 0 ? i < e : i > e;) {
      idx.push_back(size_t(i));
      if (__builtin_add_overflow(i, step, &i)) break;
    }
    return idx;
  };
  if (obj.is_array()) {
    Array out;
    const std::vector<size_t> idx = indices(obj.as_array().size());
    charge(idx.size());
    for (size_t i : idx) out.push_back(obj.as_array()[i]);
    return Value(std::move(out));
  }
  if (obj.is_string()) {
    std::u32string u = utf8_decode(obj.as_string()), out;
    const std::vector<size_t> idx = indices(u.size());
    charge_scan(4 * idx.size());
    for (size_t i : idx) out += u[i];
    return Value(utf8_encode(out));
  }
  fail("cannot slice a {}", obj.type_name());
}

}  // namespace moevk::jinja
