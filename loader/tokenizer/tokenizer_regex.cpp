#include "loader/tokenizer/tokenizer_regex.h"

#include <utility>

#include "loader/error.h"
#include "loader/tokenizer/unicode.h"

namespace moevk::tok {

namespace {

// Markers that stand for non-ASCII code points in collapsed text (outside the Unicode range).
constexpr uint32_t kMarkOther = 0x110000;
constexpr uint32_t kMarkNumber = 0x110001;
constexpr uint32_t kMarkLetter = 0x110002;
constexpr uint32_t kMarkPunct = 0x110003;
constexpr uint32_t kMarkMark = 0x110004;
constexpr uint32_t kMarkSymbol = 0x110005;
constexpr uint32_t kVerticalTab = 0x0B;

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

// The ASCII members of each category, as llama.cpp lists them for collapsed matching.
void add_category(Ranges& r, char cat, std::string_view pattern) {
  auto add = [&](uint32_t a, uint32_t b) { r.emplace_back(a, b); };
  switch (cat) {
    case 'N':
      add(kMarkNumber, kMarkNumber), add('0', '9');
      break;
    case 'L':
      add(kMarkLetter, kMarkLetter), add('A', 'Z'), add('a', 'z');
      break;
    case 'P':
      add(kMarkPunct, kMarkPunct), add('!', '#'), add('%', '*'), add(',', '/'), add(':', ';');
      add('?', '@'), add('[', ']'), add('_', '_'), add('{', '{'), add('}', '}');
      break;
    case 'M':
      add(kMarkMark, kMarkMark);
      break;
    case 'S':
      add(kMarkSymbol, kMarkSymbol), add('$', '$'), add('+', '+'), add('<', '>'), add('^', '^');
      add('`', '`'), add('|', '|'), add('~', '~');
      break;
    default:
      fail("regex '{}': unsupported category \\p{{{}}}", pattern, cat);
  }
}

struct Node {
  enum Kind { kClass, kSeq, kAlt, kRepeat, kLook, kEnd } kind = kClass;
  Ranges ranges;         // kClass
  bool negated = false;  // kClass: [^...]; kLook: (?!...)
  std::vector<int> kids;
  int min = 0, max = 0;  // kRepeat; max < 0: unbounded
};

class Parser {
 public:
  Parser(std::string_view pattern, std::vector<Node>& nodes)
      : src_(pattern), cps_(unicode::decode_utf8(pattern)), nodes_(nodes) {}

  int parse() {
    const int root = parse_alt();
    if (pos_ != cps_.size()) error("unexpected ')'");
    return root;
  }

