// moevk.hpp: a thin header-only C++17 wrapper of the C API (moevk.h): RAII handle types that
// destroy in their destructor, std::string / std::vector in and out, and moevk::embed::Error (with
// the status code) thrown for every failed call. The thread-safety rules are moevk.h's.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "moevk.h"

namespace moevk::embed {

class Error : public std::runtime_error {
 public:
  Error(moevk_status status, const std::string& what) : std::runtime_error(what), status_(status) {}
  moevk_status status() const { return status_; }

 private:
  moevk_status status_;
};

inline void check(moevk_status s) {
  if (s != MOEVK_OK) throw Error(s, std::string(moevk_status_name(s)) + ": " + moevk_last_error());
}

// A move-only owner of one handle.
template <typename T, moevk_status (*Destroy)(T*)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T* p) : p_(p) {}
  Handle(Handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() noexcept {
    if (p_) Destroy(p_);
    p_ = nullptr;
  }
  T* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

class Runtime {
 public:
  // moevk's own device.
  explicit Runtime(const moevk_runtime_params* params = nullptr) {
    moevk_runtime* r = nullptr;
    check(moevk_runtime_create(params, &r));
    h_ = H(r);
  }
  // The application's device.
  Runtime(const moevk_runtime_params* params, const moevk_vulkan_device& device) {
    moevk_runtime* r = nullptr;
    check(moevk_runtime_create_on_device(params, &device, &r));
    h_ = H(r);
  }
  moevk_runtime_info info() const {
    moevk_runtime_info i;
    moevk_runtime_info_init(&i);
    check(moevk_runtime_get_info(h_.get(), &i));
    return i;
  }
  moevk_runtime* get() const { return h_.get(); }

 private:
  using H = Handle<moevk_runtime, moevk_runtime_destroy>;
  H h_;
};

struct ChatMessage {
  std::string role, content;
};

class Model {
 public:
  // progress: fraction in [0, 1] and the stage; return false to cancel.
  using Progress = std::function<bool(float, const char*)>;
  Model(const Runtime& rt, const std::string& path, moevk_model_params params = defaults(),
        Progress progress = nullptr) {
    if (progress) {
      params.progress = [](void* user, float f, const char* stage) {
        return (*static_cast<Progress*>(user))(f, stage) ? 0 : 1;
      };
      params.progress_user = &progress;
    }
    moevk_model* m = nullptr;
    check(moevk_model_load(rt.get(), path.c_str(), &params, &m));
    h_ = H(m);
  }
  static moevk_model_params defaults() {
    moevk_model_params p;
    moevk_model_params_init(&p);
    return p;
  }
  moevk_model_info info() const {
    moevk_model_info i;
    moevk_model_info_init(&i);
    check(moevk_model_get_info(h_.get(), &i));
    return i;
  }
  std::vector<int32_t> tokenize(const std::string& text, bool add_special = false,
                                bool parse_special = false) const {
    std::vector<int32_t> ids(text.size() + 8);
    size_t n = 0;
    check(moevk_tokenize(h_.get(), text.data(), text.size(), add_special, parse_special, ids.data(),
                         ids.size(), &n));
    ids.resize(n);
    return ids;
  }
  std::string detokenize(const std::vector<int32_t>& ids) const {
    size_t n = 0;
    moevk_status s = moevk_detokenize(h_.get(), ids.data(), ids.size(), nullptr, 0, &n);
    if (s != MOEVK_ERR_BUFFER_TOO_SMALL) check(s);
    std::string out(n, '\0');
    check(moevk_detokenize(h_.get(), ids.data(), ids.size(), out.data(), out.size(), &n));
    return out;
  }
  std::string apply_template(const std::vector<ChatMessage>& msgs,
                             bool add_generation_prompt = true) const {
    std::vector<moevk_chat_message> m = c_messages(msgs);
    size_t n = 0;
    moevk_status s = moevk_chat_apply_template(h_.get(), m.data(), m.size(), add_generation_prompt,
                                               nullptr, 0, &n);
    if (s != MOEVK_ERR_BUFFER_TOO_SMALL) check(s);
    std::string out(n + 1, '\0');
    check(moevk_chat_apply_template(h_.get(), m.data(), m.size(), add_generation_prompt, out.data(),
                                    out.size(), &n));
    out.resize(n);
    return out;
  }
  std::vector<int32_t> chat_tokens(const std::vector<ChatMessage>& msgs,
                                   bool add_generation_prompt = true) const {
    std::vector<moevk_chat_message> m = c_messages(msgs);
    size_t n = 0;
    moevk_status s =
        moevk_chat_tokenize(h_.get(), m.data(), m.size(), add_generation_prompt, nullptr, 0, &n);
    if (s != MOEVK_ERR_BUFFER_TOO_SMALL) check(s);
    std::vector<int32_t> ids(n);
    check(moevk_chat_tokenize(h_.get(), m.data(), m.size(), add_generation_prompt, ids.data(),
                              ids.size(), &n));
    return ids;
  }
  moevk_model* get() const { return h_.get(); }

 private:
  static std::vector<moevk_chat_message> c_messages(const std::vector<ChatMessage>& msgs) {
    std::vector<moevk_chat_message> m;
    for (const ChatMessage& x : msgs) m.push_back({x.role.c_str(), x.content.c_str()});
    return m;
  }
  using H = Handle<moevk_model, moevk_model_destroy>;
  H h_;
};

class Session {
 public:
  // on_token: the token id and its text; return false to stop.
  using OnToken = std::function<bool(int32_t, const std::string&)>;
  explicit Session(const Model& m, moevk_session_params params = defaults()) {
    moevk_session* s = nullptr;
    check(moevk_session_create(m.get(), &params, &s));
    h_ = H(s);
  }
  static moevk_session_params defaults() {
    moevk_session_params p;
    moevk_session_params_init(&p);
    return p;
  }
  void start(const std::vector<int32_t>& prompt, int32_t n_predict = -1) {
    check(moevk_session_start(h_.get(), prompt.data(), prompt.size(), n_predict));
  }
  // One call under the budget (max_tokens, max_microseconds; 0: no limit).
  moevk_generate_result generate(const OnToken& on_token, uint32_t max_tokens = 0,
                                 uint64_t max_us = 0) {
    moevk_budget b{max_tokens, max_us};
    moevk_generate_result r;
    moevk_generate_result_init(&r);
    auto tramp = [](void* user, int32_t tok, const char* text, size_t len) {
      const OnToken& f = *static_cast<const OnToken*>(user);
      return f(tok, std::string(text, len)) ? 0 : 1;
    };
    check(moevk_session_generate(h_.get(), &b, on_token ? +tramp : nullptr,
                                 const_cast<OnToken*>(&on_token), &r));
    return r;
  }
  // The non-blocking step: begin returns the timeline value to wait for (0: done already); end
  // samples and returns whether a token came.
  uint64_t step_begin() {
    uint64_t value = 0;
    check(moevk_session_step_begin(h_.get(), &value));
    return value;
  }
  bool step_end(const OnToken& on_token, moevk_stop_reason* stop = nullptr) {
    auto tramp = [](void* user, int32_t tok, const char* text, size_t len) {
      const OnToken& f = *static_cast<const OnToken*>(user);
      return f(tok, std::string(text, len)) ? 0 : 1;
    };
    int produced = 0;
    check(moevk_session_step_end(h_.get(), on_token ? +tramp : nullptr, const_cast<OnToken*>(&on_token),
                                 &produced, stop));
    return produced != 0;
  }
  void stop() { check(moevk_session_stop(h_.get())); }
  void reset() { check(moevk_session_reset(h_.get())); }
  moevk_session_stats stats() const {
    moevk_session_stats s;
    moevk_session_stats_init(&s);
    check(moevk_session_get_stats(h_.get(), &s));
    return s;
  }
  moevk_session* get() const { return h_.get(); }

 private:
  using H = Handle<moevk_session, moevk_session_destroy>;
  H h_;
};

}  // namespace moevk::embed
