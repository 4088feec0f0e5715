// Jinja parser: tokens -> statement tree. Expression precedence follows jinja2's parser:
// conditional < or < and < not < comparison < + - < ~ < * / // % < ** < unary < postfix/filter/test.
#include <algorithm>
#include <string>

#include "loader/template/jinja_ast.h"

namespace moevk::jinja {
namespace {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  Body parse_all() {
    std::string end;
    Body b = parse_body({}, end);
    return b;
  }

 private:
  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;  // nested parse_body / parse_expr / unary calls

  // Bounds the parser's recursion (deeply nested blocks or brackets would overflow the stack).
  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting)
        p.error(p.peek(), fmt::format("nested deeper than {} levels", kMaxNesting));
    }
    ~Nest() { --p.depth_; }
  };

  // Sets e's height from its children; chains built by loops (a+b+c..., a.b.c..., x|f|g...) would
  // otherwise make trees too tall to evaluate or destroy recursively.
  ExprPtr sealed(ExprPtr e) {
    int h = 0;
    for (const ExprPtr& c : e->args)
      if (c) h = std::max(h, c->height);
    for (const auto& kv : e->kwargs)
      if (kv.second) h = std::max(h, kv.second->height);
    e->height = h + 1;
    if (e->height > kMaxNesting)
      fail_at(e->line, e->col, fmt::format("expression nested deeper than {} levels", kMaxNesting));
    return e;
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Token::End: return "end of template";
      case Token::VarClose: return "'}}'";
      case Token::BlockClose: return "'%}'";
      case Token::String: return "string literal";
      default: return "'" + t.text + "'";
    }
  }
  const Token& peek(size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = peek();
    if (i_ < t_.size() - 1) ++i_;
    return t;
  }
  [[noreturn]] void error(const Token& t, const std::string& msg) const { fail_at(t.line, t.col, msg); }
  bool is_op(const char* op, size_t k = 0) const { return peek(k).kind == Token::Op && peek(k).text == op; }
  bool is_name(const char* n, size_t k = 0) const { return peek(k).kind == Token::Name && peek(k).text == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) error(peek(), fmt::format("expected '{}'", op));
    next();
  }
  std::string expect_name() {
    if (peek().kind != Token::Name) error(peek(), "expected a name");
    return next().text;
  }
  void expect_block_close() {
    if (peek().kind != Token::BlockClose) error(peek(), "expected '%}'");
    next();
  }

  // Parses statements until a block tag whose keyword is in `ends` (consumed up to the keyword;
  // `end` receives it). With empty `ends`, parses to the end of input.
  Body parse_body(std::initializer_list<const char*> ends, std::string& end) {
    Nest nest(*this);
    Body body;
    for (;;) {
      const Token& t = peek();
      if (t.kind == Token::End) {
        if (ends.size() != 0) error(t, fmt::format("unexpected end of template, expected '{}'", *(ends.end() - 1)));
        return body;
      }
      if (t.kind == Token::Text) {
        auto s = std::make_unique<Stmt>(Stmt{Stmt::Text, t.line, t.col, t.text});
        body.push_back(std::move(s));
        next();
      } else if (t.kind == Token::VarOpen) {
        next();
        auto s = std::make_unique<Stmt>(Stmt{Stmt::Output, t.line, t.col});
        s->exprs.push_back(parse_expr());
        if (peek().kind != Token::VarClose) error(peek(), "expected '}}'");
        next();
        body.push_back(std::move(s));
      } else if (t.kind == Token::BlockOpen) {
        const Token& kw = peek(1);
        if (kw.kind != Token::Name) error(kw, "expected a statement keyword");
        for (const char* e : ends)
          if (kw.text == e) {
            next();
            next();
            end = kw.text;
            return body;
          }
        next();
        body.push_back(parse_statement());
      } else {
        error(t, "unexpected token");
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& kw = next();
    auto s = std::make_unique<Stmt>(Stmt{Stmt::Text, kw.line, kw.col});
    const std::string& k = kw.text;
    std::string end;
    if (k == "if") {
      s->kind = Stmt::If;
      s->exprs.push_back(parse_expr());
      expect_block_close();
      for (;;) {
        s->bodies.push_back(parse_body({"elif", "else", "endif"}, end));
        if (end == "elif") {
          s->exprs.push_back(parse_expr());
          expect_block_close();
        } else if (end == "else") {
          expect_block_close();
          s->bodies.push_back(parse_body({"endif"}, end));
          break;
        } else {
          break;
        }
      }
    } else if (k == "for") {
      s->kind = Stmt::For;
      s->names.push_back(expect_name());
      while (is_op(",")) {
        next();
        s->names.push_back(expect_name());
      }
      if (!is_name("in")) error(peek(), "expected 'in'");
      next();
      s->exprs.push_back(parse_or());  // no conditional: `if` here filters the loop
      if (is_name("if")) {
        next();
        s->exprs.push_back(parse_expr());
      } else {
        s->exprs.push_back(nullptr);
      }
      if (is_name("recursive")) error(peek(), "recursive loops are not supported");
      expect_block_close();
      s->bodies.push_back(parse_body({"else", "endfor"}, end));
      if (end == "else") {
        expect_block_close();
        s->bodies.push_back(parse_body({"endfor"}, end));
      }
    } else if (k == "set") {
      s->kind = Stmt::Set;
      s->names.push_back(expect_name());
      if (is_op(".")) {
        next();
        s->attr = expect_name();
      }
      while (is_op(",")) {
        next();
        s->names.push_back(expect_name());
      }
      if (peek().kind == Token::BlockClose && s->names.size() == 1 && s->attr.empty()) {
        next();
        s->kind = Stmt::SetBlock;
        s->bodies.push_back(parse_body({"endset"}, end));
      } else {
        expect_op("=");
        s->exprs.push_back(parse_tuple_or_expr());
      }
    } else if (k == "macro") {
      s->kind = Stmt::Macro;
      s->text = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        s->names.push_back(expect_name());
        if (is_op("=")) {
          next();
          s->exprs.push_back(parse_expr());
        } else {
          s->exprs.push_back(nullptr);
        }
        if (!is_op(",")) break;
        next();
      }
      expect_op(")");
      expect_block_close();
      s->bodies.push_back(parse_body({"endmacro"}, end));
      if (peek().kind == Token::Name) next();  // {% endmacro name %}
    } else if (k == "break" || k == "continue") {
      s->kind = k == "break" ? Stmt::Break : Stmt::Continue;
    } else if (k == "generation") {
      // HF's assistant-mask extension: renders its body unchanged.
      s->kind = Stmt::If;
      auto yes = make(Expr::Literal, kw);
      yes->literal = Value(true);
      s->exprs.push_back(std::move(yes));
      expect_block_close();
      s->bodies.push_back(parse_body({"endgeneration"}, end));
    } else {
      error(kw, fmt::format("unknown or unsupported statement '{}'", k));
    }
    expect_block_close();
    return s;
  }

  ExprPtr make(Expr::Kind k, const Token& at, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = at.line;
    e->col = at.col;
    e->name = std::move(name);
    return e;
  }

  ExprPtr parse_tuple_or_expr() {
    const Token& at = peek();
    ExprPtr e = parse_expr();
    if (!is_op(",")) return e;
    auto list = make(Expr::List, at, "tuple");
    list->args.push_back(std::move(e));
    while (is_op(",")) {
      next();
      if (is_op(")")) break;  // (a,)
      list->args.push_back(parse_expr());
    }
    return sealed(std::move(list));
  }

  ExprPtr parse_expr() {
    Nest nest(*this);
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const Token& at = next();
      auto c = make(Expr::Cond, at);
      c->args.push_back(parse_or());  // condition
      c->args.push_back(std::move(e));
      if (is_name("else")) {
        next();
        c->args.push_back(parse_expr());
      } else {
        c->args.push_back(nullptr);
      }
      e = sealed(std::move(c));
    }
    return e;
  }

  ExprPtr binary(const Token& at, const std::string& op, ExprPtr l, ExprPtr r) {
    auto b = make(Expr::Binary, at, op);
    b->args.push_back(std::move(l));
    b->args.push_back(std::move(r));
    return sealed(std::move(b));
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const Token& at = next();
      e = binary(at, "or", std::move(e), parse_and());
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const Token& at = next();
      e = binary(at, "and", std::move(e), parse_not());
    }
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      Nest nest(*this);
      const Token& at = next();
      auto u = make(Expr::Unary, at, "not");
      u->args.push_back(parse_not());
      return sealed(std::move(u));
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    for (;;) {
      const Token& at = peek();
      std::string op;
      if (at.kind == Token::Op &&
          (at.text == "==" || at.text == "!=" || at.text == "<" || at.text == "<=" || at.text == ">" ||
           at.text == ">=")) {
        op = at.text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && is_name("in", 1)) {
        op = "not in";
        next();
        next();
      } else {
        return e;
      }
      e = binary(at, op, std::move(e), parse_math1());
    }
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = next();
      e = binary(at, at.text, std::move(e), parse_concat());
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const Token& at = next();
      e = binary(at, "~", std::move(e), parse_math2());
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = next();
      e = binary(at, at.text, std::move(e), parse_pow());
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const Token& at = next();
      e = binary(at, "**", std::move(e), parse_unary(true));
    }
    return e;
  }
  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      Nest nest(*this);
      const Token& at = next();
      e = make(Expr::Unary, at, at.text);
      e->args.push_back(parse_unary(false));
      e = sealed(std::move(e));
    } else {
      e = parse_postfix(parse_primary());
    }
    if (with_filter) return parse_filters(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = next();
    switch (t.kind) {
      case Token::Name: {
        const std::string& n = t.text;
        auto lit = [&](Value v) {
          auto e = make(Expr::Literal, t);
          e->literal = std::move(v);
          return e;
        };
        if (n == "true" || n == "True") return lit(Value(true));
        if (n == "false" || n == "False") return lit(Value(false));
        if (n == "none" || n == "None") return lit(Value(nullptr));
        return make(Expr::Name, t, n);
      }
      case Token::String: {
        std::string s = t.text;
        while (peek().kind == Token::String) s += next().text;  // adjacent literals concatenate
        auto e = make(Expr::Literal, t);
        e->literal = Value(std::move(s));
        return e;
      }
      case Token::Int:
      case Token::Float: {
        auto e = make(Expr::Literal, t);
        try {
          e->literal = t.kind == Token::Int ? Value(int64_t(std::stoll(t.text))) : Value(std::stod(t.text));
        } catch (const std::exception&) {
          error(t, "number out of range");
        }
        return e;
      }
      case Token::Op:
        if (t.text == "(") {
          if (is_op(")")) {
            next();
            return make(Expr::List, t, "tuple");
          }
          ExprPtr e = parse_tuple_or_expr();
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          auto e = make(Expr::List, t);
          while (!is_op("]")) {
            e->args.push_back(parse_expr());
            if (!is_op(",")) break;
            next();
          }
          expect_op("]");
          return sealed(std::move(e));
        }
        if (t.text == "{") {
          auto e = make(Expr::Dict, t);
          while (!is_op("}")) {
            e->args.push_back(parse_expr());
            expect_op(":");
            e->args.push_back(parse_expr());
            if (!is_op(",")) break;
            next();
          }
          expect_op("}");
          return sealed(std::move(e));
        }
        break;
      default:
        break;
    }
    error(t, "unexpected " + describe(t));
  }

  void parse_call_args(Expr& e) {
    // After '(' : positional and name=value arguments, then ')'.
    while (!is_op(")")) {
      if (peek().kind == Token::Name && is_op("=", 1)) {
        std::string k = next().text;
        next();
        e.kwargs.emplace_back(k, parse_expr());
      } else {
        e.args.push_back(parse_expr());
      }
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      const Token& at = peek();
      if (is_op(".")) {
        next();
        const Token& n = next();
        if (n.kind != Token::Name && n.kind != Token::Int) error(n, "expected an attribute name");
        auto a = make(n.kind == Token::Name ? Expr::Attr : Expr::Item, at, n.text);
        a->args.push_back(std::move(e));
        if (n.kind == Token::Int) {
          auto idx = make(Expr::Literal, n);
          idx->literal = Value(int64_t(std::stoll(n.text)));
          a->args.push_back(std::move(idx));
        }
        e = sealed(std::move(a));
      } else if (is_op("[")) {
        next();
        ExprPtr parts[3];
        int n_colons = 0;
        for (;;) {
          if (is_op(":")) {
            next();
            if (++n_colons > 2) error(peek(), "too many ':' in subscript");
            continue;
          }
          if (is_op("]")) break;
          if (parts[n_colons]) error(peek(), "expected ']'");
          parts[n_colons] = parse_expr();
        }
        next();
        if (n_colons == 0) {
          if (!parts[0]) error(at, "empty subscript");
          auto a = make(Expr::Item, at);
          a->args.push_back(std::move(e));
          a->args.push_back(std::move(parts[0]));
          e = sealed(std::move(a));
        } else {
          auto a = make(Expr::Slice, at);
          a->args.push_back(std::move(e));
          for (auto& p : parts) a->args.push_back(std::move(p));
          e = sealed(std::move(a));
        }
      } else if (is_op("(")) {
        next();
        auto c = make(Expr::Call, at);
        c->args.push_back(std::move(e));
        parse_call_args(*c);
        e = sealed(std::move(c));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_filters(ExprPtr e) {
    for (;;) {
      if (is_op("|")) {
        next();
        const Token& n = peek();
        auto f = make(Expr::Filter, n, expect_name());
        f->args.push_back(std::move(e));
        if (is_op("(")) {
          next();
          parse_call_args(*f);
        }
        e = sealed(std::move(f));
      } else if (is_name("is")) {
        next();
        bool neg = false;
        if (is_name("not")) {
          next();
          neg = true;
        }
        const Token& n = peek();
        std::string name;
        if (n.kind == Token::Name) {
          name = next().text;
        } else {
          error(n, "expected a test name");
        }
        auto t = make(Expr::Test, n, name);
        t->negated = neg;
        t->args.push_back(std::move(e));
        if (is_op("(")) {
          next();
          parse_call_args(*t);
        } else if (name == "divisibleby" || name == "sameas" || name == "eq" || name == "equalto" ||
                   name == "ne" || name == "lt" || name == "gt" || name == "le" || name == "ge" ||
                   name == "in") {
          t->args.push_back(parse_primary());  // `x is divisibleby 3`, `x is sameas none`
        }
        e = sealed(std::move(t));
      } else {
        return e;
      }
    }
  }
};

}  // namespace

Body parse(const std::vector<Token>& tokens) { return Parser(tokens).parse_all(); }

}  // namespace moevk::jinja