 private:
  [[noreturn]] void error(std::string_view what) {
    fail("regex '{}': {} at code point {}", src_, what, pos_);
  }
  bool at_end() const { return pos_ >= cps_.size(); }
  uint32_t peek() const { return at_end() ? 0 : cps_[pos_]; }
  bool eat(uint32_t c) {
    if (!at_end() && cps_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  int add(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size()) - 1;
  }

  int parse_alt() {
    std::vector<int> branches{parse_seq()};
    while (eat('|')) branches.push_back(parse_seq());
    if (branches.size() == 1) return branches[0];
    Node n;
    n.kind = Node::kAlt;
    n.kids = std::move(branches);
    return add(std::move(n));
  }

  int parse_seq() {
    std::vector<int> items;
    while (!at_end() && peek() != '|' && peek() != ')') items.push_back(parse_quantified());
    if (items.size() == 1) return items[0];
    Node n;
    n.kind = Node::kSeq;
    n.kids = std::move(items);
    return add(std::move(n));
  }

  int parse_number() {
    if (at_end() || peek() < '0' || peek() > '9') error("expected a number");
    int v = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9')
      v = v * 10 + static_cast<int>(cps_[pos_++] - '0');
    return v;
  }

  int parse_quantified() {
    int atom = parse_atom();
    for (;;) {
      int mn, mx;
      if (eat('*')) {
        mn = 0, mx = -1;
      } else if (eat('+')) {
        mn = 1, mx = -1;
      } else if (eat('?')) {
        mn = 0, mx = 1;
      } else if (eat('{')) {
        mn = parse_number();
        mx = mn;
        if (eat(',')) mx = peek() == '}' ? -1 : parse_number();
        if (!eat('}')) error("expected '}'");
      } else {
        return atom;
      }
      if (peek() == '?' || peek() == '+') error("lazy/possessive quantifiers are not supported");
      Node n;
      n.kind = Node::kRepeat;
      n.kids = {atom};
      n.min = mn, n.max = mx;
      atom = add(std::move(n));
    }
  }

  int parse_atom() {
    const uint32_t c = cps_[pos_++];
    if (c == '(') {
      Node look;
      look.kind = Node::kLook;
      bool is_look = false;
      if (eat('?')) {
        if (eat(':')) {
        } else if (eat('=')) {
          is_look = true;
        } else if (eat('!')) {
          is_look = true, look.negated = true;
        } else {
          error("unsupported group kind");
        }
      }
      const int inner = parse_alt();
      if (!eat(')')) error("expected ')'");
      if (!is_look) return inner;
      look.kids = {inner};
      return add(std::move(look));
    }
    if (c == '[') return parse_class();
    if (c == '$') {
      Node n;
      n.kind = Node::kEnd;
      return add(std::move(n));
    }
    if (c == '.') {
      Node n;
      n.negated = true;
      n.ranges = {{'\n', '\n'}, {'\r', '\r'}};
      return add(std::move(n));
    }
    if (c == ')' || c == '*' || c == '+' || c == '?' || c == '{' || c == '|') {
      --pos_;
      error("unexpected operator");
    }
    Node n;
    if (c == '\\') {
      bool neg = false;
      parse_escape(n.ranges, &neg);
      n.negated = neg;
    } else {
      n.ranges = {{c, c}};
    }
    return add(std::move(n));
  }

  // After a backslash: appends the escape's ranges. `negated` (outside classes only) is set for
  // \S \D.
  void parse_escape(Ranges& r, bool* negated) {
    if (at_end()) error("trailing backslash");
    const uint32_t e = cps_[pos_++];
    switch (e) {
      case 's':
        r.emplace_back(0x09, 0x0D), r.emplace_back(' ', ' ');
        return;
      case 'd':
        r.emplace_back('0', '9');
        return;
      case 'S':
      case 'D':
        if (!negated) error("\\S or \\D inside a class is not supported");
        *negated = true;
        if (e == 'S')
          r.emplace_back(0x09, 0x0D), r.emplace_back(' ', ' ');
        else
          r.emplace_back('0', '9');
        return;
      case 'r':
        r.emplace_back('\r', '\r');
        return;
      case 'n':
        r.emplace_back('\n', '\n');
        return;
      case 't':
        r.emplace_back('\t', '\t');
        return;
      case 'v':
        r.emplace_back(0x0B, 0x0B);
        return;
      case 'f':
        r.emplace_back(0x0C, 0x0C);
        return;
      case 'p': {
        if (!eat('{') || at_end()) error("expected \\p{X}");
        const uint32_t cat = cps_[pos_++];
        if (!eat('}')) error("only one-letter categories \\p{X} are supported");
        add_category(r, static_cast<char>(cat), src_);
        return;
      }
      default:
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
          error("unsupported escape");
        r.emplace_back(e, e);  // an escaped punctuation character stands for itself
    }
  }

  // Reads one class member that can start a range: a literal or a single-character escape.
  // Returns false (and appends the ranges) for a multi-character escape such as \s or \p{L}.
  bool class_char(Ranges& r, uint32_t& out) {
    const uint32_t c = cps_[pos_++];
    if (c != '\\') {
      out = c;
      return true;
    }
    Ranges tmp;
    parse_escape(tmp, nullptr);
    if (tmp.size() == 1 && tmp[0].first == tmp[0].second && cps_[pos_ - 1] != '}' &&
        cps_[pos_ - 1] != 'd') {
      out = tmp[0].first;
      return true;
    }
    r.insert(r.end(), tmp.begin(), tmp.end());
    return false;
  }

  int parse_class() {
    Node n;
    n.negated = eat('^');
    while (!at_end() && peek() != ']') {
      uint32_t lo;
      if (!class_char(n.ranges, lo)) continue;
      if (peek() == '-' && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != ']') {
        ++pos_;
        uint32_t hi;
        if (!class_char(n.ranges, hi)) error("class range ends in a class escape");
        if (hi < lo) error("reversed class range");
        n.ranges.emplace_back(lo, hi);
      } else {
        n.ranges.emplace_back(lo, lo);
      }
    }
    if (!eat(']')) error("expected ']'");
    return add(std::move(n));
  }

  std::string_view src_;
  std::vector<uint32_t> cps_;
  std::vector<Node>& nodes_;
  size_t pos_ = 0;
};

// A non-allocating reference to a continuation `bool(size_t end)`.
struct Cont {
  bool (*fn)(const void*, size_t);
  const void* ctx;
  bool operator()(size_t i) const { return fn(ctx, i); }
};
template <typename F>
Cont make_cont(const F& f) {
  return {[](const void* c, size_t i) { return (*static_cast<const F*>(c))(i); }, &f};
}

}  // namespace

struct Regex::Impl {
  std::string pattern;
  std::vector<Node> nodes;
  std::vector<char> single;  // per node: always consumes exactly one code point, no backtracking
  int root = 0;
  bool collapsed = false;
  // When the pattern starts with an unbounded repeat X+ or X{m,} (m >= 1) of a `single` X, as
  // \s+$ does: that X. See Regex::search.
  int leading_run = -1;

