// The C API (runtime/include/moevk.h): runtimes, models, tokens and chat templates. Sessions and
// generation are in session_api.cpp. Every entry point runs its body inside call(), which turns any
// exception into a status code and the thread's last-error message.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "loader/model/validate.h"
#include "runtime/api/call.h"
#include "runtime/sched/size.h"

using namespace moevk;
using namespace moevk::api;

namespace moevk::api {

namespace {
thread_local std::string t_last_error;

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }
}  // namespace

[[noreturn]] void raise(moevk_status code, std::string message) {
  throw ApiError{code, std::move(message)};
}

const char* last_error_text() noexcept { return t_last_error.c_str(); }

moevk_status call_impl(moevk_status fallback, const std::function<void()>& body) noexcept {
  try {
    body();
    t_last_error.clear();
    return MOEVK_OK;
  } catch (const ApiError& e) {
    t_last_error = e.message;
    return e.code;
  } catch (const LoadCancelled& e) {
    t_last_error = e.what();
    return MOEVK_ERR_CANCELLED;
  } catch (const Error& e) {
    t_last_error = e.what();
    const std::string& m = t_last_error;
    if (contains(m, "budget exceeded") || contains(m, "out of device memory") ||
        contains(m, "OUT_OF_DEVICE_MEMORY") || contains(m, "too small for this model") ||
        contains(m, "GPU memory") || contains(m, "budget"))
      return MOEVK_ERR_OUT_OF_MEMORY;
    if (contains(m, "internal error")) return MOEVK_ERR_INTERNAL;
    if (contains(m, "VK_ERROR") || contains(m, "Vulkan")) return MOEVK_ERR_DEVICE;
    return fallback;
  } catch (const std::bad_alloc&) {
    t_last_error = "out of host memory";
    return MOEVK_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    t_last_error = std::string("internal error: ") + e.what();
    return MOEVK_ERR_INTERNAL;
  } catch (...) {
    t_last_error = "internal error: unknown exception";
    return MOEVK_ERR_INTERNAL;
  }
}

Registry<moevk_runtime>& runtimes() {
  static Registry<moevk_runtime> r;
  return r;
}
Registry<moevk_model>& models() {
  static Registry<moevk_model> r;
  return r;
}
Registry<moevk_session>& sessions() {
  static Registry<moevk_session> r;
  return r;
}

void require(bool ok, const char* what) {
  if (!ok) raise(MOEVK_ERR_INVALID_ARGUMENT, what);
}

void copy_out(const std::string& s, char* buf, size_t capacity, size_t* n_bytes) {
  require(n_bytes != nullptr, "n_bytes is NULL");
  require(buf != nullptr || capacity == 0, "buf is NULL with a non-zero capacity");
  *n_bytes = s.size();
  if (s.size() > capacity)
    raise(MOEVK_ERR_BUFFER_TOO_SMALL,
          fmt::format("the text needs {} bytes, the buffer holds {}", s.size(), capacity));
  if (!s.empty()) std::memcpy(buf, s.data(), s.size());
  if (s.size() < capacity) buf[s.size()] = '\0';
}

void copy_out(const std::vector<int32_t>& ids, int32_t* out, size_t capacity, size_t* n) {
  require(n != nullptr, "n_tokens is NULL");
  require(out != nullptr || capacity == 0, "tokens is NULL with a non-zero capacity");
  *n = ids.size();
  if (ids.size() > capacity)
    raise(MOEVK_ERR_BUFFER_TOO_SMALL,
          fmt::format("{} tokens, the buffer holds {}", ids.size(), capacity));
  if (!ids.empty()) std::memcpy(out, ids.data(), ids.size() * sizeof(int32_t));
}

template <typename T>
size_t struct_size_of(const T* p) {
  return p ? std::min<size_t>(p->struct_size, sizeof(T)) : 0;
}

// Copies the caller's struct over the defaults, only as far as the caller's struct_size goes.
template <typename T>
T read_params(const T* in, const T& defaults) {
  T out = defaults;
  if (!in) return out;
  if (in->struct_size < sizeof(uint32_t))
    raise(MOEVK_ERR_INVALID_ARGUMENT, "struct_size is not set (call the *_init function)");
  std::memcpy(&out, in, struct_size_of(in));
  out.struct_size = sizeof(T);
  return out;
}

}  // namespace moevk::api

