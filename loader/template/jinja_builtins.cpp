// Jinja filters ({{ x | name(args) }}) and tests ({% if x is name %}), with jinja2's semantics and
// HF transformers' tojson (ensure_ascii=False, optional indent and sort_keys).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <unordered_set>

#include "loader/template/jinja_ast.h"

namespace moevk::jinja {
namespace {

int64_t checked_add(int64_t a, int64_t b) {
  int64_t c;
  if (__builtin_add_overflow(a, b, &c)) fail("integer overflow in sum (integers are 64-bit here)");
  return c;
}

const Value& arg(std::vector<Value>& args, Kwargs& kwargs, size_t i, const char* name) {
  static const Value undefined;
  if (i < args.size()) return args[i];
  for (auto& [k, v] : kwargs)
    if (k == name) return v;
  return undefined;
}

// Items of an iterable: list elements, dict keys, string characters; undefined -> empty.
Array iterate(const Value& v, const char* what) {
  switch (v.type()) {
    case Value::Type::Undefined: return {};
    case Value::Type::Array: charge(v.as_array().size()); return v.as_array();
    case Value::Type::Object: {
      charge(v.as_object().items.size());
      Array out;
      for (auto& [k, x] : v.as_object().items) out.emplace_back(k);
      return out;
    }
    case Value::Type::String: {
      const std::u32string u = utf8_decode(v.as_string());
      check_items(u.size());
      charge(u.size());
      Array out;
      for (char32_t c : u) out.emplace_back(utf8_encode(std::u32string(1, c)));
      return out;
    }
    default: fail("{}: {} is not iterable", what, v.type_name());
  }
}

// Attribute lookup for selectattr/map/sort/join(attribute=...): "a.b" dotted paths, integer parts index.
Value attr_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('.', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    charge(1);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    if (cur.is_undefined()) return cur;
    cur = get_item(cur, digits ? Value(int64_t(std::stoll(part))) : Value(part));
    i = j + 1;
  }
  return cur;
}

int compare_values(const Value& a, const Value& b) {
  charge(1);
  if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool()))
    return a.as_float() < b.as_float() ? -1 : a.as_float() > b.as_float() ? 1 : 0;
  if (a.is_string() && b.is_string()) {
    charge_copy(std::min(a.as_string().size(), b.as_string().size()));
    return a.as_string().compare(b.as_string());
  }
  fail("cannot compare {} with {}", a.type_name(), b.type_name());
}

std::string html_escape(const std::string& s) {
  charge_scan(s.size());
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// jinja2's unique (case-sensitive): hashable items (strings, numbers, booleans, none) through a hash
// set, where 1, 1.0 and true are one item as in Python; lists and dicts by == against the items kept.
Value unique(const Array& items) {
  Array out;
  std::unordered_set<std::string> seen;
  for (const Value& v : items) {
    charge(1);
    std::optional<std::string> key;
    if (v.is_string()) {
      key = "s" + v.as_string();
    } else if (v.is_none()) {
      key = "0";
    } else if (v.is_int() || v.is_bool()) {
      key = "n" + std::to_string(v.as_int());
    } else if (v.is_float()) {
      const double f = v.as_float();
      key = f == std::trunc(f) && std::fabs(f) < 9.2e18 ? "n" + std::to_string(int64_t(f)) : fmt::format("f{}", f);
    }
    if (!key) {
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
      continue;
    }
    charge(3);  // a hash set insertion allocates: a few steps' time
    charge_copy(2 * key->size());
    if (seen.insert(std::move(*key)).second) out.push_back(v);
  }
  return Value(std::move(out));
}

Value select(Value& input, std::vector<Value>& args, Kwargs& kwargs, bool by_attr, bool keep) {
  Array out;
  size_t first_test_arg = by_attr ? 1 : 0;
  std::string attr;
  if (by_attr) {
    if (args.empty() || !args[0].is_string()) fail("selectattr/rejectattr need an attribute name");
    attr = args[0].as_string();
  }
  for (const Value& item : iterate(input, "select")) {
    charge(1);
    Value v = by_attr ? attr_path(item, attr) : item;
    bool ok;
    if (args.size() > first_test_arg) {
      if (!args[first_test_arg].is_string()) fail("select: test name must be a string");
      std::vector<Value> targs(args.begin() + long(first_test_arg) + 1, args.end());
      bool found = false;
      ok = apply_test(args[first_test_arg].as_string(), v, targs, found);
      if (!found) fail("unknown test '{}'", args[first_test_arg].as_string());
    } else {
      ok = v.truthy();
    }
    if (ok == keep) out.push_back(item);
  }
  return Value(std::move(out));
}

}  // namespace

