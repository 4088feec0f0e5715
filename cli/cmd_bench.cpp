// moevk bench: prompt (pp) and generation (tg) speed in the style of llama-bench, with the per
// decoded token figures that decide GPU speed and the bandwidth floor of decode:
//   floor (s/token) = weight bytes read per decoded token / device memory bandwidth.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/args.h"
#include "cli/bench_stream.h"
#include "cli/command.h"
#include "cli/common.h"
#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "loader/model/validate.h"
#include "runtime/model/engine.h"
#include "runtime/sched/size.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/context.h"
#include "runtime/vk/recorder.h"

namespace moevk::cli {

namespace {

constexpr const char* kUsage =
    "usage: moevk bench -m MODEL.gguf [options]\n\n"
    "Measures prompt processing (pp: N_PROMPT random token ids in one evaluation from position 0)\n"
    "and generation (tg: after a 16-token prefix, N_GEN evaluations of one token each, feeding "
    "the\n"
    "argmax) in tokens per second: one warm-up run, then REPS timed runs (min, median, max). Also\n"
    "prints per decoded token the compute dispatches, barriers, host-device round trips and "
    "weight\n"
    "bytes read, and the decode floor: weight bytes per token / memory bandwidth, with tg as a\n"
    "percent of it. Results go to stdout, progress to stderr.\n\n"
    "options:\n"
    "  -m, --model FILE      the GGUF model\n"
    "  -p, --n-prompt N      prompt tokens of the pp test (default 512; 0 = skip pp)\n"
    "  -n, --n-gen N         generated tokens of the tg test (default 128; 0 = skip tg)\n"
    "  -r, --repetitions N   timed runs of each test (default 3)\n"
    "  --bandwidth GB/s      memory bandwidth for the floor (default: measured with a 256 MiB\n"
    "                        device-to-device copy, read + write bytes; cpu backend: no floor)\n"
    "  -o, --output FORMAT   text (a table, default) or json\n"
    "  --gpu-mem LIST        an expert-streaming sweep: budgets as sizes, percentages of the\n"
    "                        resident size or min (e.g. 100%,50%,25%,min): one engine each, pp and\n"
    "                        tg tok/s, hit rate, bytes copied and read in place per token, and the\n"
    "                        tok/s the simulator predicts for the GPU below (a prediction)\n"
    "  --predict-bus GB/s    the predicted GPU's host-to-device rate (default 55, the H100's)\n"
    "  --predict-resident T  its tok/s when every expert hits (default 212: llama.cpp resident)\n"
    "  --predict-layers N    MoE layers of the full model predicted (default 48)\n"
    "  --predict-cpu GB/s    with --cpu-experts auto|on: the CPU's expert rate in the prediction\n"
    "                        (default 22: llama.cpp's CPU experts on the reference machine)\n"
    "  --predict-round-trip US  its host round trip per MoE layer (default 20)\n"

