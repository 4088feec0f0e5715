// Helpers of the C API's entry points (api.cpp, session_api.cpp).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/api/handles.h"

namespace moevk::api {

// Runs body; returns MOEVK_OK, or the status of what it threw with the thread's last error set
// (moevk::Error: by its kind, else `fallback`). Never throws.
moevk_status call_impl(moevk_status fallback, const std::function<void()>& body) noexcept;
template <typename F>
moevk_status call(moevk_status fallback, F&& body) noexcept {
  return call_impl(fallback, std::function<void()>(std::forward<F>(body)));
}
const char* last_error_text() noexcept;

Registry<moevk_runtime>& runtimes();
Registry<moevk_model>& models();
Registry<moevk_session>& sessions();

// MOEVK_ERR_INVALID_ARGUMENT with `what` unless ok.
void require(bool ok, const char* what);

inline void check_runtime(const moevk_runtime* rt) {
  if (!runtimes().live(rt)) raise(MOEVK_ERR_BAD_HANDLE, "not a live moevk_runtime handle");
}
inline void check_model(const moevk_model* m) {
  if (!models().live(m)) raise(MOEVK_ERR_BAD_HANDLE, "not a live moevk_model handle");
}
inline void check_session(const moevk_session* s) {
  if (!sessions().live(s)) raise(MOEVK_ERR_BAD_HANDLE, "not a live moevk_session handle");
}

}  // namespace moevk::api