void moevk_runtime::message(moevk_log_level level, const std::string& text) const {
  if (log) {
    log(log_user, level, text.c_str());
  } else if (level <= MOEVK_LOG_WARN ||
             std::getenv("MOEVK_VERBOSE")) {  // stderr: no info unless asked
    static const char* names[] = {"error", "warning", "info"};
    std::fprintf(stderr, "moevk: %s: %s\n", names[level < 3 ? level : 2], text.c_str());
  }
}

extern "C" {

uint32_t moevk_api_version(void) { return MOEVK_API_VERSION; }

const char* moevk_last_error(void) { return last_error_text(); }

const char* moevk_status_name(moevk_status s) {
  switch (s) {
    case MOEVK_OK:
      return "MOEVK_OK";
    case MOEVK_ERR_INVALID_ARGUMENT:
      return "MOEVK_ERR_INVALID_ARGUMENT";
    case MOEVK_ERR_BAD_HANDLE:
      return "MOEVK_ERR_BAD_HANDLE";
    case MOEVK_ERR_IO:
      return "MOEVK_ERR_IO";
    case MOEVK_ERR_MODEL:
      return "MOEVK_ERR_MODEL";
    case MOEVK_ERR_DEVICE:
      return "MOEVK_ERR_DEVICE";
    case MOEVK_ERR_OUT_OF_MEMORY:
      return "MOEVK_ERR_OUT_OF_MEMORY";
    case MOEVK_ERR_CANCELLED:
      return "MOEVK_ERR_CANCELLED";
    case MOEVK_ERR_STOPPED:
      return "MOEVK_ERR_STOPPED";
    case MOEVK_ERR_BUSY:
      return "MOEVK_ERR_BUSY";
    case MOEVK_ERR_CONTEXT_FULL:
      return "MOEVK_ERR_CONTEXT_FULL";
    case MOEVK_ERR_BUFFER_TOO_SMALL:
      return "MOEVK_ERR_BUFFER_TOO_SMALL";
    case MOEVK_ERR_NO_GENERATION:
      return "MOEVK_ERR_NO_GENERATION";
    case MOEVK_ERR_INTERNAL:
      return "MOEVK_ERR_INTERNAL";
  }
  return "MOEVK_ERR_(unknown)";
}

// ---------------------------------------------------------------- runtime

void moevk_runtime_params_init(moevk_runtime_params* p) {
  if (!p) return;
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
  p->device_index = -1;
}

void moevk_vulkan_device_init(moevk_vulkan_device* d) {
  if (!d) return;
  std::memset(d, 0, sizeof *d);
  d->struct_size = sizeof *d;
}

static moevk_runtime_params default_runtime_params() {
  moevk_runtime_params p;
  moevk_runtime_params_init(&p);
  return p;
}

static vk::GlobalPriority priority_of(moevk_priority p) {
  switch (p) {
    case MOEVK_PRIORITY_LOW:
      return vk::GlobalPriority::Low;
    case MOEVK_PRIORITY_MEDIUM:
      return vk::GlobalPriority::Medium;
    case MOEVK_PRIORITY_HIGH:
      return vk::GlobalPriority::High;
    case MOEVK_PRIORITY_REALTIME:
      return vk::GlobalPriority::Realtime;
    default:
      return vk::GlobalPriority::Default;
  }
}

// The runtime's figures now (the GPU lock held, or the runtime not yet shared).
static void refresh_info(moevk_runtime* rt) {
  moevk_runtime_info& i = rt->last_info;
  moevk_runtime_info_init(&i);
  const vk::Context& c = *rt->ctx;
  std::snprintf(i.device_name, sizeof i.device_name, "%s", c.features().name.c_str());
  i.own_device = rt->own ? 1 : 0;
  i.priority = static_cast<moevk_priority>(c.global_priority());
  i.vram_cap_bytes = c.memory().budget;
  i.vram_allocated_bytes = c.memory().allocated;
  i.vram_peak_bytes = c.memory().peak;
  i.vram_allocations = c.memory().allocations;
  i.timeline_semaphore = reinterpret_cast<uint64_t>(c.compute_queue().timeline);
}

static moevk_status finish_runtime(std::unique_ptr<moevk_runtime> rt, const moevk_runtime_params& p,
                                   moevk_runtime** out) {
  rt->log = p.log;
  rt->log_user = p.log_user;
  rt->cap = p.vram_cap_bytes;
  if (rt->cap) rt->ctx->set_memory_budget(rt->cap);
  refresh_info(rt.get());
  rt->message(MOEVK_LOG_INFO,
              fmt::format("runtime on {} ({}), VRAM cap {}", rt->ctx->features().name,
                          rt->own ? "own device" : "the application's device",
                          rt->cap ? sched::format_size(rt->cap) : std::string("none")));
  runtimes().add(rt.get());
  *out = rt.release();
  return MOEVK_OK;
}

moevk_status moevk_runtime_create(const moevk_runtime_params* params, moevk_runtime** out) {
  return call(MOEVK_ERR_DEVICE, [&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    const moevk_runtime_params p = read_params(params, default_runtime_params());
    require(p.priority >= MOEVK_PRIORITY_DEFAULT && p.priority <= MOEVK_PRIORITY_REALTIME,
            "priority is not a moevk_priority");
    vk::DeviceOptions dopt = vk::DeviceOptions::from_env();
    if (p.device_index >= 0) dopt.device_index = p.device_index;
    if (p.validate) dopt.validate = true;
    vk::QueueOptions q;
    q.global_priority = priority_of(p.priority);
    auto rt = std::make_unique<moevk_runtime>();
    rt->log = p.log;
    rt->log_user = p.log_user;
    rt->ctx = std::make_shared<vk::Context>(dopt, q);
    rt->own = true;
    if (p.priority != MOEVK_PRIORITY_DEFAULT &&
        rt->ctx->global_priority() == vk::GlobalPriority::Default)
      rt->message(MOEVK_LOG_WARN,
                  fmt::format("{} has no VK_KHR/EXT_global_priority: the queue keeps the "
                              "default priority",
                              rt->ctx->features().name));
    finish_runtime(std::move(rt), p, out);
  });
}

moevk_status moevk_runtime_create_on_device(const moevk_runtime_params* params,
                                            const moevk_vulkan_device* device,
                                            moevk_runtime** out) {
  return call(MOEVK_ERR_DEVICE, [&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    require(device != nullptr, "device is NULL");
    moevk_vulkan_device d;
    moevk_vulkan_device_init(&d);
    d = read_params(device, d);
    const moevk_runtime_params p = read_params(params, default_runtime_params());
    require(d.instance && d.physical_device && d.device,
            "moevk_vulkan_device needs instance, physical_device and device");
    require(d.device_create_info != nullptr,
            "moevk_vulkan_device.device_create_info is NULL (moevk checks the device's features "
            "there)");
    require((d.lock_queue == nullptr) == (d.unlock_queue == nullptr),
            "lock_queue and unlock_queue go together (both set or both NULL)");
    vk::AdoptedDevice a;
    a.instance = static_cast<VkInstance>(d.instance);
    a.physical = static_cast<VkPhysicalDevice>(d.physical_device);
    a.device = static_cast<VkDevice>(d.device);
    a.queue_family = d.queue_family;
    a.queue_index = d.queue_index;
    a.create_info = static_cast<const VkDeviceCreateInfo*>(d.device_create_info);
    a.api_version = d.api_version;
    if (d.lock_queue) {
      a.lock = [fn = d.lock_queue, user = d.queue_user] { fn(user); };
      a.unlock = [fn = d.unlock_queue, user = d.queue_user] { fn(user); };
    }
    vk::DeviceOptions dopt = vk::DeviceOptions::from_env();
    auto rt = std::make_unique<moevk_runtime>();
    rt->ctx = std::make_shared<vk::Context>(a, dopt);
    rt->own = false;
    finish_runtime(std::move(rt), p, out);
  });
}

moevk_status moevk_runtime_destroy(moevk_runtime* rt) {
  return call(MOEVK_ERR_INTERNAL, [&] {
    if (!rt) return;
    if (!runtimes().live(rt))
      raise(MOEVK_ERR_BAD_HANDLE, "moevk_runtime_destroy: not a live runtime handle");
    if (rt->n_models > 0)
      raise(MOEVK_ERR_BUSY, fmt::format("the runtime still has {} model(s): destroy them first",
                                        rt->n_models.load()));
    runtimes().remove(rt);
    delete rt;
  });
}

void moevk_runtime_info_init(moevk_runtime_info* i) {
  if (!i) return;
  std::memset(i, 0, sizeof *i);
  i->struct_size = sizeof *i;
}

moevk_status moevk_runtime_get_info(moevk_runtime* rt, moevk_runtime_info* info) {
  return call(MOEVK_ERR_INTERNAL, [&] {
    check_runtime(rt);
    require(info != nullptr && info->struct_size >= sizeof(uint32_t),
            "info is NULL or its struct_size is unset");
    // Never waits for the GPU lock (the caller may be between step_begin and step_end): while an
    // evaluation holds it, the figures are those of the last call that found the runtime idle.
    if (rt->gpu.try_acquire()) {
      refresh_info(rt);
      rt->gpu.release();
    }
    const moevk_runtime_info i = rt->last_info;
    std::memcpy(info, &i, struct_size_of(info));
  });
}

// ---------------------------------------------------------------- model

void moevk_model_params_init(moevk_model_params* p) {
  if (!p) return;
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
}

moevk_status moevk_model_load(moevk_runtime* rt, const char* path, const moevk_model_params* params,
                              moevk_model** out) {
  return call(MOEVK_ERR_MODEL, [&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    check_runtime(rt);
    require(path != nullptr, "path is NULL");
    moevk_model_params defaults;
    moevk_model_params_init(&defaults);
    const moevk_model_params p = read_params(params, defaults);
    struct stat st {};
    if (::stat(path, &st) != 0)
      raise(MOEVK_ERR_IO,
            fmt::format("cannot open the model '{}': {}", path, std::strerror(errno)));
    if (!S_ISREG(st.st_mode))
      raise(MOEVK_ERR_IO, fmt::format("the model '{}' is not a regular file", path));
    auto progress = [&](float f, const char* stage) {
      if (p.progress && p.progress(p.progress_user, f, stage)) throw LoadCancelled();
    };
    progress(0.0f, "open");
    auto m = std::make_unique<moevk_model>();
    m->rt = rt;
    m->file.emplace(gguf::File::open(path));
    validate(*m->file, /*need_weights=*/true, "moevk_model_load");  // as every moevk command does
    m->tokenizer.emplace(Tokenizer::from_gguf(*m->file));
    m->tmpl = chat_template_of(*m->file).value_or("");
    m->chat = chat_context_of(*m->file);
    progress(0.05f, "tokenizer");

    EngineOptions eo;
    eo.n_ctx = p.n_ctx;
    eo.progress = false;
    VkEngineSetup setup;
    setup.context = rt->ctx;
    setup.progress = [&](const char* stage, uint64_t done, uint64_t total) {
      const float f = total ? float(done) / float(total) : 1.0f;
      const bool weights = std::strcmp(stage, "weights") == 0;
      return !(p.progress &&
               p.progress(p.progress_user, weights ? 0.05f + 0.6f * f : 0.65f + 0.3f * f, stage));
    };
    GpuGuard g(rt->gpu);
    const vk::MemoryCounter& mem = rt->ctx->memory();
    const uint64_t before = mem.allocated;
    if (mem.budget) {
      const uint64_t left = mem.budget > before ? mem.budget - before : 0;
      if (left == 0)
        raise(MOEVK_ERR_OUT_OF_MEMORY,
              fmt::format("the VRAM cap of {} is used up by the runtime's other models",
                          sched::format_size(mem.budget)));
      eo.gpu_mem = p.vram_bytes ? std::min(p.vram_bytes, left) : left;
    } else {
      eo.gpu_mem = p.vram_bytes;
    }
    m->engine = make_vulkan_engine(*m->file, eo, setup);
    m->vram_bytes = mem.allocated - before;
    const MemoryReport r = m->engine->memory_report();
    m->streaming = r.mode == "streaming";
    rt->message(MOEVK_LOG_INFO, fmt::format("loaded {}: {}, {} of device memory", path, r.mode,
                                            sched::format_size(m->vram_bytes)));
    if (p.progress && p.progress(p.progress_user, 1.0f, "done")) {
      m->engine.reset();  // under the GPU lock
      throw LoadCancelled();
    }
    ++rt->n_models;
    models().add(m.get());
    *out = m.release();
  });
}

moevk_status moevk_model_destroy(moevk_model* m) {
  return call(MOEVK_ERR_INTERNAL, [&] {
    if (!m) return;
    if (!models().live(m))
      raise(MOEVK_ERR_BAD_HANDLE, "moevk_model_destroy: not a live model handle");
    if (m->n_sessions > 0)
      raise(MOEVK_ERR_BUSY, fmt::format("the model still has {} session(s): destroy them first",
                                        m->n_sessions.load()));
    models().remove(m);
    moevk_runtime* rt = m->rt;
    {
      GpuGuard g(rt->gpu);
      delete m;
    }
    --rt->n_models;
  });
}

void moevk_model_info_init(moevk_model_info* i) {
  if (!i) return;
  std::memset(i, 0, sizeof *i);
  i->struct_size = sizeof *i;
}

moevk_status moevk_model_get_info(moevk_model* m, moevk_model_info* info) {
  return call(MOEVK_ERR_INTERNAL, [&] {
    check_model(m);
    require(info != nullptr && info->struct_size >= sizeof(uint32_t),
            "info is NULL or its struct_size is unset");
    moevk_model_info i;
    moevk_model_info_init(&i);
    const ModelDesc& d = m->engine->desc();
    std::snprintf(i.name, sizeof i.name, "%s", d.name.c_str());
    const std::string_view arch = arch_name(d.arch);
    std::snprintf(i.arch, sizeof i.arch, "%.*s", int(arch.size()), arch.data());
    i.n_vocab = d.n_vocab;
    i.n_ctx = m->engine->n_ctx();
    i.n_layer = d.n_layer;
    i.n_expert = d.n_expert;
    i.n_expert_used = d.n_expert_used;
    i.streaming = m->streaming ? 1 : 0;
    i.vram_bytes = m->vram_bytes;
    i.kv_bytes_per_session = m->engine->kv_state_bytes();
    std::memcpy(info, &i, struct_size_of(info));
  });
}

moevk_status moevk_tokenize(moevk_model* m, const char* text, size_t len, int add_special,
                            int parse_special, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return call(MOEVK_ERR_MODEL, [&] {
    check_model(m);
    require(text != nullptr || len == 0, "text is NULL");
    copy_out(m->tokenizer->tokenize(std::string_view(text ? text : "", len), add_special != 0,
                                    parse_special != 0),
             tokens, capacity, n_tokens);
  });
}

moevk_status moevk_detokenize(moevk_model* m, const int32_t* tokens, size_t n, char* buf,
                              size_t capacity, size_t* n_bytes) {
  return call(MOEVK_ERR_MODEL, [&] {
    check_model(m);
    require(tokens != nullptr || n == 0, "tokens is NULL");
    const uint32_t n_vocab = m->engine->desc().n_vocab;
    std::vector<int32_t> ids(tokens, tokens + n);
    for (size_t i = 0; i < n; ++i)
      if (ids[i] < 0 || uint32_t(ids[i]) >= n_vocab)
        raise(MOEVK_ERR_INVALID_ARGUMENT,
              fmt::format("token id {} (at index {}) is outside the vocabulary [0, {})", ids[i], i,
                          n_vocab));
    copy_out(m->tokenizer->detokenize(ids), buf, capacity, n_bytes);
  });
}

static std::vector<ChatMessage> messages_of(const moevk_chat_message* msgs, size_t n) {
  require(msgs != nullptr || n == 0, "messages is NULL");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < n; ++i) {
    if (!msgs[i].role || !msgs[i].content)
      raise(MOEVK_ERR_INVALID_ARGUMENT, fmt::format("message {} has a NULL role or content", i));
    out.push_back({msgs[i].role, msgs[i].content});
  }
  return out;
}

moevk_status moevk_chat_apply_template(moevk_model* m, const moevk_chat_message* msgs, size_t n,
                                       int add_generation_prompt, char* buf, size_t capacity,
                                       size_t* n_bytes) {
  return call(MOEVK_ERR_MODEL, [&] {
    check_model(m);
    copy_out(render_chat(m->tmpl, messages_of(msgs, n), add_generation_prompt != 0, m->chat), buf,
             capacity, n_bytes);
  });
}

moevk_status moevk_chat_tokenize(moevk_model* m, const moevk_chat_message* msgs, size_t n,
                                 int add_generation_prompt, int32_t* tokens, size_t capacity,
                                 size_t* n_tokens) {
  return call(MOEVK_ERR_MODEL, [&] {
    check_model(m);
    copy_out(tokenize_chat(*m->tokenizer, m->tmpl, messages_of(msgs, n), add_generation_prompt != 0,
                           m->chat),
             tokens, capacity, n_tokens);
  });
}

}  // extern "C"