    "  -h, --help            this text\n"
    "  -c, --ctx-size N      context size in tokens (default: what the tests need,\n"
    "                        max(N_PROMPT, 16 + N_GEN))\n";

constexpr uint32_t kGenPrefix = 16;  // tokens evaluated (untimed) before the tg test
constexpr uint64_t kCopyBytes = 256ull << 20;
constexpr int kCopyRuns = 5;  // timed copies after one warm-up; the fastest counts
constexpr uint64_t kIdSeed = 0x5eed;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// llama.cpp's llama_ftype names (general.file_type), for the model column as llama-bench prints it.
std::optional<std::string> file_type_name(uint64_t ftype) {
  static const std::map<uint64_t, const char*> names = {
      {0, "F32"},
      {1, "F16"},
      {2, "Q4_0"},
      {3, "Q4_1"},
      {7, "Q8_0"},
      {8, "Q5_0"},
      {9, "Q5_1"},
      {10, "Q2_K - Medium"},
      {11, "Q3_K - Small"},
      {12, "Q3_K - Medium"},
      {13, "Q3_K - Large"},
      {14, "Q4_K - Small"},
      {15, "Q4_K - Medium"},
      {16, "Q5_K - Small"},
      {17, "Q5_K - Medium"},
      {18, "Q6_K"},
      {25, "IQ4_NL"},
      {30, "IQ4_XS"},
      {32, "BF16"},
      {38, "MXFP4 MoE"},
  };
  auto it = names.find(ftype);
  if (it == names.end()) return std::nullopt;
  return it->second;
}

struct ModelInfo {
  std::string path, name, arch, type;
  uint64_t size_bytes = 0;  // tensor data
  uint64_t params = 0;
  uint32_t n_layer = 0;
};

ModelInfo model_info(const gguf::File& file, const ModelDesc& d) {
  ModelInfo m;
  m.path = file.path();
  m.name = d.name;
  m.arch = std::string(arch_name(d.arch));
  m.n_layer = d.n_layer;
  std::map<std::string, uint64_t> matrix_bytes;  // by type, 2-D+ tensors only
  for (const auto& t : file.tensors()) {
    m.size_bytes += t.n_bytes;
    m.params += t.n_elements;
    if (t.n_dims >= 2) matrix_bytes[std::string(traits(t.type).name)] += t.n_bytes;
  }
  std::optional<std::string> ft;
  if (auto v = file.get_uint("general.file_type")) ft = file_type_name(*v);
  if (ft) {
    m.type = *ft;
  } else if (!matrix_bytes.empty()) {  // no (known) file type: the type holding most bytes
    m.type = std::max_element(matrix_bytes.begin(), matrix_bytes.end(), [](auto& a, auto& b) {
               return a.second < b.second;
             })->first;
  }
  return m;
}

std::string format_params(uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f} K", n / 1e3);
  return fmt::format("{}", n);
}

// Token ids for the tests: seeded random picks among the normal tokens (tokenizer.ggml.token_type
// 1: no control, end-of-generation, unused or byte tokens), or among all ids without a type list.
class IdSource {
 public:
  IdSource(const gguf::File& file, uint32_t n_vocab) : rng_(kIdSeed) {
    if (auto types = file.get_int_array("tokenizer.ggml.token_type");
        types && types->size() == n_vocab)
      for (uint32_t i = 0; i < n_vocab; ++i)
        if ((*types)[i] == 1) pool_.push_back(static_cast<int32_t>(i));
    if (pool_.empty())
      for (uint32_t i = 0; i < n_vocab; ++i) pool_.push_back(static_cast<int32_t>(i));
  }
  std::vector<int32_t> take(uint32_t n) {
    std::uniform_int_distribution<size_t> pick(0, pool_.size() - 1);
    std::vector<int32_t> ids(n);
    for (int32_t& id : ids) id = pool_[pick(rng_)];
    return ids;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<int32_t> pool_;
};

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

void add(EvalStats& total, const EvalStats& s) { total += s; }

struct Bandwidth {
  double gb_s = 0;  // 10^9 bytes per second, read + write bytes for a measured copy
  std::string method;
};

// Device memory bandwidth: a device-to-device buffer copy, counting read + write bytes (as the
// perf README's "device memory copy" does), timed with GPU timestamps where the device has them.
Bandwidth measure_bandwidth(int device) {
  vk::DeviceOptions o = vk::DeviceOptions::from_env();
  if (device >= 0) o.device_index = device;
  vk::Context ctx(o);
  const vk::Features& f = ctx.features();
  uint64_t n = kCopyBytes;
  if (f.max_allocation) n = std::min(n, f.max_allocation & ~uint64_t(255));
  vk::Buffer a(ctx, n, vk::MemoryKind::Device, "bandwidth copy source");
  vk::Buffer b(ctx, n, vk::MemoryKind::Device, "bandwidth copy destination");
  const vk::View va{&a, 0, n}, vb{&b, 0, n};
  vk::Recorder rec(ctx, /*on_transfer_queue=*/false, /*max_timestamps=*/2);
  rec.fill(va, 0x3f800000u);
  rec.submit_and_wait();
  const bool ts = f.timestamps && f.timestamp_period_ns > 0;
  double best = 0;
  bool used_ts = false;
  for (int i = 0; i <= kCopyRuns; ++i) {
    rec.barrier();  // orders this copy after the previous one
    rec.timestamp();
    rec.copy(va, vb, n);
    rec.timestamp();
    const Clock::time_point t0 = Clock::now();
    rec.submit_and_wait();
    double s = seconds_since(t0);
    bool from_ts = false;
    if (ts) {
      const std::vector<double> ns = rec.timestamps_ns();
      if (ns.size() == 2 && ns[1] > ns[0]) {
        s = (ns[1] - ns[0]) * 1e-9;
        from_ts = true;
      }
    }
    if (i == 0 || s <= 0) continue;  // warm-up
    const double rate = 2.0 * double(n) / s / 1e9;
    if (rate > best) best = rate, used_ts = from_ts;
  }
  Bandwidth bw;
  bw.gb_s = best;
  bw.method = fmt::format("measured on {}: {} device-to-device copy, read + write bytes, {}",
                          f.name, sched::format_size(n), used_ts ? "GPU timestamps" : "wall clock");
  return bw;
}

struct Summary {
  double min = 0, median = 0, max = 0;
};

Summary summarise(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  const size_t m = v.size() / 2;
  s.median = v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  return s;
}

struct TestResult {
  std::string name;  // "pp512", "tg128"
  uint32_t n_prompt = 0, n_gen = 0;
  std::vector<double> seconds, tok_s;
  Summary rate;
};

// A markdown table whose columns are padded to their widest cell; `right` marks numeric columns.
std::string table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right) {
  std::vector<size_t> w(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], r[c].size());
  std::string out;
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t c = 0; c < r.size(); ++c)
      out += right[c] ? fmt::format("| {:>{}} ", r[c], w[c]) : fmt::format("| {:<{}} ", r[c], w[c]);
    out += "|\n";
  };
  line(rows[0]);
  for (size_t c = 0; c < w.size(); ++c)
    out += "| " + std::string(w[c] - (right[c] ? 1 : 0), '-') + (right[c] ? ":" : "") + " ";
  out += "|\n";
  for (size_t i = 1; i < rows.size(); ++i) line(rows[i]);
  return out;
}