  bool compute_single(int id) const {
    const Node& nd = nodes[id];
    if (nd.kind == Node::kClass) return true;
    if (nd.kind != Node::kSeq) return false;
    int consumers = 0;
    for (int k : nd.kids) {
      if (nodes[k].kind == Node::kLook) {
        if (!single[nodes[k].kids[0]]) return false;
      } else {
        if (!single[k]) return false;
        ++consumers;
      }
    }
    return consumers == 1;
  }
};

namespace {

// One search over one text: the backtracking matcher (continuation-passing).
struct Matcher {
  const std::vector<Node>& nodes;
  const std::vector<char>& single;
  const uint32_t* text;
  size_t n;

  static bool class_has(const Node& nd, uint32_t c) {
    bool in = false;
    for (const auto& [a, b] : nd.ranges) {
      if (c >= a && c <= b) {
        in = true;
        break;
      }
    }
    return in != nd.negated;
  }

  // For a `single` node: does it match text[i]?
  bool test_single(int id, size_t i) const {
    const Node& nd = nodes[id];
    if (nd.kind == Node::kClass) return i < n && class_has(nd, text[i]);
    for (int k : nd.kids) {
      const Node& kid = nodes[k];
      if (kid.kind == Node::kLook) {
        if (test_single(kid.kids[0], i) == kid.negated) return false;
      } else if (!test_single(k, i)) {
        return false;
      }
    }
    return true;
  }

  bool match(int id, size_t i, Cont k) const {
    const Node& nd = nodes[id];
    switch (nd.kind) {
      case Node::kClass:
        return i < n && class_has(nd, text[i]) && k(i + 1);
      case Node::kEnd:
        return i == n && k(i);
      case Node::kAlt:
        for (int kid : nd.kids)
          if (match(kid, i, k)) return true;
        return false;
      case Node::kSeq:
        return match_seq(nd, 0, i, k);
      case Node::kLook: {
        const auto accept = [](size_t) { return true; };
        const bool found = match(nd.kids[0], i, make_cont(accept));
        return found != nd.negated && k(i);
      }
      case Node::kRepeat: {
        const int kid = nd.kids[0];
        const size_t max = nd.max < 0 ? SIZE_MAX : static_cast<size_t>(nd.max);
        if (single[kid]) {
          size_t count = 0;
          while (count < max && test_single(kid, i + count)) ++count;
          for (size_t c = count + 1; c-- > static_cast<size_t>(nd.min);)
            if (k(i + c)) return true;
          return false;
        }
        return match_repeat(nd, 0, i, k);
      }
    }
    return false;
  }

  bool match_seq(const Node& nd, size_t idx, size_t i, Cont k) const {
    if (idx == nd.kids.size()) return k(i);
    const auto next = [&](size_t j) { return match_seq(nd, idx + 1, j, k); };
    return match(nd.kids[idx], i, make_cont(next));
  }

