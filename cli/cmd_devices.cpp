// moevk devices: every Vulkan device with its feature report, and which one moevk picks.
#include <cstdio>

#include "cli/command.h"
#include "runtime/vk/context.h"

namespace moevk::cli {

static int cmd_devices(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::printf("usage: moevk devices\n\nLists every Vulkan device with its feature report. Pick one with "
                  "--device N on other commands or MOEVK_DEVICE=N;\nforce fallbacks with "
                  "MOEVK_DISABLE=subgroup,fp16,... (see docs).\n");
      return 0;
    }
    std::fprintf(stderr, "moevk devices: unknown option '%s'\n", a.c_str());
    return 2;
  }
  std::vector<vk::Features> devices = vk::list_devices();
  if (devices.empty()) {
    std::fprintf(stderr, "moevk devices: no Vulkan device found (for a CPU device: apt-get install "
                         "mesa-vulkan-drivers)\n");
    return 1;
  }
  for (size_t i = 0; i < devices.size(); ++i) std::printf("device %zu: %s\n", i, devices[i].report().c_str());
  vk::Context ctx;
  std::printf("moevk uses device %d (%s)\n", ctx.device_index(), ctx.features().name.c_str());
  return 0;
}

MOEVK_COMMAND("devices", "list Vulkan devices and their features", cmd_devices);

}  // namespace moevk::cli
