// Jinja lexer: splits the source into text and tag tokens, applying HF's whitespace rules:
// trim_blocks (a block or comment tag eats one following newline), lstrip_blocks (spaces and tabs
// before a block or comment tag on its own line are removed, unless the tag starts with "{%+"),
// "-" inside a delimiter strips all whitespace on that side, and one trailing newline of the whole
// template is dropped (keep_trailing_newline=False).
#include <cctype>
#include <string>

#include "loader/template/jinja_ast.h"

namespace moevk::jinja {

void fail_at(int line, int col, const std::string& message) {
  fail("template line {}, column {}: {}", line, col, printable(message));
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {
    // Normalise newlines, then drop one trailing newline.
    std::string n;
    n.reserve(src_.size());
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\r' && i + 1 < src_.size() && src_[i + 1] == '\n') continue;
      n += src_[i];
    }
    if (!n.empty() && n.back() == '\n') n.pop_back();
    src_ = std::move(n);
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos <= src_.size()) {
      size_t start = find_tag(pos);
      std::string text = src_.substr(pos, start - pos);
      if (start == src_.size()) {
        push(Token::Text, text, pos);
        break;
      }
      char kind = src_[start + 1];  // '{', '%' or '#'
      char sign = start + 2 < src_.size() ? src_[start + 2] : 0;
      if (sign == '-') {
        size_t e = text.size();
        while (e > 0 && is_space(text[e - 1])) --e;
        text.resize(e);
      } else if (sign != '+' && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos > 0 || line_starting) {
          bool ws = l_pos < text.size();
          for (size_t i = l_pos; i < text.size(); ++i) ws = ws && is_space(text[i]);
          if (ws) text.resize(l_pos);
        }
      }
      push(Token::Text, text, pos);
      size_t p = start + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        size_t end = src_.find("#}", p);
        if (end == std::string::npos) error(start, "unterminated comment");
        pos = finish_tag(end, end + 2, true);
      } else {
        push(kind == '{' ? Token::VarOpen : Token::BlockOpen, "", start);
        pos = lex_tag(p, kind == '{' ? '}' : '%');
      }
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    push(Token::End, "", src_.size());
    return std::move(tokens_);
  }

 private:
  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;

  size_t find_tag(size_t pos) const {
    for (size_t i = pos; i + 1 < src_.size(); ++i)
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return src_.size();
  }

  void locate(size_t off, int& line, int& col) const {
    size_t lo = 0, hi = line_starts_.size();
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      (line_starts_[mid] <= off ? lo : hi) = mid;
    }
    line = int(lo) + 1;
    col = int(off - line_starts_[lo]) + 1;
  }

  [[noreturn]] void error(size_t off, const std::string& msg) const {
    int line, col;
    locate(off, line, col);
    fail_at(line, col, msg);
  }

  void push(Token::Kind k, std::string text, size_t off) {
    if (k == Token::Text && text.empty()) return;
    int line, col;
    locate(off, line, col);
    tokens_.push_back({k, std::move(text), line, col});
  }

  // The closing delimiter starts at `end` (its '-' if any is at end-1) and ends before `after`.
  // Returns the position after the delimiter and the whitespace it eats.
  size_t finish_tag(size_t end, size_t after, bool block) const {
    if (end > 0 && src_[end - 1] == '-') {
      while (after < src_.size() && is_space(src_[after])) ++after;
    } else if (block && after < src_.size() && src_[after] == '\n') {
      ++after;  // trim_blocks
    }
    return after;
  }

  size_t lex_tag(size_t p, char close) {
    int depth = 0;
    for (;;) {
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (p >= src_.size()) error(p, std::string("unterminated tag: missing '") + close + "}'");
      char c = src_[p];
      // Closing delimiter, optionally preceded by '-'.
      if (depth == 0) {
        size_t q = c == '-' ? p + 1 : p;
        if (q + 1 < src_.size() && src_[q] == close && src_[q + 1] == '}') {
          push(close == '}' ? Token::VarClose : Token::BlockClose, "", p);
          return finish_tag(q, q + 2, close == '%');
        }
      }
      size_t s = p;
      if (std::isalpha(uint8_t(c)) || c == '_') {
        while (p < src_.size() && (std::isalnum(uint8_t(src_[p])) || src_[p] == '_')) ++p;
        push(Token::Name, src_.substr(s, p - s), s);
      } else if (std::isdigit(uint8_t(c))) {
        bool is_float = false;
        while (p < src_.size() && (std::isdigit(uint8_t(src_[p])) || src_[p] == '_')) ++p;
        if (p + 1 < src_.size() && src_[p] == '.' && std::isdigit(uint8_t(src_[p + 1]))) {
          is_float = true;
          ++p;
          while (p < src_.size() && (std::isdigit(uint8_t(src_[p])) || src_[p] == '_')) ++p;
        }
        if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
          size_t q = p + 1;
          if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
          if (q < src_.size() && std::isdigit(uint8_t(src_[q]))) {
            is_float = true;
            p = q;
            while (p < src_.size() && std::isdigit(uint8_t(src_[p]))) ++p;
          }
        }
        std::string num;
        for (size_t i = s; i < p; ++i)
          if (src_[i] != '_') num += src_[i];
        push(is_float ? Token::Float : Token::Int, num, s);
      } else if (c == '\'' || c == '"') {
        push(Token::String, lex_string(p), s);
      } else {
        static const char* two[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op(1, c);
        for (const char* t : two)
          if (src_.compare(p, 2, t) == 0) op = t;
        if (op.size() == 1 && std::string_view("+-*/%~<>=()[]{}.,:|!").find(c) == std::string_view::npos)
          error(p, fmt::format("unexpected character '{}'", c));
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        p += op.size();
        push(Token::Op, op, s);
      }
    }
  }

  // Python-style string literal starting at p (the quote); advances p past the closing quote.
  std::string lex_string(size_t& p) {
    size_t start = p;
    char q = src_[p++];
    std::string out;
    while (true) {
      if (p >= src_.size()) error(start, "unterminated string literal");
      char c = src_[p++];
      if (c == q) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p >= src_.size()) error(start, "unterminated string literal");
      char e = src_[p++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'a': out += '\a'; break;
        case '0': out += '\0'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\n': break;
        case 'x': case 'u': case 'U': {
          size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + n > src_.size()) error(p, "truncated escape in string literal");
          char32_t cp = 0;
          for (size_t i = 0; i < n; ++i) {
            char h = src_[p + i];
            if (!std::isxdigit(uint8_t(h))) error(p + i, "bad hex escape in string literal");
            cp = cp * 16 + char32_t(std::isdigit(uint8_t(h)) ? h - '0' : std::tolower(h) - 'a' + 10);
          }
          p += n;
          out += utf8_encode(std::u32string(1, cp));
          break;
        }
        default: out += '\\'; out += e; break;  // Python keeps unknown escapes
      }
    }
    return out;
  }
};

}  // namespace

std::vector<Token> lex(const std::string& source) { return Lexer(source).run(); }

}  // namespace moevk::jinja
