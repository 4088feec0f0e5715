// doctest main for every suite: after the run, any Vulkan validation message fails the process.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "runtime/vk/context.h"

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int rc = context.run();
  if (context.shouldExit()) return rc;
  uint64_t messages = moevk::vk::validation_message_count();
  if (messages) {
    std::fprintf(stderr, "FAILED: %llu Vulkan validation message(s) during the run (see above)\n",
                 static_cast<unsigned long long>(messages));
    return rc ? rc : 1;
  }
  return rc;
}
