// own_device.cpp: an application that owns its Vulkan device (as a game or a desktop app does)
// hands it to moevk and generates inside a VRAM cap, a few milliseconds of work per frame: each
// "frame" calls moevk once with a time budget, prints the tokens that call produced and its time.
//   own_device MODEL.gguf [vram cap MiB, default 256] [budget us per call, default 2000] [tokens]
// moevk submits to the app's queue only under the app's lock (queues are externally synchronised).
#include <vulkan/vulkan.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <moevk.hpp>
#include <mutex>
#include <string>
#include <vector>

namespace {

void vk_check(VkResult r, const char* what) {
  if (r != VK_SUCCESS) {
    std::fprintf(stderr, "own_device: %s failed (VkResult %d)\n", what, int(r));
    std::exit(1);
  }
}

// The application's side: instance, device (with the features moevk needs), a compute queue shared
// with moevk under a mutex.
struct App {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t family = 0;
  uint32_t api = VK_API_VERSION_1_2;
  std::mutex queue_mutex;
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  float priority = 1.0f;

  App() {
    vkEnumerateInstanceVersion(&api);
    api = api >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "own_device";
    app.apiVersion = api;
    VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ici.pApplicationInfo = &app;
    vk_check(vkCreateInstance(&ici, nullptr, &instance), "vkCreateInstance");
    uint32_t n = 0;
    vk_check(vkEnumeratePhysicalDevices(instance, &n, nullptr), "vkEnumeratePhysicalDevices");
    if (n == 0) {
      std::fprintf(stderr, "own_device: no Vulkan device\n");
      std::exit(1);
    }
    std::vector<VkPhysicalDevice> pds(n);
    vk_check(vkEnumeratePhysicalDevices(instance, &n, pds.data()), "vkEnumeratePhysicalDevices");
    physical = pds[0];
    uint32_t nf = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &nf, nullptr);
    std::vector<VkQueueFamilyProperties> fams(nf);
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &nf, fams.data());
    for (uint32_t i = 0; i < nf; ++i)
      if (fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        family = i;
        break;
      }
    // What moevk requires (bufferDeviceAddress, timelineSemaphore, shaderInt64) plus the optional
    // features it uses where the device has them.
    VkPhysicalDeviceVulkan12Features have12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features have11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceFeatures2 have{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    have.pNext = &have11;
    have11.pNext = &have12;
    vkGetPhysicalDeviceFeatures2(physical, &have);
    f2.pNext = &f11;
    f11.pNext = &f12;
    f2.features.shaderInt64 = have.features.shaderInt64;
    f11.storageBuffer16BitAccess = have11.storageBuffer16BitAccess;
    f12.bufferDeviceAddress = have12.bufferDeviceAddress;
    f12.timelineSemaphore = have12.timelineSemaphore;
    f12.shaderFloat16 = have12.shaderFloat16;
    f12.shaderInt8 = have12.shaderInt8;
    f12.storageBuffer8BitAccess = have12.storageBuffer8BitAccess;
    qci.queueFamilyIndex = family;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    dci.pNext = &f2;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    vk_check(vkCreateDevice(physical, &dci, nullptr, &device), "vkCreateDevice");
  }
  ~App() {
    vkDestroyDevice(device, nullptr);
    vkDestroyInstance(instance, nullptr);
  }
  moevk_vulkan_device handoff() {
    moevk_vulkan_device d;
    moevk_vulkan_device_init(&d);
    d.instance = instance;
    d.physical_device = physical;
    d.device = device;
    d.queue_family = family;
    d.queue_index = 0;
    d.device_create_info = &dci;
    d.api_version = api;
    d.lock_queue = [](void* u) { static_cast<App*>(u)->queue_mutex.lock(); };
    d.unlock_queue = [](void* u) { static_cast<App*>(u)->queue_mutex.unlock(); };
    d.queue_user = this;
    return d;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: own_device MODEL.gguf [vram cap MiB] [budget us per call] [tokens]\n");
    return 2;
  }
  const uint64_t cap_mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
  const uint64_t budget_us = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 2000;
  const int n_predict = argc > 4 ? std::atoi(argv[4]) : 16;
  App app;
  try {
    moevk_runtime_params rp;
    moevk_runtime_params_init(&rp);
    rp.vram_cap_bytes = cap_mib << 20;
    const moevk_vulkan_device dev = app.handoff();
    moevk::embed::Runtime rt(&rp, dev);
    moevk_model_params mp = moevk::embed::Model::defaults();
    mp.n_ctx = 256;
    moevk::embed::Model model(rt, argv[1], mp);
    const moevk_model_info mi = model.info();
    std::printf("model %s (%s): %s, %.1f MiB of device memory\n", mi.name, mi.arch,
                mi.streaming ? "experts streamed" : "resident", double(mi.vram_bytes) / (1 << 20));

    moevk::embed::Session session(model);
    session.start(model.chat_tokens({{"user", "Tell me about the sea."}}), n_predict);
    std::string text;
    for (int frame = 0;; ++frame) {
      std::string this_call;
      const auto t0 = std::chrono::steady_clock::now();
      const moevk_generate_result r = session.generate(
          [&](int32_t, const std::string& piece) {
            this_call += piece;
            return true;
          },
          0, budget_us);
      const double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      std::printf("call %d: %u token(s) in %.0f us: \"%s\"\n", frame, r.n_tokens, us,
                  this_call.c_str());
      text += this_call;
      if (r.stop != MOEVK_STOP_NONE) break;
      // ... the application renders its frame here, on the same queue ...
    }
    const moevk_runtime_info ri = rt.info();
    std::printf("VRAM: %llu bytes allocated (peak %llu) under a cap of %llu\n",
                (unsigned long long)ri.vram_allocated_bytes, (unsigned long long)ri.vram_peak_bytes,
                (unsigned long long)ri.vram_cap_bytes);
    std::printf("reply: %s\n", text.c_str());
  } catch (const moevk::embed::Error& e) {
    std::fprintf(stderr, "own_device: %s\n", e.what());
    return 1;
  }
  return 0;
}
