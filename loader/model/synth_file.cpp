// synth: writing a synthesised model to a file without losing anything already there (see synth.h).
#include "loader/model/synth.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "loader/error.h"

namespace moevk::synth {

void write_synth_file(const Options& o, const std::string& path, bool overwrite,
                      const Progress& progress) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // Only a regular file is ever replaced (a device node, FIFO, directory or symlink is refused, even
  // with --force); checked again just before the rename.
  auto check_target = [&] {
    const fs::file_status st = fs::symlink_status(path, ec);
    if (!fs::exists(st)) return;
    if (!fs::is_regular_file(st))
      fail("'{}' exists and is not a regular file ({}); not replacing it", path,
           fs::is_directory(st) ? "a directory" : fs::is_symlink(st) ? "a symbolic link"
           : fs::is_character_file(st) ? "a character device" : fs::is_fifo(st) ? "a FIFO" : "not a plain file");
    if (!overwrite) fail("'{}' already exists; not overwriting it (pass --force to replace it)", path);
  };
  check_target();
  const fs::path target(path);
  const fs::path tmp =
      target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), getpid());
  FILE* f = std::fopen(tmp.c_str(), "wbx");  // x: never through an existing name
  if (!f) fail("cannot write '{}': cannot create a temporary file beside it: {}", path, std::strerror(errno));
  try {
    uint64_t written = 0;
    stream_gguf(
        o,
        [&](std::span<const uint8_t> b) {
          if (std::fwrite(b.data(), 1, b.size(), f) != b.size())
            fail("cannot write '{}' (at byte {}): {}", path, written, std::strerror(errno));
          written += b.size();
        },
        progress);
    FILE* closing = f;
    f = nullptr;
    if (std::fclose(closing) != 0)
      fail("cannot write '{}' ({} bytes): {}", path, written, std::strerror(errno));
  } catch (...) {
    if (f) std::fclose(f);
    fs::remove(tmp, ec);
    throw;
  }
  try {
    check_target();
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ec2;
    fs::remove(tmp, ec2);
    fail("cannot write '{}': renaming the finished temporary file failed: {}", path, ec.message());
  }
}

}  // namespace moevk::synth
