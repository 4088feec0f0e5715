#include "cli/common.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <future>

#include "runtime/sched/size.h"

namespace moevk::cli {

const char* const kEngineHelp =
    "  -c, --ctx-size N      context size in tokens (default: the model's, at most 4096)\n"
    "  --backend NAME        vulkan (default), cpu (SIMD kernels) or ref (the reference forward pass)\n"
    "  --threads N           cpu backend threads (default: the physical cores)\n"
    "  --gpu-mem SIZE        GPU memory budget (6G, 512M, ...; default: the free VRAM less a margin);\n"
    "                        below the model's resident size, experts stream from host memory\n"
    "  --cache-policy NAME   expert cache policy when streaming: lfu (default) or lru\n"
    "  --trace FILE          write every token's expert ids per MoE layer to FILE\n"
    "  --prefetch MODE       streaming: predict the next layer's experts and copy them ahead:\n"
    "                        auto (prompt batches, default), on (decode too), off\n"
    "  --cpu-experts MODE    streaming on a discrete GPU: compute missing experts on the CPU while\n"
    "                        the GPU computes the rest: auto (a cost model measured at load picks,\n"
    "                        default), on (every miss that is not copied), off\n"
    "  --device N            Vulkan device index (see `moevk devices`; default: the best one)\n"
    "  --profile             GPU time per op (timestamps around each dispatch), the weight bytes it\n"
    "                        read and the GB/s that makes (vulkan backend)\n";

const char* const kSamplerHelp =
    "  --temp T              temperature (default 0.8; 0 = greedy)\n"
    "  --top-k K             keep the K most likely tokens (default 40; 0 = off)\n"
    "  --top-p P             nucleus sampling threshold (default 0.95; 1 = off)\n"
    "  --min-p P             drop tokens below P x the top probability (default 0.05; 0 = off)\n"
    "  --repeat-penalty R    penalise the last --repeat-last-n tokens (default 1.0 = off)\n"
    "  --repeat-last-n N     window of the repeat penalty (default 64)\n"
    "  --seed S              random seed (default 12648430)\n"
    "  --ignore-eos          never sample an end-of-generation token: stop at -n or a full context\n";

void engine_options(Args& args) {
  args.option({"-c", "--ctx-size"}).option({"--backend"}).option({"--gpu-mem"}).option({"--device"});
  args.option({"--threads"});
  args.option({"--cache-policy"}).option({"--trace"}).option({"--prefetch"}).option({"--cpu-experts"});
  args.option({"--profile"}, false);
}

EngineOptions engine_options_from(const Args& args) {
  EngineOptions o;
  o.n_ctx = static_cast<uint32_t>(args.get_int("--ctx-size", 0, 1, 1 << 20));
  const std::string backend = args.get("--backend").value_or("vulkan");
  if (backend != "vulkan" && backend != "cpu" && backend != "ref")
    usage_error("unknown backend '{}' (known: vulkan, cpu, ref)", backend);
  o.backend = backend_from_name(backend);
  o.gpu_mem = args.get_size("--gpu-mem", 0);
  o.device = static_cast<int>(args.get_int("--device", -1, 0, 1024));
  o.n_threads = static_cast<unsigned>(args.get_int("--threads", 0, 1, 1024));
  o.cache_policy = args.get("--cache-policy").value_or("lfu");
  if (o.cache_policy != "lfu" && o.cache_policy != "lru")
    usage_error("unknown cache policy '{}' (known: lfu, lru)", o.cache_policy);
  o.trace_path = args.get("--trace").value_or("");
  if (!o.trace_path.empty() && o.backend != Backend::Vulkan)
    usage_error("--trace records the Vulkan engine's routing; the {} backend does not write one", backend);
  o.prefetch = args.get("--prefetch").value_or("auto");
  if (o.prefetch != "auto" && o.prefetch != "on" && o.prefetch != "off")
    usage_error("unknown --prefetch mode '{}' (known: auto, on, off)", o.prefetch);
  o.cpu_experts = args.get("--cpu-experts").value_or("auto");
  if (o.cpu_experts != "auto" && o.cpu_experts != "on" && o.cpu_experts != "off")
    usage_error("unknown --cpu-experts mode '{}' (known: auto, on, off)", o.cpu_experts);
  o.profile = args.has("--profile");
  return o;
}

void sampler_options(Args& args) {
  args.option({"--temp"}).option({"--top-k"}).option({"--top-p"}).option({"--min-p"});
  args.option({"--repeat-penalty"}).option({"--repeat-last-n"}).option({"--seed"}).option({"--ignore-eos"}, false);
}

SamplerParams sampler_params_from(const Args& args) {
  SamplerParams p;
  p.temperature = static_cast<float>(args.get_float("--temp", p.temperature, 0.0, 100.0));
  p.top_k = static_cast<int32_t>(args.get_int("--top-k", p.top_k, 0, INT32_MAX));
  p.top_p = static_cast<float>(args.get_float("--top-p", p.top_p, 1e-6, 1.0));
  p.min_p = static_cast<float>(args.get_float("--min-p", p.min_p, 0.0, 1.0));
  p.repeat_penalty = static_cast<float>(args.get_float("--repeat-penalty", p.repeat_penalty, 1e-3, 1e3));
  p.repeat_last_n = static_cast<int32_t>(args.get_int("--repeat-last-n", p.repeat_last_n, 0, INT32_MAX));
  p.seed = static_cast<uint64_t>(args.get_int("--seed", static_cast<int64_t>(p.seed), 0, INT64_MAX));
  p.ignore_eos = args.has("--ignore-eos");
  p.validate();
  return p;
}

void print_generation_stats(const GenerationStats& st, const Engine& engine, bool stats) {
  auto rate = [](uint64_t n, double s) { return s > 0 ? n / s : 0.0; };
  std::fprintf(stderr, "\n[%s] prompt: %llu tokens in %.2f s (%.2f tok/s); generation: %llu tokens in %.2f s "
                       "(%.2f tok/s); stopped: %s\n",
               engine.backend_name().c_str(), (unsigned long long)st.prompt_tokens, st.prompt_seconds,
               rate(st.prompt_tokens, st.prompt_seconds), (unsigned long long)st.generated_tokens,
               st.generate_seconds, rate(st.generated_tokens, st.generate_seconds), stop_reason_text(st.stop));
  std::fprintf(stderr, "memory: device %s, context %u tokens\n",
               sched::format_size(engine.device_bytes()).c_str(), engine.n_ctx());
  if (stats && st.decode_totals.tokens) {
    const EvalStats& t = st.decode_totals;
    const double n = static_cast<double>(t.tokens);
    std::fprintf(stderr,
                 "per decoded token (%llu tokens): %.1f compute dispatches, %.1f barriers, %.1f host-device "
                 "round trips, %s of weights read\n",
                 (unsigned long long)t.tokens, t.dispatches / n, t.barriers / n, t.submits / n,
                 sched::format_size(static_cast<uint64_t>(t.weight_bytes / n)).c_str());
  }
  if (stats) {
    EvalStats all = st.prompt_totals;
    all += st.decode_totals;
    print_memory_and_streaming(engine, all);
  }
}

void print_memory_and_streaming(const Engine& engine, const EvalStats& stats) {
  const MemoryReport m = engine.memory_report();
  if (m.mode.empty()) return;  // not a GPU engine
  auto sz = [](uint64_t b) { return sched::format_size(b); };
  std::fprintf(stderr, "device memory: %s, budget %s, planned %s (%llu bytes), allocated %s (%llu bytes, "
                       "peak %llu); %llu of %llu experts in VRAM slots\n",
               m.mode.c_str(), sz(m.budget).c_str(), sz(m.planned).c_str(), (unsigned long long)m.planned,
               sz(m.allocated).c_str(), (unsigned long long)m.allocated, (unsigned long long)m.peak,
               (unsigned long long)m.n_slots, (unsigned long long)m.total_experts);
  if (!stats.streaming) return;
  if (m.cpu_experts.rfind("off", 0) == 0)
    std::fprintf(stderr, "cpu experts: %s\n", m.cpu_experts.c_str());
  else
    std::fprintf(stderr, "cpu experts: %s; measured at load: bus %.2f GB/s, cpu kernels %.2f GB/s (one token), "
                         "host round trip %.0f us\n",
                 m.cpu_experts.c_str(), m.bus_gbs, m.cpu_gbs, m.round_trip_us);
  for (size_t i = 0; i < stats.layers.size(); ++i) {
    const LayerStreamStats& l = stats.layers[i];
    std::fprintf(stderr, "  moe layer %2zu: hits %llu, misses %llu (on the cpu %llu), prefetch hits %llu, copied %s, "
                         "read in place %s, stalled %.2f ms, cpu %.2f ms, gpu waited for the cpu %.2f ms\n",
                 i, (unsigned long long)l.hits, (unsigned long long)l.misses, (unsigned long long)l.cpu_pairs,
                 (unsigned long long)l.prefetch_hits, sz(l.bytes_copied).c_str(), sz(l.bytes_in_place).c_str(),
                 l.stall_ms, l.cpu_ms, l.gpu_wait_ms);
  }
  const LayerStreamStats t = stats.total();
  if (t.predicted)
    std::fprintf(stderr, "prefetch: %llu experts predicted, %llu of them used by their layer (%.1f%%)\n",
                 (unsigned long long)t.predicted, (unsigned long long)t.predicted_used,
                 100.0 * t.predicted_used / double(t.predicted));
  const double uses = double(t.hits + t.misses);
  std::fprintf(stderr, "expert cache: hits %llu, misses %llu, hit rate %.1f%%, prefetch hits %llu, copied %s, "
                       "read in place %s, stalled %.2f ms (%llu tokens)\n",
               (unsigned long long)t.hits, (unsigned long long)t.misses, uses ? 100.0 * t.hits / uses : 0.0,
               (unsigned long long)t.prefetch_hits, sz(t.bytes_copied).c_str(), sz(t.bytes_in_place).c_str(),
               t.stall_ms, (unsigned long long)stats.tokens);
  if (t.cpu_pairs || m.cpu_experts.rfind("off", 0) != 0) {
    const double n = double(std::max<uint64_t>(1, stats.tokens));
    std::fprintf(stderr, "cpu experts: %llu computed on the cpu (%.2f per token), cpu %.2f ms, gpu waited for "
                         "the cpu %.2f ms (%.3f ms per token)\n",
                 (unsigned long long)t.cpu_pairs, t.cpu_pairs / n, t.cpu_ms, t.gpu_wait_ms, t.gpu_wait_ms / n);
  }
}

void print_profile(FILE* out, const std::string& title, const Engine& engine, uint64_t tokens,
                   double bandwidth_gbs) {
  const std::map<std::string, OpTime> ops = engine.op_profile();
  if (ops.empty()) {
    std::fprintf(out, "profile: nothing measured (%s has no GPU timestamps)\n", engine.backend_name().c_str());
    return;
  }
  std::vector<std::pair<std::string, OpTime>> rows(ops.begin(), ops.end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.ns > b.second.ns; });
  double total = 0;
  uint64_t bytes = 0, dispatches = 0;
  for (const auto& [name, t] : rows) total += t.ns, bytes += t.bytes, dispatches += t.dispatches;
  const double n = double(std::max<uint64_t>(1, tokens));
  std::fprintf(out, "\nprofile: %s, %llu tokens; GPU time between the timestamps around each dispatch, per token%s\n",
               title.c_str(), (unsigned long long)tokens,
               bandwidth_gbs > 0 ? fmt::format("; device bandwidth {:.1f} GB/s", bandwidth_gbs).c_str() : "");
  std::fprintf(out, "| op (pipeline) | dispatches | GPU us | share | weight bytes | GB/s | of bandwidth |\n");
  std::fprintf(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  auto line = [&](const std::string& name, uint64_t d, double ns, uint64_t b) {
    const double gbs = ns > 0 && b ? double(b) / ns : 0;  // bytes per ns = GB/s
    std::fprintf(out, "| %s | %.1f | %.1f | %.1f%% | %s | %s | %s |\n", name.c_str(), d / n, ns / n / 1e3,
                 total > 0 ? 100.0 * ns / total : 0.0, b ? sched::format_size(uint64_t(b / n)).c_str() : "-",
                 b ? fmt::format("{:.2f}", gbs).c_str() : "-",
                 b && bandwidth_gbs > 0 ? fmt::format("{:.1f}%", 100.0 * gbs / bandwidth_gbs).c_str() : "-");
  };
  for (const auto& [name, t] : rows) line(name, t.dispatches, t.ns, t.bytes);
  line("total", dispatches, total, bytes);
}

LoadedModel load_model(const gguf::File& file, const EngineOptions& options) {
  std::future<Tokenizer> tokenizer =
      std::async(std::launch::async, [&file] { return Tokenizer::from_gguf(file); });
  std::unique_ptr<Engine> engine = make_engine(file, options);  // an error here waits for the thread
  return {tokenizer.get(), std::move(engine)};
}

}  // namespace moevk::cli
