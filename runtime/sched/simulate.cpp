#include "runtime/sched/simulate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "loader/error.h"

namespace moevk::sched {

RoutingTrace read_trace(const std::string& path, uint32_t n_expert) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
  {
    if (std::filesystem::exists(path, ec)) fail("the routing trace '{}' is not a regular file", path);
    fail("cannot open the routing trace '{}': no such file", path);
  }
  std::ifstream in(path);
  if (!in) fail("cannot open the routing trace '{}'", path);
  RoutingTrace t;
  t.n_expert = n_expert;
  std::map<uint32_t, uint32_t> layer_index;
  std::string line;
  uint64_t line_no = 0;
  std::vector<std::vector<uint32_t>> token;  // the current position's layers
  int64_t cur_pos = -1;
  auto flush = [&] {
    if (token.empty()) return;
    if (t.n_layers == 0) t.n_layers = uint32_t(token.size());
    if (token.size() != t.n_layers) fail("routing trace '{}': a token with {} layers, expected {}", path, token.size(), t.n_layers);
    for (auto& ids : token) t.ids.insert(t.ids.end(), ids.begin(), ids.end());
    token.clear();
  };
  // Lines are read with a bound: a line is a position, a layer and top-k ids, far below 64 KiB.
  constexpr size_t kMaxLine = 64 << 10;
  while (in.peek() != std::char_traits<char>::eof()) {
    line.clear();
    for (int c; (c = in.get()) != std::char_traits<char>::eof() && c != '\n';) {
      if (line.size() >= kMaxLine) fail("routing trace '{}' line {}: longer than {} bytes", path, line_no + 1, kMaxLine);
      line.push_back(char(c));
    }
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    int64_t pos = -1, layer = -1;
    if (!(ls >> pos >> layer) || pos < 0 || layer < 0)
      fail("routing trace '{}' line {}: expected 'position layer ids...'", path, line_no);
    std::vector<uint32_t> ids;
    int64_t id;
    while (ls >> id) {
      if (id < 0 || uint64_t(id) >= n_expert)
        fail("routing trace '{}' line {}: expert id {} outside [0, {})", path, line_no, id, n_expert);
      ids.push_back(uint32_t(id));
    }
    if (ids.empty()) fail("routing trace '{}' line {}: no expert ids", path, line_no);
    if (t.n_used == 0) t.n_used = uint32_t(ids.size());
    if (ids.size() != t.n_used) fail("routing trace '{}' line {}: {} ids, expected {}", path, line_no, ids.size(), t.n_used);
    if (pos != cur_pos) {
      flush();
      cur_pos = pos;
    }
    layer_index.emplace(uint32_t(layer), uint32_t(layer_index.size()));
    token.push_back(std::move(ids));
  }
  flush();
  return t;
}

