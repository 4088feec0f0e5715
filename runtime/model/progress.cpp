#include "runtime/model/progress.h"

#include <unistd.h>

#include <cstdio>

namespace moevk {

Progress::Progress(std::string what, uint64_t total_bytes, bool enabled)
    : what_(std::move(what)), total_(total_bytes), enabled_(enabled), tty_(isatty(2)),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(uint64_t bytes) {
  done_ += bytes;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double mib = done_ / 1048576.0, total = total_ / 1048576.0;
  double rate = secs > 0 ? mib / secs : 0;
  double frac = total_ ? static_cast<double>(done_) / total_ : 1.0;
  if (tty_) {
    const int width = 30;
    int filled = static_cast<int>(frac * width);
    std::string bar(filled, '=');
    if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
    std::fprintf(stderr, "\r%s [%s] %.1f/%.1f MiB %.1f MiB/s%s", what_.c_str(), bar.c_str(), mib, total,
                 rate, final ? "\n" : "");
  } else {
    int decile = static_cast<int>(frac * 10);
    if (decile == last_decile_ && !final) return;
    if (final && decile == last_decile_ && decile == 10) return;
    last_decile_ = decile;
    std::fprintf(stderr, "%s: %.1f/%.1f MiB (%.0f%%) %.1f MiB/s\n", what_.c_str(), mib, total, frac * 100,
                 rate);
  }
  std::fflush(stderr);
}

}  // namespace moevk
