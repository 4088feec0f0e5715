// Replays a routing trace through the expert cache with a fake transfer queue and a time model:
// how the policies compare, and what tok/s a GPU with given bandwidths would reach (labelled a
// prediction wherever it is printed). The engine's rules, without a GPU:
//   - an expert whose copy has finished by the start of a token is a hit (read from VRAM), any
//     other use is a miss, read in place over the bus by the kernel;
//   - after each token the policy admits the missed experts; their copies queue on the (one)
//     transfer queue at bus bandwidth and count as hits from the first token after they finish;
//   - token time = max(resident time + in-place bytes / bus, (in-place + copied bytes) / bus): the
//     kernels wait for in-place reads, copies overlap the compute but share the bus;
//   - with CPU experts (TimeModel::cpu_bytes_per_s), a layer's misses split between the bus and the
//     CPU, and the layer takes the longer of the two plus a host round trip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/sched/expert_cache.h"

namespace moevk::sched {

// A routing trace: ids[token][moe layer][k].
struct RoutingTrace {
  uint32_t n_layers = 0, n_expert = 0, n_used = 0;
  std::vector<uint32_t> ids;  // n_tokens * n_layers * n_used
  uint64_t n_tokens() const { return n_layers && n_used ? ids.size() / (uint64_t(n_layers) * n_used) : 0; }
};
// Reads what `--trace` writes ("position layer id id ..." lines; '#' comments). Layers are
// numbered by their order of appearance.
RoutingTrace read_trace(const std::string& path, uint32_t n_expert);

struct TimeModel {
  double bus_bytes_per_s = 55e9;    // pinned host-to-device (the reference H100: 55 GB/s)
  double resident_s_per_token = 0;  // a token's time when every expert hits
  // Prefetch (0: off): when a layer is routed, copies of the next layer's predicted experts (at
  // most prefetch_experts) start on the queue; a prediction names each true expert with this
  // probability. Layers take resident_s_per_token / n_layers plus their in-place reads, so a
  // copy counts only if it lands before its layer starts.
  double prefetch_accuracy = 0;
  uint32_t prefetch_experts = 0;
  // CPU-computed experts (0: off), as the engine's --cpu-experts auto: a token goes layer by layer
  // (a host round trip per layer) when the misses measured so far make it pay; then each layer's
  // misses go, one by one, to whichever of the bus (read in place) and the CPU (bytes at
  // cpu_bytes_per_s, concurrently with the GPU) finishes first.
  double cpu_bytes_per_s = 0;
  double round_trip_s = 20e-6;
};

struct SimResult {
  uint64_t tokens = 0, hits = 0, misses = 0, prefetched = 0;
  uint64_t bytes_copied = 0, bytes_in_place = 0;
  uint64_t cpu_experts = 0, bytes_cpu = 0;  // misses the CPU computed, and their bytes
  double seconds = 0;
  double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0; }
  double tok_s() const { return seconds > 0 ? tokens / seconds : 0; }
};

// expert_bytes[layer]: one expert's bytes (what a copy or an in-place read moves).
SimResult simulate(const RoutingTrace& trace, const std::vector<uint64_t>& expert_bytes,
                   uint64_t n_slots, CachePolicy policy, const TimeModel& time);

// A synthetic trace: n_tokens tokens, every layer picks n_used distinct experts, uniform
// (skew 0) or from a Zipf-like popularity p(e) ~ 1 / (rank + 1)^skew with a per-layer
// permutation, and with probability `reuse` a token keeps each expert of the previous token.
RoutingTrace synthetic_trace(uint32_t n_layers, uint32_t n_expert, uint32_t n_used,
                             uint64_t n_tokens, double skew, double reuse, uint64_t seed);

}  // namespace moevk::sched