Value apply_filter(const std::string& name, Value& in, std::vector<Value>& args, Kwargs& kwargs,
                   bool& found) {
  found = true;
  auto str_arg = [&](size_t i, const char* n, const char* dflt) {
    const Value& v = arg(args, kwargs, i, n);
    return v.is_undefined() ? std::string(dflt) : v.str();
  };
  if (name == "trim") {
    std::vector<Value> a;
    if (const Value& c = arg(args, kwargs, 0, "chars"); !c.is_undefined()) a.push_back(c);
    Kwargs none;
    Value s(in.str());
    return get_attr(s, "strip").as_function()(a, none);
  }
  if (name == "length" || name == "count") {
    if (in.is_string()) return Value(int64_t(utf8_decode(in.as_string()).size()));
    if (in.is_array()) return Value(int64_t(in.as_array().size()));
    if (in.is_object()) return Value(int64_t(in.as_object().items.size()));
    if (in.is_undefined()) return Value(int64_t(0));
    fail("length of a {} is not defined", in.type_name());
  }
  if (name == "tojson") {
    const Value& indent = arg(args, kwargs, 1, "indent");
    const Value& sort_keys = arg(args, kwargs, 4, "sort_keys");
    if (indent.is_int() && indent.as_int() > 64) fail("tojson indent {} is larger than 64", indent.as_int());
    return Value(in.to_json(indent.is_int() ? int(std::max<int64_t>(indent.as_int(), -1)) : -1, sort_keys.truthy()));
  }
  if (name == "items") {
    if (in.is_undefined()) return Value(Array{});
    if (!in.is_object()) fail("items expects a dict, got {}", in.type_name());
    charge(in.as_object().items.size());
    Array out;
    for (auto& [k, v] : in.as_object().items) out.push_back(Value::tuple(Array{Value(k), v}));
    return Value(std::move(out));
  }
  if (name == "string") {
    if (in.is_string()) charge_copy(in.as_string().size());
    return Value(in.str());
  }
  if (name == "safe") return in;
  if (name == "e" || name == "escape") return Value(html_escape(in.str()));
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    std::vector<Value> a;
    Kwargs none;
    Value s(in.str());
    return get_attr(s, name).as_function()(a, none);
  }
  if (name == "replace") {
    Value s(in.str());
    return get_attr(s, "replace").as_function()(args, kwargs);
  }
  if (name == "first" || name == "last") {
    Array items = iterate(in, name.c_str());
    if (items.empty()) return Value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "default" || name == "d") {
    bool boolean = arg(args, kwargs, 1, "boolean").truthy();
    if (in.is_undefined() || (boolean && !in.truthy())) {
      const Value& d = arg(args, kwargs, 0, "default_value");
      return d.is_undefined() ? Value("") : d;
    }
    return in;
  }
  if (name == "join") {
    std::string sep = str_arg(0, "d", "");
    const Value& attr = arg(args, kwargs, 1, "attribute");
    std::string out;
    Array items = iterate(in, "join");
    for (size_t k = 0; k < items.size(); ++k) {
      const std::string piece = (attr.is_undefined() ? items[k] : attr_path(items[k], attr.str())).str();
      check_string_size(out.size() + (k ? sep.size() : 0) + piece.size());
      charge(1);
      charge_copy(2 * (sep.size() + piece.size()));
      if (k) out += sep;
      out += piece;
    }
    return Value(out);
  }
  if (name == "selectattr" || name == "rejectattr") return select(in, args, kwargs, true, name[0] == 's');
  if (name == "select" || name == "reject") return select(in, args, kwargs, false, name[0] == 's');
  if (name == "map") {
    Array out;
    const Value& attr = arg(args, kwargs, 99, "attribute");
    for (Value& item : iterate(in, "map")) {
      charge(1);
      if (!attr.is_undefined()) {
        Value v = attr_path(item, attr.str());
        const Value& d = arg(args, kwargs, 99, "default");
        out.push_back(v.is_undefined() && !d.is_undefined() ? d : v);
      } else {
        if (args.empty() || !args[0].is_string()) fail("map needs a filter name or attribute=");
        std::vector<Value> fargs(args.begin() + 1, args.end());
        Kwargs fk;
        bool f = false;
        out.push_back(apply_filter(args[0].as_string(), item, fargs, fk, f));
        if (!f) fail("unknown filter '{}'", args[0].as_string());
      }
    }
    return Value(std::move(out));
  }
  if (name == "list") return Value(iterate(in, "list"));
  if (name == "reverse") {
    if (in.is_string()) {
      std::u32string u = utf8_decode(in.as_string());
      std::reverse(u.begin(), u.end());
      return Value(utf8_encode(u));
    }
    Array items = iterate(in, "reverse");
    charge(items.size());
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
  }
  if (name == "sort") {
    Array items = iterate(in, "sort");
    bool rev = arg(args, kwargs, 0, "reverse").truthy();
    const Value& attr = arg(args, kwargs, 2, "attribute");
    auto key = [&](const Value& v) { return attr.is_undefined() ? v : attr_path(v, attr.str()); };
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      return rev ? compare_values(key(b), key(a)) < 0 : compare_values(key(a), key(b)) < 0;
    });
    return Value(std::move(items));
  }
  if (name == "unique") return unique(iterate(in, "unique"));
  if (name == "min" || name == "max") {
    Array items = iterate(in, name.c_str());
    if (items.empty()) return Value();
    Value best = items[0];
    for (const Value& v : items) {  // the first of equal items wins, as in Python
      const int c = compare_values(v, best);
      if (name == "min" ? c < 0 : c > 0) best = v;
    }
    return best;
  }
  if (name == "sum") {
    Value total(int64_t(0));
    for (const Value& v : iterate(in, "sum")) {
      charge(1);
      if (!v.is_number() && !v.is_bool()) fail("sum of a {}", v.type_name());
      total = total.is_float() || v.is_float() ? Value(total.as_float() + v.as_float())
                                               : Value(checked_add(total.as_int(), v.as_int()));
    }
    return total;
  }
  if (name == "int") {
    if (in.is_int() || in.is_bool()) return Value(in.as_int());
    if (in.is_float()) {
      const double f = std::trunc(in.as_float());
      if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
        fail("int: {} does not fit a 64-bit integer", in.repr());
      return Value(int64_t(f));
    }
    if (in.is_string()) {
      try {
        return Value(int64_t(std::stoll(in.as_string())));
      } catch (const std::exception&) {
      }
    }
    const Value& d = arg(args, kwargs, 0, "default");
    return d.is_undefined() ? Value(int64_t(0)) : d;
  }
  if (name == "float") {
    if (in.is_number() || in.is_bool()) return Value(in.as_float());
    if (in.is_string()) {
      try {
        return Value(std::stod(in.as_string()));
      } catch (const std::exception&) {
      }
    }
    const Value& d = arg(args, kwargs, 0, "default");
    return d.is_undefined() ? Value(0.0) : d;
  }
  if (name == "abs") {
    if (in.is_float()) return Value(std::fabs(in.as_float()));
    if (in.is_int() || in.is_bool()) {
      if (in.as_int() == INT64_MIN) fail("integer overflow in abs");
      return Value(in.as_int() < 0 ? -in.as_int() : in.as_int());
    }
    fail("abs of a {}", in.type_name());
  }
  if (name == "round") {
    const Value& p = arg(args, kwargs, 0, "precision");
    double scale = std::pow(10.0, p.is_int() ? double(p.as_int()) : 0.0);
    return Value(std::nearbyint(in.as_float() * scale) / scale);
  }
  if (name == "indent") {
    const Value& w = arg(args, kwargs, 0, "width");
    if (w.is_int() && (w.as_int() < 0 || w.as_int() > 1024)) fail("indent width {} is outside 0..1024", w.as_int());
    std::string pad = w.is_string() ? w.as_string() : std::string(w.is_int() ? size_t(w.as_int()) : 4, ' ');
    bool first = arg(args, kwargs, 1, "first").truthy();
    bool blank = arg(args, kwargs, 2, "blank").truthy();
    std::string s = in.str(), out;
    size_t i = 0;
    for (bool line0 = true;; line0 = false) {
      size_t j = s.find('\n', i);
      std::string line = s.substr(i, j == std::string::npos ? std::string::npos : j - i);
      charge(1);
      charge_copy(2 * (line.size() + pad.size()));
      if ((!line0 || first) && (blank || !line.empty())) out += pad;
      out += line;
      check_string_size(out.size());
      if (j == std::string::npos) break;
      out += '\n';
      i = j + 1;
    }
    return Value(out);
  }
  if (name == "dictsort") {
    if (!in.is_object()) fail("dictsort expects a dict");
    auto items = in.as_object().items;
    charge(items.size());
    std::stable_sort(items.begin(), items.end(), [](auto& a, auto& b) {
      charge(1);
      return a.first < b.first;
    });
    Array out;
    for (auto& [k, v] : items) out.push_back(Value::tuple(Array{Value(k), v}));
    return Value(std::move(out));
  }
  if (name == "wordcount") {
    std::vector<Value> a;
    Kwargs none;
    Value s(in.str());
    return Value(int64_t(get_attr(s, "split").as_function()(a, none).as_array().size()));
  }
  found = false;
  return Value();
}