  bool match_repeat(const Node& nd, size_t count, size_t i, Cont k) const {
    const size_t min = static_cast<size_t>(nd.min);
    if (nd.max < 0 || count < static_cast<size_t>(nd.max)) {
      const auto next = [&](size_t j) {
        if (j == i && count >= min) return false;  // an empty iteration ends the loop
        return match_repeat(nd, count + 1, j, k);
      };
      if (match(nd.kids[0], i, make_cont(next))) return true;
    }
    return count >= min && k(i);
  }
};

}  // namespace

Regex::Regex(std::string_view pattern) : impl_(std::make_unique<Impl>()) {
  impl_->pattern = std::string(pattern);
  for (const char* cat : {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}"})
    if (pattern.find(cat) != std::string_view::npos) impl_->collapsed = true;
  Parser parser(impl_->pattern, impl_->nodes);
  impl_->root = parser.parse();
  impl_->single.assign(impl_->nodes.size(), 0);
  // Children are always created before their parents, so one forward pass suffices.
  for (size_t id = 0; id < impl_->nodes.size(); ++id)
    impl_->single[id] = impl_->compute_single(static_cast<int>(id));

  const std::vector<Node>& nodes = impl_->nodes;
  int first = impl_->root;
  if (nodes[first].kind == Node::kSeq) first = nodes[first].kids[0];
  const Node& lead = nodes[first];
  if (lead.kind == Node::kRepeat && lead.min >= 1 && lead.max < 0 && impl_->single[lead.kids[0]])
    impl_->leading_run = lead.kids[0];
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

bool Regex::uses_categories() const { return impl_->collapsed; }

bool Regex::search(const uint32_t* text, size_t n, size_t from, size_t& match_pos,
                   size_t& match_len) const {
  const Matcher m{impl_->nodes, impl_->single, text, n};
  const int run = impl_->leading_run;
  for (size_t start = from; start < n; ++start) {
    size_t end = 0;
    const auto accept = [&](size_t j) {
      if (j == start) return false;
      end = j;
      return true;
    };
    if (m.match(impl_->root, start, make_cont(accept))) {
      match_pos = start;
      match_len = end - start;
      return true;
    }
    // A pattern that starts with an unbounded run of X: from a later start inside the same run of
    // X the candidate ends are a subset of the ones that just failed, and what follows the run
    // sees only its end. So none of those starts can match; skipping them keeps \s+$ linear on
    // long runs of spaces.
    if (run >= 0 && m.test_single(run, start)) {
      while (start + 1 < n && m.test_single(run, start + 1)) ++start;
    }
  }
  return false;
}

std::vector<uint32_t> regex_view(const std::vector<uint32_t>& cps, bool collapsed) {
  std::vector<uint32_t> out(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t c = cps[i];
    if (c < 128) {
      out[i] = c;
      continue;
    }
    const uint32_t f = unicode::flags(c);
    if (f & unicode::kWhitespace) {
      out[i] = kVerticalTab;
    } else if (!collapsed) {
      out[i] = c;
    } else {
      switch (f & unicode::kCategoryMask) {
        case unicode::kNumber:
          out[i] = kMarkNumber;
          break;
        case unicode::kLetter:
          out[i] = kMarkLetter;
          break;
        case unicode::kPunctuation:
          out[i] = kMarkPunct;
          break;
        case unicode::kMark:
          out[i] = kMarkMark;
          break;
        case unicode::kSymbol:
          out[i] = kMarkSymbol;
          break;
        default:
          out[i] = kMarkOther;
          break;
      }
    }
  }
  return out;
}

std::vector<size_t> regex_split(const std::vector<uint32_t>& cps,
                                const std::vector<Regex>& patterns) {
  std::vector<size_t> pieces{cps.size()};
  std::vector<uint32_t> views[2];
  bool have_view[2] = {false, false};
  for (const Regex& re : patterns) {
    const int v = re.uses_categories() ? 1 : 0;
    if (!have_view[v]) {
      views[v] = regex_view(cps, v == 1);
      have_view[v] = true;
    }
    const std::vector<uint32_t>& text = views[v];
    std::vector<size_t> out;
    out.reserve(pieces.size());
    size_t base = 0;
    for (size_t len : pieces) {
      size_t pos = 0;
      size_t mpos = 0, mlen = 0;
      while (pos < len && re.search(text.data() + base, len, pos, mpos, mlen)) {
        if (mpos > pos) out.push_back(mpos - pos);
        out.push_back(mlen);
        pos = mpos + mlen;
      }
      if (pos < len) out.push_back(len - pos);
      base += len;
    }
    pieces = std::move(out);
  }
  return pieces;
}

}  // namespace moevk::tok
