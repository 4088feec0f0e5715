// moevk info MODEL: architecture, hyper-parameters, tensor types, sizes and the memory plan.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/args.h"
#include "cli/command.h"
#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "loader/model/validate.h"
#include "runtime/sched/memory_plan.h"
#include "runtime/sched/size.h"

namespace moevk::cli {

namespace {

constexpr const char* kInfoUsage = R"(usage: moevk info MODEL.gguf [options]

Prints the architecture, hyper-parameters, tensor counts by type, the byte breakdown of the file
(header + tensor data + padding == file size) and the GPU memory plan.

options:
  --gpu-mem SIZE   plan for this GPU budget (6G, 512M, 1.5GiB, 123456; G = GiB = 2^30 bytes).
                   Refused with the breakdown (exit 1) when below the model's minimum.
                   Without it: the resident plan (every expert on the GPU) and what it needs.
  --min-gpu-mem    print, as the last line, the smallest budget in bytes at which the model runs
  --ctx N          context length the KV cache is planned for (default: the model's
                   training context, at most 4096)
  --batch N        prefill batch size for the scratch estimate (default 512)
  -h, --help       this text
)";

std::string both(uint64_t b) { return fmt::format("{} ({} bytes)", sched::format_size(b), b); }

int cmd_info(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-h", "--help"}, false).option({"--gpu-mem"}).option({"--min-gpu-mem"}, false);
  args.option({"--ctx"}).option({"--batch"}).positionals();
  if (!args.parse(argv, "info", kInfoUsage)) return 2;
  if (args.has("--help")) {
    std::fputs(kInfoUsage, stdout);
    return 0;
  }
  if (args.positional().size() > 1)
    usage_error("more than one model given: '{}' and '{}' (info takes one)", args.positional()[0],
                args.positional()[1]);
  if (args.positional().empty()) {
    std::fprintf(stderr, "moevk info: no model given\n\n%s", kInfoUsage);
    return 2;
  }
  const std::string path = args.positional()[0];
  std::optional<uint64_t> budget;
  if (args.has("--gpu-mem")) {
    budget = args.get_size("--gpu-mem", 0);
    if (*budget == 0) usage_error("option --gpu-mem: the budget must be more than 0 bytes");
  }
  std::optional<uint64_t> ctx;
  // The ranges of run's -c and of a prompt batch: a plan for more could not be run.
  if (args.has("--ctx")) ctx = static_cast<uint64_t>(args.get_int("--ctx", 0, 1, 1 << 20));
  const uint64_t batch = static_cast<uint64_t>(args.get_int("--batch", 512, 1, 1 << 20));
  const bool min_only = args.has("--min-gpu-mem");

  const gguf::File file = gguf::File::open(path);
  validate(file, /*need_weights=*/true, "moevk info");
  const ModelDesc desc = describe(file);

  // Byte breakdown: header, tensor data, padding between tensors and after the last one.
  std::vector<const gguf::TensorInfo*> by_offset;
  for (const auto& t : file.tensors()) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  uint64_t data_bytes = 0, gap_bytes = 0, end = 0;
  for (const gguf::TensorInfo* t : by_offset) {
    if (t->offset < end)
      fail("tensor '{}' at data offset {} overlaps the previous tensor (which ends at {})", t->name,
           t->offset, end);
    gap_bytes += t->offset - end;
    end = t->offset + t->n_bytes;
    data_bytes += t->n_bytes;
  }
  const uint64_t header = file.data_offset();
  if (header + end > file.file_size())
    fail("tensor data ends at byte {} past the end of the file ({} bytes)", header + end,
         file.file_size());
  const uint64_t tail = file.file_size() - header - end;
  MOEVK_ASSERT(header + data_bytes + gap_bytes + tail == file.file_size(), "size breakdown");

  sched::PlanOptions opt;
  opt.n_ctx = ctx.value_or(std::min<uint64_t>(desc.n_ctx_train ? desc.n_ctx_train : 4096, 4096));
  opt.n_batch = batch;
  opt.budget = budget.value_or(0);
  const sched::PlanInput in = sched::plan_input_from_file(file);
  const sched::MemoryPlan plan = sched::plan_memory(in, opt);

  std::string out;
  out += fmt::format("file                   {}\n", path);
  out +=
      fmt::format("GGUF version           {}, alignment {}, {} tensors, {} metadata keys\n",
                  file.version(), file.alignment(), file.tensors().size(), file.metadata().size());
  out += describe_summary(desc);

  // Tensor counts by type.
  struct TypeAcc {
    uint64_t count = 0, bytes = 0, elements = 0;
  };
  std::map<std::string, TypeAcc> types;
  for (const auto& t : file.tensors()) {
    TypeAcc& acc = types[std::string(traits(t.type).name)];
    ++acc.count;
    acc.bytes += t.n_bytes;
    acc.elements += t.n_elements;
  }
  out += "\ntensors by type:\n";
  uint64_t n_elements = 0;
  for (const auto& [name, acc] : types) {
    out += fmt::format("  {:<8} {:>5} tensors {:>12} {:>14} bytes  {:.2f} bits/weight\n", name,
                       acc.count, sched::format_size(acc.bytes), acc.bytes,
                       acc.elements ? 8.0 * acc.bytes / acc.elements : 0.0);
    n_elements += acc.elements;
  }
  out +=
      fmt::format("  total    {:>5} tensors, {} parameters\n", file.tensors().size(), n_elements);

  out += "\nfile size breakdown:\n";
  out += fmt::format("  header (metadata + tensor infos + alignment)  {:>14} bytes\n", header);
  out += fmt::format("  tensor data                                   {:>14} bytes\n", data_bytes);
  out += fmt::format("  padding between tensors                       {:>14} bytes\n", gap_bytes);
  out += fmt::format("  padding after the last tensor                 {:>14} bytes\n", tail);
  out += fmt::format("  file size                                     {:>14} bytes ({})\n",
                     file.file_size(), sched::format_size(file.file_size()));

  out += "\nweights:\n";
  out += fmt::format("  non-expert (attention, norms, routers, shared/dense FFN, embeddings)  {}\n",
                     both(plan.non_expert_bytes));
  out += fmt::format("  routed experts ({} MoE layers x {} experts)  {}\n", plan.moe_layers.size(),
                     desc.n_expert, both(plan.expert_total_bytes));
  for (const sched::MoeLayerSize& l : plan.moe_layers)
    out += fmt::format("    layer {:>3}: one expert {:>10} bytes ({})\n", l.layer, l.expert_bytes,
                       l.types);

  out += fmt::format("\nmemory plan (context {}, batch {}):\n", opt.n_ctx, opt.n_batch);
  out += plan.describe();
  if (!budget) {
    out += fmt::format("  resident needs {}; the minimum to run is {}\n", both(plan.resident_bytes),
                       both(plan.min_budget));
  }
  std::fputs(out.c_str(), stdout);

  if (plan.mode == sched::PlanMode::Impossible) {
    std::fflush(stdout);
    std::fprintf(stderr, "moevk info: error: %s", plan.error.c_str());
    return 1;
  }
  if (min_only) std::printf("%llu\n", static_cast<unsigned long long>(plan.min_budget));
  return 0;
}

}  // namespace

MOEVK_COMMAND("info", "architecture, hyper-parameters, sizes and memory plan of a model", cmd_info);

}  // namespace moevk::cli