std::string device_of(const Engine& engine) {
  const std::string b = engine.backend_name();  // "vulkan (NAME)", "cpu" or "ref"
  const size_t open = b.find(" (");
  if (open != std::string::npos && b.back() == ')') return b.substr(open + 2, b.size() - open - 3);
  if (b == "cpu") return "CPU (runtime/cpu SIMD kernels)";
  if (b == "ref") return "CPU (the double-precision reference)";
  return b;
}

}  // namespace

static int cmd_bench(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-m", "--model"}).option({"-p", "--n-prompt"}).option({"-n", "--n-gen"});
  args.option({"-r", "--repetitions"}).option({"--bandwidth"}).option({"-o", "--output"});
  args.option({"--predict-bus"}).option({"--predict-resident"}).option({"--predict-layers"});
  args.option({"--predict-cpu"}).option({"--predict-round-trip"});
  args.option({"-h", "--help"}, false);
  engine_options(args);
  if (!args.parse(argv, "bench", kUsage)) return 2;
  if (args.has("--help")) {
    // The shared engine help after its -c line, whose default differs here.
    const char* rest = kEngineHelp;
    if (std::string_view(kEngineHelp).starts_with("  -c, --ctx-size"))
      rest = std::strchr(kEngineHelp, '\n') + 1;
    std::printf("%s%s", kUsage, rest);
    return 0;
  }
  const std::string model = args.require("--model");
  const auto n_prompt = static_cast<uint32_t>(args.get_int("--n-prompt", 512, 0, 1 << 20));
  const auto n_gen = static_cast<uint32_t>(args.get_int("--n-gen", 128, 0, 1 << 20));
  const int reps = static_cast<int>(args.get_int("--repetitions", 3, 1, 1000));
  const std::string output = args.get("--output").value_or("text");
  if (output != "text" && output != "json")
    usage_error("option --output: unknown format '{}' (expected text or json)", output);
  if (n_prompt == 0 && n_gen == 0)
    usage_error("nothing to measure: options --n-prompt and --n-gen are both 0 (one must be in [1, {}])", 1 << 20);
  std::optional<double> given_bw;
  if (args.has("--bandwidth")) {
    given_bw = args.get_float("--bandwidth", 0);
    if (*given_bw <= 0)
      usage_error("option --bandwidth: expected GB/s > 0, got '{}'", *args.get("--bandwidth"));
  }
  if (auto g = args.get("--gpu-mem"); g && is_budget_sweep(*g)) {
    check_budget_list(*g);
    StreamBenchOptions so;
    so.budgets = *g;
    so.n_prompt = std::min<uint32_t>(n_prompt, 512);
    so.n_gen = n_gen;
    so.predict_bus_gbs = args.get_float("--predict-bus", so.predict_bus_gbs);
    so.predict_resident_tok_s = args.get_float("--predict-resident", so.predict_resident_tok_s);
    so.predict_layers = static_cast<uint32_t>(args.get_int("--predict-layers", so.predict_layers, 1, 4096));
    if (so.predict_bus_gbs <= 0 || so.predict_resident_tok_s <= 0)
      usage_error("options --predict-bus and --predict-resident must be positive");
    EngineOptions eo;
    eo.n_ctx = static_cast<uint32_t>(args.get_int("--ctx-size", 0, 1, 1 << 20));
    eo.device = static_cast<int>(args.get_int("--device", -1, 0, 1024));
    eo.cache_policy = args.get("--cache-policy").value_or("lfu");
    eo.cpu_experts = args.get("--cpu-experts").value_or("auto");
    // The names engine_options_from() checks, as usage errors here too.
    if (eo.cache_policy != "lfu" && eo.cache_policy != "lru")
      usage_error("unknown cache policy '{}' (known: lfu, lru)", eo.cache_policy);
    if (eo.cpu_experts != "auto" && eo.cpu_experts != "on" && eo.cpu_experts != "off")
      usage_error("unknown --cpu-experts mode '{}' (known: auto, on, off)", eo.cpu_experts);
    if (const std::string b = args.get("--backend").value_or("vulkan"); b != "vulkan")
      usage_error("option --gpu-mem: a budget sweep measures the vulkan backend, not --backend {}", b);
    so.predict_cpu_gbs = args.get_float("--predict-cpu", so.predict_cpu_gbs);
    so.predict_round_trip_us = args.get_float("--predict-round-trip", so.predict_round_trip_us);
    if (so.predict_cpu_gbs <= 0 || so.predict_round_trip_us < 0)
      usage_error("options --predict-cpu must be positive and --predict-round-trip not negative");
    const gguf::File file = gguf::File::open(model);
    validate(file, /*need_weights=*/true, "moevk bench");
    return bench_streaming(file, eo, so);
  }
  EngineOptions eo = engine_options_from(args);

  const gguf::File file = gguf::File::open(model);
  validate(file, /*need_weights=*/true, "moevk bench");
  const ModelDesc desc = describe(file);
  const ModelInfo info = model_info(file, desc);
  // pp and tg each start at position 0: the context must hold the longer of the two.
  const uint32_t need = std::max(n_prompt, n_gen ? kGenPrefix + n_gen : 0u);
  if (eo.n_ctx == 0) {
    eo.n_ctx = need;
    if (desc.n_ctx_train && need > desc.n_ctx_train)
      std::fprintf(stderr,
                   "moevk bench: note: the tests use %u positions, more than the model's "
                   "training context (%u)\n",
                   need, desc.n_ctx_train);
  } else if (need > eo.n_ctx) {
    fail(
        "the tests need {} positions (pp: -p {}, tg: {} prefix + -n {} tokens) but the context is "
        "{} (-c); raise -c to at least {} or leave it out",
        need, n_prompt, kGenPrefix, n_gen, eo.n_ctx, need);
  }

  // Bandwidth before the model loads, so the copy buffers do not compete with the weights.
  std::optional<Bandwidth> bw;
  if (given_bw) {
    bw = Bandwidth{*given_bw, "given (--bandwidth)"};
  } else if (eo.backend == Backend::Vulkan) {
    std::fprintf(stderr, "moevk bench: measuring device memory bandwidth...\n");
    try {
      bw = measure_bandwidth(eo.device);
    } catch (const Error& e) {
      std::fprintf(stderr, "moevk bench: warning: bandwidth not measured (%s); no floor\n",
                   e.what());
    }
    if (bw && bw->gb_s <= 0) bw.reset();
  }

  std::unique_ptr<Engine> engine = make_engine(file, eo);
  const std::string backend = eo.backend == Backend::Vulkan ? "vulkan"
                              : eo.backend == Backend::Cpu  ? "cpu"
                                                            : "ref";
  const std::string device = device_of(*engine);
  IdSource ids(file, desc.n_vocab);
  const std::vector<int32_t> prompt = ids.take(n_prompt);
  const std::vector<int32_t> prefix = ids.take(kGenPrefix);

  auto run_pp = [&](EvalStats* stats) {
    const Clock::time_point t0 = Clock::now();
    engine->eval(prompt, 0, Logits::Last);
    const double s = seconds_since(t0);
    if (stats) *stats = engine->last_stats();
    return s;
  };
  auto run_tg = [&](uint32_t n, EvalStats* total) {
    int32_t next = argmax(engine->eval(prefix, 0, Logits::Last));
    uint32_t pos = kGenPrefix;
    const Clock::time_point t0 = Clock::now();
    for (uint32_t i = 0; i < n; ++i) {
      next = argmax(engine->eval(std::span(&next, 1), pos++, Logits::Last));
      if (total) add(*total, engine->last_stats());
    }
    return seconds_since(t0);
  };

  std::vector<TestResult> results;
  EvalStats pp_stats, tg_stats;
  if (n_prompt) {
    TestResult r{fmt::format("pp{}", n_prompt), n_prompt, 0};
    std::fprintf(stderr, "moevk bench: %s warm-up\n", r.name.c_str());
    run_pp(nullptr);
    for (int i = 0; i < reps; ++i) {
      r.seconds.push_back(run_pp(&pp_stats));
      r.tok_s.push_back(n_prompt / r.seconds.back());
      std::fprintf(stderr, "moevk bench: %s run %d/%d: %.2f tok/s\n", r.name.c_str(), i + 1, reps,
                   r.tok_s.back());
    }
    r.rate = summarise(r.tok_s);
    results.push_back(std::move(r));
  }
  if (n_gen) {
    TestResult r{fmt::format("tg{}", n_gen), 0, n_gen};
    std::fprintf(stderr, "moevk bench: %s warm-up\n", r.name.c_str());
    run_tg(std::min(n_gen, 2u), nullptr);
    for (int i = 0; i < reps; ++i) {
      r.seconds.push_back(run_tg(n_gen, &tg_stats));
      r.tok_s.push_back(n_gen / r.seconds.back());
      std::fprintf(stderr, "moevk bench: %s run %d/%d: %.2f tok/s\n", r.name.c_str(), i + 1, reps,
                   r.tok_s.back());
    }
    r.rate = summarise(r.tok_s);
    results.push_back(std::move(r));
  }

  // --profile: one more pp and tg run each, with timestamps around every dispatch (after the timed
  // runs, which the timestamps would slow).
  std::string profile_text;
  auto profile = [&](const std::string& title, uint32_t tokens, const std::function<void()>& run) {
    engine->reset_profile();
    engine->set_profiling(true);
    run();
    engine->set_profiling(false);
    char* buf = nullptr;
    size_t len = 0;
    FILE* mem = open_memstream(&buf, &len);
    if (!mem) fail("--profile: cannot make a memory stream");
    print_profile(mem, title, *engine, tokens, bw ? bw->gb_s : 0);
    std::fclose(mem);
    profile_text.append(buf, len);
    std::free(buf);
  };
  if (eo.profile && n_prompt) profile(fmt::format("pp{}", n_prompt), n_prompt, [&] { run_pp(nullptr); });
  if (eo.profile && n_gen)
    profile(fmt::format("tg{}", n_gen), n_gen, [&] {
      int32_t next = argmax(engine->eval(prefix, 0, Logits::Last));
      engine->reset_profile();  // the decoded tokens only, not the prefix batch
      for (uint32_t i = 0; i < n_gen; ++i)
        next = argmax(engine->eval(std::span(&next, 1), kGenPrefix + i, Logits::Last));
    });

  // Per decoded token figures; a backend that counts nothing (cpu) gets the weight bytes from the
  // file.
  const bool counted = tg_stats.tokens && tg_stats.dispatches;
  const double nt = tg_stats.tokens ? double(tg_stats.tokens) : 1.0;
  const uint64_t wbytes = counted && tg_stats.weight_bytes
                              ? static_cast<uint64_t>(tg_stats.weight_bytes / nt)
                              : weight_bytes_per_token(file, desc);
  struct Floor {
    double ms_per_token, tok_s, percent;
  };
  std::optional<Floor> floor;
  const TestResult* tg = n_gen ? &results.back() : nullptr;
  if (bw && wbytes) {
    const double s = double(wbytes) / (bw->gb_s * 1e9);
    floor = Floor{s * 1e3, 1.0 / s, tg ? 100.0 * tg->rate.median * s : 0.0};
  }
  const std::string model_col = info.arch + (info.type.empty() ? "" : " " + info.type);

  if (output == "json") {
    using nlohmann::ordered_json;
    ordered_json j;
    j["model"] = {{"path", info.path},       {"name", info.name},
                  {"arch", info.arch},       {"type", info.type},
                  {"n_layer", info.n_layer}, {"size_bytes", info.size_bytes},
                  {"params", info.params}};
    j["backend"] = backend;
    j["device"] = device;
    j["n_ctx"] = engine->n_ctx();
    j["warmup_runs"] = 1;
    j["repetitions"] = reps;
    j["tests"] = ordered_json::array();
    for (const TestResult& r : results)
      j["tests"].push_back(
          {{"test", r.name},
           {"n_prompt", r.n_prompt},
           {"n_gen", r.n_gen},
           {"tok_s", {{"min", r.rate.min}, {"median", r.rate.median}, {"max", r.rate.max}}},
           {"samples_tok_s", r.tok_s},
           {"samples_seconds", r.seconds}});
    auto per = [](const EvalStats& s, double n) -> ordered_json {
      return {{"dispatches", s.dispatches / n},
              {"barriers", s.barriers / n},
              {"host_device_round_trips", s.submits / n},
              {"weight_bytes", s.weight_bytes / n}};
    };
    j["per_decoded_token"] = nullptr;
    if (n_gen) {
      j["per_decoded_token"] = counted ? per(tg_stats, nt) : ordered_json::object();
      j["per_decoded_token"]["weight_bytes"] = wbytes;
      j["per_decoded_token"]["counted_by_engine"] = counted;
    }
    j["prompt_eval"] = n_prompt && pp_stats.dispatches ? per(pp_stats, 1.0) : ordered_json(nullptr);
    j["bandwidth"] =
        bw ? ordered_json{{"gb_s", bw->gb_s}, {"method", bw->method}} : ordered_json(nullptr);
    j["floor"] = nullptr;
    if (floor) {
      j["floor"] = {{"formula", "weight bytes per decoded token / bandwidth"},
                    {"ms_per_token", floor->ms_per_token},
                    {"tok_s", floor->tok_s}};
      j["floor"]["tg_percent_of_floor"] = tg ? ordered_json(floor->percent) : ordered_json(nullptr);
    }
    std::printf("%s\n", j.dump(2).c_str());
    std::fputs(profile_text.c_str(), stderr);  // stdout holds only the JSON
    return 0;
  }

  std::string out;
  out += fmt::format("model: {} ({}), {} layers, {}, {} parameters\n",
                     info.name.empty() ? "unnamed" : info.name, info.path, info.n_layer,
                     sched::format_size(info.size_bytes), format_params(info.params));
  out += fmt::format("device: {}, {} backend, context {} tokens, {} timed runs after 1 warm-up\n",
                     device, backend, engine->n_ctx(), reps);
  if (bw) out += fmt::format("memory bandwidth: {:.1f} GB/s ({})\n", bw->gb_s, bw->method);
  out += "\n";
  std::vector<std::vector<std::string>> rows = {
      {"model", "size", "params", "backend", "test", "tok/s (median)", "min", "max"}};
  for (const TestResult& r : results)
    rows.push_back({model_col, sched::format_size(info.size_bytes), format_params(info.params),
                    backend, r.name, fmt::format("{:.2f}", r.rate.median),
                    fmt::format("{:.2f}", r.rate.min), fmt::format("{:.2f}", r.rate.max)});
  out += table(rows, {false, true, true, false, false, true, true, true});
  if (n_gen) {
    out += "\n";
    if (counted)
      out += fmt::format(
          "per decoded token: {:.1f} compute dispatches, {:.1f} barriers, {:.1f} host-device "
          "round trips, {} of weights read\n",
          tg_stats.dispatches / nt, tg_stats.barriers / nt, tg_stats.submits / nt,
          sched::format_size(wbytes));
    else
      out += fmt::format(
          "per decoded token: {} of weights read (from the file; the {} backend counts no "
          "dispatches)\n",
          sched::format_size(wbytes), backend);
  }
  if (floor) {
    out += fmt::format("floor: {} per token / {:.1f} GB/s = {:.3f} ms/token ({:.1f} tok/s)",
                       sched::format_size(wbytes), bw->gb_s, floor->ms_per_token, floor->tok_s);
    if (tg)
      out += fmt::format("; {} at {:.2f} tok/s is {:.2f}% of the floor", tg->name, tg->rate.median,
                         floor->percent);
    out += "\n";
  } else if (n_gen && eo.backend != Backend::Vulkan) {
    out += fmt::format("floor: not computed for the {} backend (give --bandwidth GB/s)\n", backend);
  }
  out += profile_text;
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  // Device memory and, when streaming, the expert cache over the timed decode runs (stderr).
  if (eo.backend == Backend::Vulkan) print_memory_and_streaming(*engine, tg_stats);
  return 0;
}

MOEVK_COMMAND("bench",
              "prompt and generation speed (llama-bench style), per-token figures, decode floor",
              cmd_bench);

}  // namespace moevk::cli
