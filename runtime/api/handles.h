// The C API's internals: the objects behind the opaque handles, the registry that tells a live
// handle from a stale one, the per-runtime GPU lock, and the conversion of C++ errors to status
// codes (nothing thrown crosses the C boundary).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

#include "loader/template/chat_template.h"
#include "loader/gguf/gguf.h"
#include "loader/tokenizer/tokenizer.h"
#include "runtime/include/moevk.h"
#include "runtime/model/session.h"
#include "runtime/model/vk_model.h"
#include "runtime/vk/context.h"

namespace moevk::api {

// An error with its status code (thrown inside the API, converted at the boundary).
struct ApiError {
  moevk_status code;
  std::string message;
};
[[noreturn]] void raise(moevk_status code, std::string message);

// Live handles of one kind. A pointer is checked against the set before it is dereferenced.
template <typename T>
class Registry {
 public:
  void add(T* p) {
    std::lock_guard<std::mutex> g(m_);
    live_.insert(p);
  }
  void remove(T* p) {
    std::lock_guard<std::mutex> g(m_);
    live_.erase(p);
  }
  bool live(const T* p) const {
    std::lock_guard<std::mutex> g(m_);
    return p && live_.count(const_cast<T*>(p));
  }

 private:
  mutable std::mutex m_;
  std::unordered_set<T*> live_;
};

// One evaluation at a time per runtime (vk::Context and the engines are not thread-safe). Not a
// std::mutex: moevk_session_step_begin takes it and step_end, maybe on another thread, gives it
// back.
class GpuLock {
 public:
  void acquire() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return !held_; });
    held_ = true;
  }
  bool try_acquire() {
    std::lock_guard<std::mutex> l(m_);
    if (held_) return false;
    held_ = true;
    return true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> l(m_);
      held_ = false;
    }
    cv_.notify_one();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool held_ = false;
};

struct GpuGuard {
  explicit GpuGuard(GpuLock& l) : lock(l) { lock.acquire(); }
  ~GpuGuard() { lock.release(); }
  GpuLock& lock;
};

}  // namespace moevk::api

struct moevk_runtime {
  std::shared_ptr<moevk::vk::Context> ctx;
  moevk::api::GpuLock gpu;
  moevk_log_fn log = nullptr;
  void* log_user = nullptr;
  uint64_t cap = 0;
  bool own = true;
  std::atomic<int> n_models{0};
  moevk_runtime_info last_info{};  // moevk_runtime_get_info's figures at the last idle moment
  void message(moevk_log_level level, const std::string& text) const;
};

struct moevk_model {
  moevk_runtime* rt = nullptr;
  std::optional<moevk::gguf::File> file;
  std::optional<moevk::Tokenizer> tokenizer;
  std::unique_ptr<moevk::VkEngine> engine;
  std::string tmpl;
  moevk::ChatContext chat;
  uint64_t vram_bytes = 0;
  bool streaming = false;
  std::atomic<int> n_sessions{0};
  bool own_kv_taken = false;  // the engine's own KV cache belongs to a session (under rt->gpu)
};

struct moevk_session {
  moevk_model* model = nullptr;
  std::shared_ptr<moevk::VkEngine::KvState> kv;  // null: the engine's own
  std::optional<moevk::Session> session;
  uint32_t n_ctx = 0;
  std::atomic<bool> stop{false};  // moevk_session_stop: any thread
  std::atomic<bool> busy{false};  // a call runs on this session
  bool step_pending = false;      // between step_begin and step_end
  double step_begin_time = 0;
  double step_us = 0;    // the measured time of one step (moving average)
  bool started = false;  // a generation was started (NO_GENERATION vs STOPPED)
};
