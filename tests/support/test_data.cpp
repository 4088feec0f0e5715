#include "tests/support/test_data.h"

#include <cstdlib>
#include <filesystem>

#include "loader/error.h"

namespace moevk::test {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

std::string source_dir() { return MOEVK_SOURCE_DIR; }
std::string binary_dir() { return MOEVK_BINARY_DIR; }

std::optional<std::string> shared_dir() {
  namespace fs = std::filesystem;
  const char* env = std::getenv("MOEVK_SHARED_DIR");
  fs::path p = env ? fs::path(env) : fs::path(MOEVK_SOURCE_DIR) / ".." / "shared";
  if (fs::is_directory(p)) return fs::weakly_canonical(p).string();
  return std::nullopt;
}

std::optional<std::string> shared_file(const std::string& relative) {
  namespace fs = std::filesystem;
  auto dir = shared_dir();
  if (dir && fs::exists(fs::path(*dir) / relative)) return (fs::path(*dir) / relative).string();
  if (in_ci()) fail("CI=true but shared test data is missing: {}", relative);
  return std::nullopt;
}

}  // namespace moevk::test
