// Sets MOEVK_DISABLE for the engines a scope creates (each engine reads it when it opens its device),
// restoring the earlier value at the end of the scope.
#pragma once

#include <cstdlib>
#include <string>

namespace moevk::test {

struct DisableFeatures {
  std::string old;
  bool had = false;
  explicit DisableFeatures(const char* list) {
    if (const char* v = std::getenv("MOEVK_DISABLE")) {
      old = v;
      had = true;
    }
    setenv("MOEVK_DISABLE", list, 1);
  }
  ~DisableFeatures() {
    if (had)
      setenv("MOEVK_DISABLE", old.c_str(), 1);
    else
      unsetenv("MOEVK_DISABLE");
  }
  DisableFeatures(const DisableFeatures&) = delete;
  DisableFeatures& operator=(const DisableFeatures&) = delete;
};

}  // namespace moevk::test
