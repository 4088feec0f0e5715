// moevk routing --trace FILE --experts N: what a routing trace (written by --trace) says about
// locality: expert usage per layer, reuse between consecutive tokens, and the hit rates the expert
// cache's policies reach at several sizes (sched::simulate with copies that land at once, so the
// figures are the policies' own, not the bus's).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "loader/error.h"
#include "runtime/sched/simulate.h"

namespace moevk::cli {

namespace {

constexpr const char* kRoutingUsage = R"(usage: moevk routing --trace FILE --experts N [options]

Reads a routing trace (`moevk run/logits --trace FILE`: one line per token and MoE layer) and
prints, as markdown tables:
  - per layer: the share of expert uses taken by the most used 1/8 and 1/4 of the experts, the
    normalised entropy of the usage (1 = uniform), and reuse: the share of a token's experts that
    the previous token of the trace also used (a uniform random router: n_used / n_expert);
  - the hit rates of the lru and lfu expert caches holding a fraction of all experts (all layers
    share the slots), replayed through the engine's cache (copies land before the next token).

options:
  --trace FILE        the trace
  --experts N         the model's expert count (ids must be below it)
  --fractions LIST    cache sizes as fractions of all experts (default 0.125,0.25,0.375,0.5,0.75)
  --skip N            ignore the first N tokens (a cold cache) in the hit rates (default 0)
  -h, --help          this text
)";

std::vector<double> parse_fractions(const std::string& s) {
  std::vector<double> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    const std::string part = s.substr(i, j - i);
    char* end = nullptr;
    const double v = std::strtod(part.c_str(), &end);
    if (part.empty() || *end != '\0' || !(v > 0 && v <= 1))
      usage_error("--fractions: '{}' is not a number in (0, 1]", part);
    out.push_back(v);
    i = j + 1;
  }
  return out;
}

int cmd_routing(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-h", "--help"}, false).option({"--trace"}).option({"--experts"});
  args.option({"--fractions"}).option({"--skip"});
  if (!args.parse(argv, "routing", kRoutingUsage)) return 2;
  if (args.has("--help")) {
    std::printf("%s\n%s", kRoutingUsage, kExitStatusHelp);
    return 0;
  }
  const std::string path = args.require("--trace");
  const auto n_expert = static_cast<uint32_t>(args.get_int("--experts", 0, 1, 1 << 20));
  if (!args.has("--experts")) usage_error("--experts is required");
  const std::vector<double> fractions =
      parse_fractions(args.get("--fractions").value_or("0.125,0.25,0.375,0.5,0.75"));
  const uint64_t skip = static_cast<uint64_t>(args.get_int("--skip", 0, 0, INT64_MAX));

  const sched::RoutingTrace t = sched::read_trace(path, n_expert);
  const uint64_t T = t.n_tokens();
  const uint32_t L = t.n_layers, K = t.n_used, X = n_expert;
  if (T < 2) fail("routing trace '{}': {} tokens, need at least 2", path, T);
  if (skip >= T) fail("--skip {}: the trace '{}' has only {} tokens", skip, path, T);
  auto id = [&](uint64_t tok, uint32_t l, uint32_t k) {
    return t.ids[(tok * L + l) * K + k];
  };

  std::string out = fmt::format(
      "{} tokens, {} MoE layers, {} experts, {} used per token\n\n"
      "| layer | top 1/8 experts' share | top 1/4 share | usage entropy | reuse from previous token |\n"
      "|---|---|---|---|---|\n",
      T, L, X, K);
  double sum_top8 = 0, sum_top4 = 0, sum_ent = 0, sum_reuse = 0;
  for (uint32_t l = 0; l < L; ++l) {
    std::vector<uint64_t> uses(X, 0);
    uint64_t reused = 0;
    for (uint64_t tok = 0; tok < T; ++tok)
      for (uint32_t k = 0; k < K; ++k) {
        const uint32_t e = id(tok, l, k);
        ++uses[e];
        if (tok > 0)
          for (uint32_t j = 0; j < K; ++j) reused += id(tok - 1, l, j) == e;
      }
    std::sort(uses.rbegin(), uses.rend());
    const double total = double(T) * K;
    auto top_share = [&](uint32_t n) {
      uint64_t s = 0;
      for (uint32_t i = 0; i < std::max(1u, n); ++i) s += uses[i];
      return double(s) / total;
    };
    double ent = 0;
    for (uint64_t u : uses)
      if (u) ent -= (u / total) * std::log(u / total);
    ent /= std::log(double(X));
    const double reuse = double(reused) / (double(T - 1) * K);
    const double t8 = top_share(X / 8), t4 = top_share(X / 4);
    sum_top8 += t8, sum_top4 += t4, sum_ent += ent, sum_reuse += reuse;
    out += fmt::format("| {} | {:.1f}% | {:.1f}% | {:.3f} | {:.1f}% |\n", l, 100 * t8, 100 * t4, ent,
                       100 * reuse);
  }
  out += fmt::format("| mean | {:.1f}% | {:.1f}% | {:.3f} | {:.1f}% (uniform: {:.1f}%) |\n\n",
                     100 * sum_top8 / L, 100 * sum_top4 / L, sum_ent / L, 100 * sum_reuse / L,
                     100.0 * K / X);

  // Hit rates: a token's uses after `skip` tokens, copies landing at once (a very fast bus).
  sched::TimeModel tm;
  tm.bus_bytes_per_s = 1e18;
  tm.resident_s_per_token = 1e-3;
  const std::vector<uint64_t> bytes(L, 1);
  out += "| cache (share of all experts) | lru hit rate | lfu hit rate |\n|---|---|---|\n";
  for (double f : fractions) {
    const uint64_t slots = std::max<uint64_t>(1, uint64_t(std::llround(f * double(L) * X)));
    double rate[2];
    int i = 0;
    for (sched::CachePolicy p : {sched::CachePolicy::Lru, sched::CachePolicy::Lfu}) {
      sched::SimResult r;
      if (skip > 0 && skip < T) {
        // The rates over the tokens after `skip`: the whole run less the first `skip` tokens.
        sched::RoutingTrace head = t;
        head.ids.resize(skip * L * K);
        const sched::SimResult all = sched::simulate(t, bytes, slots, p, tm);
        const sched::SimResult first = sched::simulate(head, bytes, slots, p, tm);
        r.hits = all.hits - first.hits;
        r.misses = all.misses - first.misses;
      } else {
        r = sched::simulate(t, bytes, slots, p, tm);
      }
      rate[i++] = r.hit_rate();
    }
    out += fmt::format("| {:.1f}% ({} slots) | {:.1f}% | {:.1f}% |\n", 100 * f, slots,
                       100 * rate[0], 100 * rate[1]);
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

MOEVK_COMMAND("routing", "locality of a routing trace: expert usage, reuse, cache hit rates",
              cmd_routing);

}  // namespace moevk::cli