SimResult simulate(const RoutingTrace& trace, const std::vector<uint64_t>& expert_bytes,
                   uint64_t n_slots, CachePolicy policy, const TimeModel& time) {
  MOEVK_ASSERT(expert_bytes.size() == trace.n_layers, "simulate: one expert size per layer");
  ExpertCache cache(trace.n_layers, trace.n_expert, n_slots, policy);
  std::vector<double> ready(n_slots, 0.0);  // when each slot's copy finishes (the fake queue)
  double now = 0, queue_free = 0, prefetch_free = 0;
  // A warm start as the engine's: slot i holds expert i / n_layers of layer i % n_layers.
  for (uint64_t i = 0; i < n_slots && trace.n_layers; ++i) {
    const ExpertKey k{uint32_t(i % trace.n_layers), uint32_t(i / trace.n_layers % trace.n_expert)};
    if (!cache.slot_of(k) && !cache.admit(k)) break;
  }
  SimResult r;
  const double bw = time.bus_bytes_per_s;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  auto id = [&](uint64_t tok, uint32_t l, uint32_t k) {
    return trace.ids[(tok * trace.n_layers + l) * trace.n_used + k];
  };
  // CPU experts: the engine's estimate of miss bytes per layer and token (an average of the
  // tokens so far), which decides whether a token goes layer by layer.
  double miss_ema = 0;
  for (uint32_t l = 0; l < trace.n_layers; ++l) miss_ema += double(expert_bytes[l]) / trace.n_layers;
  miss_ema *= trace.n_used * (1.0 - double(n_slots) / (double(trace.n_layers) * trace.n_expert));
  for (uint64_t tok = 0; tok < trace.n_tokens(); ++tok) {
    uint64_t in_place = 0, copied = 0, miss_bytes = 0;
    double layers_s = 0;  // the layers' in-place and CPU time (on top of resident_s_per_token)
    const double cpu_bw = time.cpu_bytes_per_s;
    const bool split = cpu_bw > 0 && miss_ema / bw - miss_ema / (bw + cpu_bw) > time.round_trip_s;
    std::vector<ExpertKey> missed;
    double layer_start = now;  // layers run one after the other; each starts after its in-place reads
    for (uint32_t l = 0; l < trace.n_layers; ++l) {
      // Prefetch: once layer l is routed, the next layer's predicted experts start copying (a
      // prediction names each true expert with probability prefetch_accuracy, else a random one).
      if (time.prefetch_accuracy > 0 && l + 1 < trace.n_layers) {
        uint32_t started = 0;
        std::vector<uint64_t> in_use;  // slots layer l reads now: never the victims
        for (uint32_t k = 0; k < trace.n_used; ++k)
          if (auto sl = cache.slot_of({l, id(tok, l, k)})) in_use.push_back(*sl);
        for (uint32_t k = 0; k < trace.n_used && started < time.prefetch_experts; ++k) {
          uint32_t e = id(tok, l + 1, k);
          if (u(rng) >= time.prefetch_accuracy) e = uint32_t(rng() % trace.n_expert);
          const ExpertKey key{l + 1, e};
          if (cache.slot_of(key)) continue;
          auto a = cache.admit(key, [&](uint64_t s) {
            return ready[s] > layer_start || std::find(in_use.begin(), in_use.end(), s) != in_use.end();
          }, true);
          if (!a) continue;
          // Ahead of the admissions on the bus (which wait that much longer).
          prefetch_free = std::max(prefetch_free, layer_start) + expert_bytes[l + 1] / bw;
          queue_free = std::max(queue_free, layer_start) + expert_bytes[l + 1] / bw;
          ready[a->slot] = prefetch_free;
          copied += expert_bytes[l + 1];
          ++r.prefetched;
          ++started;
        }
      }
      uint64_t layer_in_place = 0;
      double gpu_s = 0, cpu_s = time.round_trip_s;  // this layer's misses: bus side, CPU side
      for (uint32_t k = 0; k < trace.n_used; ++k) {
        const ExpertKey key{l, id(tok, l, k)};
        const auto slot = cache.slot_of(key);
        if (slot && ready[*slot] <= layer_start) {
          ++r.hits;
        } else {
          ++r.misses;
          miss_bytes += expert_bytes[l];
          const double b = double(expert_bytes[l]);
          if (split && cpu_s + b / cpu_bw < gpu_s + b / bw) {
            cpu_s += b / cpu_bw;
            ++r.cpu_experts;
            r.bytes_cpu += expert_bytes[l];
          } else {
            gpu_s += b / bw;
            layer_in_place += expert_bytes[l];
          }
          if (!slot && std::find(missed.begin(), missed.end(), key) == missed.end()) missed.push_back(key);
        }
        cache.touch(key);
      }
      in_place += layer_in_place;
      const double layer_s = split ? std::max(gpu_s, cpu_s) : gpu_s;
      layers_s += layer_s;
      layer_start += time.resident_s_per_token / trace.n_layers + layer_s;
    }
    cache.tick();
    if (cpu_bw > 0) miss_ema = 0.8 * miss_ema + 0.2 * double(miss_bytes) / trace.n_layers;
    const double t = std::max(time.resident_s_per_token + layers_s, 0.0);
    for (const ExpertKey& key : missed) {
      auto a = cache.admit(key, [&](uint64_t s) { return ready[s] > now; });
      if (!a) continue;
      queue_free = std::max(queue_free, now) + expert_bytes[key.layer] / bw;
      ready[a->slot] = queue_free;
      copied += expert_bytes[key.layer];
    }
    const double token_s = std::max(t, (in_place + copied) / bw);
    now += token_s;
    r.seconds += token_s;
    r.bytes_in_place += in_place;
    r.bytes_copied += copied;
    ++r.tokens;
  }
  return r;
}

RoutingTrace synthetic_trace(uint32_t n_layers, uint32_t n_expert, uint32_t n_used,
                             uint64_t n_tokens, double skew, double reuse, uint64_t seed) {
  MOEVK_ASSERT(n_used <= n_expert, "synthetic_trace: top-k above the expert count");
  std::mt19937_64 rng(seed);
  RoutingTrace t{n_layers, n_expert, n_used, {}};
  std::vector<std::vector<uint32_t>> perm(n_layers), prev(n_layers);
  std::vector<double> w(n_expert);
  for (uint32_t e = 0; e < n_expert; ++e) w[e] = 1.0 / std::pow(double(e + 1), skew);
  std::discrete_distribution<uint32_t> pick(w.begin(), w.end());
  std::uniform_real_distribution<double> u(0, 1);
  for (auto& p : perm) {
    p.resize(n_expert);
    for (uint32_t e = 0; e < n_expert; ++e) p[e] = e;
    std::shuffle(p.begin(), p.end(), rng);
  }
  for (uint64_t tok = 0; tok < n_tokens; ++tok)
    for (uint32_t l = 0; l < n_layers; ++l) {
      std::vector<uint32_t> ids;
      for (uint32_t e : prev[l])
        if (u(rng) < reuse && ids.size() < n_used) ids.push_back(e);
      while (ids.size() < n_used) {
        const uint32_t e = perm[l][pick(rng)];
        if (std::find(ids.begin(), ids.end(), e) == ids.end()) ids.push_back(e);
      }
      prev[l] = ids;
      t.ids.insert(t.ids.end(), ids.begin(), ids.end());
    }
  return t;
}

}  // namespace moevk::sched
