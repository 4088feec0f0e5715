#include "cli/bench_stream.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <sstream>

#include "cli/args.h"
#include "loader/error.h"
#include "runtime/sched/memory_plan.h"
#include "runtime/sched/simulate.h"
#include "runtime/sched/size.h"

namespace moevk::cli {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

bool is_budget_sweep(const std::string& v) {
  return v.find(',') != std::string::npos || v.find('%') != std::string::npos || v == "min";
}

void check_budget_list(const std::string& value) {
  std::stringstream ss(value);
  std::string item;
  size_t n = 0;
  while (std::getline(ss, item, ',')) {
    ++n;
    if (item == "min") continue;
    if (!item.empty() && item.back() == '%') {
      const std::string number = item.substr(0, item.size() - 1);
      char* end = nullptr;
      const double pct = number.empty() ? 0 : std::strtod(number.c_str(), &end);
      if (number.empty() || *end != '\0' || !(pct > 0 && pct <= 100))
        usage_error("option --gpu-mem: '{}' is not a percentage in (0, 100]", item);
      continue;
    }
    try {
      if (sched::parse_size(item) == 0) usage_error("option --gpu-mem: the budget '{}' is 0 bytes", item);
    } catch (const UsageError&) {
      throw;
    } catch (const Error& e) {
      usage_error("option --gpu-mem: '{}': {} (a list of sizes, percentages in (0, 100] or min)", item, e.what());
    }
  }
  if (n == 0 || value.back() == ',') usage_error("option --gpu-mem: '{}' has an empty item", value);
}

int bench_streaming(const gguf::File& file, EngineOptions eo, const StreamBenchOptions& o) {
  const ModelDesc d = describe(file);
  if (eo.backend != Backend::Vulkan) fail("option --gpu-mem: a budget sweep needs the vulkan backend");
  if (eo.n_ctx == 0) eo.n_ctx = std::max(o.n_prompt, 16 + o.n_gen);
  sched::PlanOptions po;
  po.n_ctx = eo.n_ctx;
  po.n_batch = std::min<uint32_t>(eo.n_ctx, 512);
  const sched::MemoryPlan full = sched::plan_memory(sched::plan_input_from_file(file), po);
  std::vector<uint64_t> expert_bytes;
  for (const auto& l : full.moe_layers)
    expert_bytes.push_back(l.slot.gate_bytes + l.slot.up_bytes + l.slot.down_bytes);
  if (expert_bytes.empty()) fail("the model has no MoE layers: nothing streams");
  // The fixed bytes of a deeper model of this shape: global tensors, then per layer its
  // non-expert tensors and KV cache (the scratch counts as global).
  double full_global = double(full.scratch.bytes), full_per_layer = double(full.kv_bytes) / d.n_layer;
  for (const auto& t : sched::plan_input_from_file(file).tensors) {
    if (t.expert) continue;
    if (t.layer < 0) full_global += double(t.n_bytes);
    else full_per_layer += double(t.n_bytes) / d.n_layer;
  }

  std::vector<std::pair<std::string, uint64_t>> budgets;
  std::stringstream ss(o.budgets);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "min") {
      budgets.push_back({"min", full.min_budget});
    } else if (!item.empty() && item.back() == '%') {
      const double pct = std::stod(item.substr(0, item.size() - 1));  // check_budget_list() checked it
      budgets.push_back({item, std::max<uint64_t>(full.min_budget, uint64_t(full.resident_bytes * pct / 100))});
    } else {
      budgets.push_back({item, sched::parse_size(item)});
    }
  }
  std::printf("streaming sweep: %s, resident %s, minimum %s, %zu MoE layers x %u experts, expert %s\n",
              file.path().c_str(), sched::format_size(full.resident_bytes).c_str(),
              sched::format_size(full.min_budget).c_str(), expert_bytes.size(), d.n_expert,
              sched::format_size(expert_bytes[0]).c_str());
  std::printf("prediction: the simulator with a %.1f GB/s bus and %.0f tok/s when every expert hits, "
              "this shape with %u MoE layers at the same share of its resident size (this file's "
              "vocabulary), uniform routing, and a synthetic skew (Zipf 1.0, 30%% reuse)\n\n",
              o.predict_bus_gbs, o.predict_resident_tok_s, o.predict_layers);
  const bool cpu = eo.cpu_experts != "off";
  if (cpu)
    std::printf("with CPU experts (--cpu-experts %s): the prediction adds a CPU computing misses at %.1f GB/s "
                "beside the bus, %.0f us per layer round trip; 'cpu share' is the misses it computed\n\n",
                eo.cpu_experts.c_str(), o.predict_cpu_gbs, o.predict_round_trip_us);
  std::printf("| budget | bytes | mode | slots | pp%u tok/s | tg%u tok/s | hit rate | copied/token | in place/token "
              "| cpu experts/token | stalled ms | predicted tok/s uniform | sim hit rate | predicted tok/s skewed |%s\n",
              o.n_prompt, o.n_gen, cpu ? " predicted +cpu uniform | cpu share | predicted +cpu skewed |" : "");
  std::printf("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |%s\n",
              cpu ? " ---: | ---: | ---: |" : "");
  for (const auto& [label, budget] : budgets) {
    EngineOptions e = eo;
    e.gpu_mem = budget;
    e.progress = false;
    std::unique_ptr<Engine> eng = make_engine(file, e);
    std::vector<int32_t> prompt(o.n_prompt);
    for (uint32_t i = 0; i < o.n_prompt; ++i) prompt[i] = int32_t((i * 7919u + 13) % d.n_vocab);
    double pp = 0;
    if (o.n_prompt) {
      const auto t0 = Clock::now();
      eng->eval(prompt, 0, Logits::Last);
      pp = o.n_prompt / since(t0);
    }
    std::vector<int32_t> prefix(prompt.begin(), prompt.begin() + std::min<size_t>(16, prompt.size()));
    if (prefix.empty()) prefix.push_back(1);
    int32_t next = argmax(eng->eval(prefix, 0, Logits::Last));
    EvalStats tg;
    const auto t0 = Clock::now();
    for (uint32_t i = 0; i < o.n_gen; ++i) {
      next = argmax(eng->eval(std::span(&next, 1), uint32_t(prefix.size() + i), Logits::Last));
      tg += eng->last_stats();
    }
    const double tg_s = o.n_gen ? o.n_gen / since(t0) : 0;
    const MemoryReport m = eng->memory_report();
    const LayerStreamStats t = tg.total();
    const double n = std::max<uint64_t>(1, tg.tokens);
    const double hit = t.hits + t.misses ? 100.0 * t.hits / double(t.hits + t.misses) : 100.0;
    // The prediction: the full model (predict_layers MoE layers of this file's shape) at the same
    // share of its resident size; a size or "min" keeps this file's share of experts in slots.
    double frac = m.total_experts ? double(m.n_slots) / double(m.total_experts) : 1.0;
    if (label.back() == '%') {
      const double pct = std::stod(label.substr(0, label.size() - 1)) / 100.0;
      const double layers = o.predict_layers;
      const double fixed = full_global + layers * full_per_layer;
      const double experts = layers * d.n_expert * double(full.slot_bytes);
      frac = std::clamp((pct * (fixed + experts) - fixed) / experts, 0.0, 1.0);
    } else if (label == "min") {
      frac = double(full.min_slots) / (double(o.predict_layers) * d.n_expert);
    }
    const uint64_t slots = uint64_t(frac * o.predict_layers * d.n_expert);
    const std::vector<uint64_t> bytes(o.predict_layers, expert_bytes[0]);
    sched::TimeModel tm{o.predict_bus_gbs * 1e9, 1.0 / o.predict_resident_tok_s};
    const auto uniform_trace =
        sched::synthetic_trace(o.predict_layers, d.n_expert, d.n_expert_used, o.predict_tokens, 0, 0, 1);
    const auto skewed_trace =
        sched::synthetic_trace(o.predict_layers, d.n_expert, d.n_expert_used, o.predict_tokens, 1.0, 0.3, 1);
    const sched::CachePolicy policy = sched::cache_policy_from_name(e.cache_policy);
    const auto uni = sched::simulate(uniform_trace, bytes, slots, policy, tm);
    const auto skew = sched::simulate(skewed_trace, bytes, slots, policy, tm);
    std::printf("| %s | %llu | %s | %llu/%llu | %.2f | %.2f | %.1f%% | %s | %s | %.2f | %.2f | %.1f | %.1f%% | %.1f |",
                label.c_str(), (unsigned long long)budget, m.mode.c_str(), (unsigned long long)m.n_slots,
                (unsigned long long)m.total_experts, pp, tg_s, hit,
                sched::format_size(uint64_t(t.bytes_copied / n)).c_str(),
                sched::format_size(uint64_t(t.bytes_in_place / n)).c_str(), t.cpu_pairs / n, t.stall_ms / n,
                uni.tok_s(), 100 * uni.hit_rate(), skew.tok_s());
    if (cpu) {
      tm.cpu_bytes_per_s = o.predict_cpu_gbs * 1e9;
      tm.round_trip_s = o.predict_round_trip_us * 1e-6;
      const auto uni_cpu = sched::simulate(uniform_trace, bytes, slots, policy, tm);
      const auto skew_cpu = sched::simulate(skewed_trace, bytes, slots, policy, tm);
      const double share = uni_cpu.misses ? 100.0 * uni_cpu.cpu_experts / double(uni_cpu.misses) : 0.0;
      std::printf(" %.1f | %.1f%% | %.1f |", uni_cpu.tok_s(), share, skew_cpu.tok_s());
    }
    std::printf("\n");
    std::fflush(stdout);
    if (m.peak > budget) fail("allocated {} bytes, more than the budget {}", m.peak, budget);
  }
  return 0;
}

}  // namespace moevk::cli