bool apply_test(const std::string& name, const Value& v, std::vector<Value>& args, bool& found) {
  found = true;
  Kwargs none;
  auto a0 = [&]() -> const Value& { return arg(args, none, 0, "other"); };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_object() && !v.as_object().is_namespace;
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_array() || v.is_object();
  if (name == "sequence") return v.is_string() || v.is_array() || v.is_object();
  if (name == "number") return v.is_number() || v.is_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "callable") return v.is_function();
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    for (char c : v.as_string())
      if (name == "lower" ? std::isupper(uint8_t(c)) : std::islower(uint8_t(c))) return false;
    return true;
  }
  if (name == "even" || name == "odd") {
    if (!v.is_int()) fail("{} test needs an integer", name);
    return (v.as_int() % 2 == 0) == (name == "even");
  }
  if (name == "divisibleby") {
    if (!v.is_int() || !a0().is_int() || a0().as_int() == 0) fail("divisibleby needs non-zero integers");
    return a0().as_int() == -1 || v.as_int() % a0().as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return v == a0();
  if (name == "ne" || name == "!=") return !(v == a0());
  if (name == "lt" || name == "<") return compare_values(v, a0()) < 0;
  if (name == "le" || name == "<=") return compare_values(v, a0()) <= 0;
  if (name == "gt" || name == ">") return compare_values(v, a0()) > 0;
  if (name == "ge" || name == ">=") return compare_values(v, a0()) >= 0;
  if (name == "sameas") {
    const Value& o = a0();
    if (v.type() != o.type()) return false;
    if (v.is_array() || v.is_object() || v.is_function()) return &v == &o || v == o;
    return v == o;
  }
  if (name == "in") {
    const Value& c = a0();
    if (c.is_string()) {
      charge_copy(c.as_string().size());
      return v.is_string() && c.as_string().find(v.as_string()) != std::string::npos;
    }
    for (const Value& x : iterate(c, "in"))
      if (x == v) return true;
    return false;
  }
  found = false;
  return false;
}

}  // namespace moevk::jinja
