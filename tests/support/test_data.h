// Where tests find ../shared (oracle models, vocabularies). Under CI=true missing data fails the test;
// elsewhere the test says which data it could not find and is skipped with a visible message.
#pragma once

#include <optional>
#include <string>

namespace moevk::test {

// The shared folder (MOEVK_SHARED_DIR, else <repo>/../shared) if it exists.
std::optional<std::string> shared_dir();
// Path of a file under shared/ or nullopt. Under CI=true a missing file is a hard failure (throws).
std::optional<std::string> shared_file(const std::string& relative);
bool in_ci();
std::string source_dir();
std::string binary_dir();

}  // namespace moevk::test

// Inside a TEST_CASE: binds `var` to the shared file's path, or MESSAGEs and returns when absent.
#define MOEVK_REQUIRE_SHARED(var, relative)                                     \
  auto var##_opt = ::moevk::test::shared_file(relative);                        \
  if (!var##_opt) {                                                             \
    MESSAGE("skipped: shared data not found: " << (relative));                 \
    return;                                                                     \
  }                                                                             \
  const std::string var = *var##_opt
