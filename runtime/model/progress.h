// A progress bar on stderr for long work (loading and uploading weights): bytes done, total, rate.
// On a terminal it redraws one line; otherwise it prints a line every 10%.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace moevk {

class Progress {
 public:
  Progress(std::string what, uint64_t total_bytes, bool enabled = true);
  ~Progress();
  void advance(uint64_t bytes);
  void finish();

 private:
  void draw(bool final);
  std::string what_;
  uint64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace moevk
