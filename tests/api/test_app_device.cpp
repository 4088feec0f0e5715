// The C API on the application's own VkDevice: a device without a required feature is refused
// with the feature named; a good one generates the tokens moevk's own device gives, every submit
// under the app's queue lock, the app may wait on the timeline value of a non-blocking step, and
// moevk leaves the app's objects alive.
#include <doctest/doctest.h>
#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/include/moevk.hpp"
#include "tests/api/api_test.h"

using namespace moevk::test_api;

namespace {

std::atomic<int> g_app_validation{0};
VKAPI_ATTR VkBool32 VKAPI_CALL app_debug(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                         VkDebugUtilsMessageTypeFlagsEXT,
                                         const VkDebugUtilsMessengerCallbackDataEXT* d, void*) {
  if (sev >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    ++g_app_validation;
    std::fprintf(stderr, "app: Vulkan validation: %s\n", d->pMessage);
  }
  return VK_FALSE;
}

// What an application does: its instance (with the validation layer when MOEVK_VALIDATE is set),
// a device with the features it chose, a queue it shares with moevk under its own lock.
struct AppDevice {
  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t family = 0;
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  uint32_t api = VK_API_VERSION_1_2;
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  float prio = 1.0f;
  std::atomic<int> locks{0}, unlocks{0};

  explicit AppDevice(bool with_bda) {
    const char* v = std::getenv("MOEVK_VALIDATE");
    const bool validate = v && std::string(v) == "1";
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    vkEnumerateInstanceVersion(&api);
    api = api >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
    app.apiVersion = api;
    const char* layer = "VK_LAYER_KHRONOS_validation";
    const char* ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ici.pApplicationInfo = &app;
    if (validate) {
      ici.enabledLayerCount = 1;
      ici.ppEnabledLayerNames = &layer;
      ici.enabledExtensionCount = 1;
      ici.ppEnabledExtensionNames = &ext;
    }
    REQUIRE(vkCreateInstance(&ici, nullptr, &instance) == VK_SUCCESS);
    if (validate) {
      VkDebugUtilsMessengerCreateInfoEXT mci{
          VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
      mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                            VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
      mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                        VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
      mci.pfnUserCallback = app_debug;
      auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
      REQUIRE(bool(create));
      REQUIRE(create(instance, &mci, nullptr, &messenger) == VK_SUCCESS);
    }
    uint32_t n = 1;
    VkResult r = vkEnumeratePhysicalDevices(instance, &n, &physical);
    REQUIRE((r == VK_SUCCESS || r == VK_INCOMPLETE));
    REQUIRE(n >= 1);
    uint32_t nf = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &nf, nullptr);
    std::vector<VkQueueFamilyProperties> fams(nf);
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &nf, fams.data());
    for (uint32_t i = 0; i < nf; ++i)
      if (fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        family = i;
        break;
      }
    // The optional features moevk's own device would enable too, so both run the same kernels.
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(physical, &props);
    f2.pNext = &f11;
    f11.pNext = &f12;
    f2.features.shaderInt64 = VK_TRUE;
    f11.storageBuffer16BitAccess = VK_TRUE;
    f12.bufferDeviceAddress = with_bda ? VK_TRUE : VK_FALSE;
    f12.timelineSemaphore = VK_TRUE;
    f12.shaderFloat16 = VK_TRUE;
    f12.shaderInt8 = VK_TRUE;
    f12.storageBuffer8BitAccess = VK_TRUE;
    if (props.apiVersion >= VK_API_VERSION_1_3 && api >= VK_API_VERSION_1_3) {
      f13.subgroupSizeControl = VK_TRUE;
      f13.computeFullSubgroups = VK_TRUE;
      f12.pNext = &f13;
    }
    qci.queueFamilyIndex = family;
    qci.queueCount = 1;
    qci.pQueuePriorities = &prio;
    dci.pNext = &f2;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    REQUIRE(vkCreateDevice(physical, &dci, nullptr, &device) == VK_SUCCESS);
  }
  ~AppDevice() {
    vkDestroyDevice(device, nullptr);
    if (messenger) {
      auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
      destroy(instance, messenger, nullptr);
    }
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
    d.lock_queue = [](void* u) { ++static_cast<AppDevice*>(u)->locks; };
    d.unlock_queue = [](void* u) { ++static_cast<AppDevice*>(u)->unlocks; };
    d.queue_user = this;
    return d;
  }
};

}  // namespace

TEST_CASE("api: the application's device") {
  SUBCASE("a missing feature is named") {
    AppDevice app(/*with_bda=*/false);
    moevk_vulkan_device d = app.handoff();
    moevk_runtime* rt = nullptr;
    CHECK(moevk_runtime_create_on_device(nullptr, &d, &rt) == MOEVK_ERR_DEVICE);
    CHECK(rt == nullptr);
    const std::string msg = moevk_last_error();
    CHECK(msg.find("bufferDeviceAddress") != std::string::npos);
    CHECK(msg.find("timelineSemaphore") == std::string::npos);  // only what is missing
    d.device_create_info = nullptr;
    CHECK(moevk_runtime_create_on_device(nullptr, &d, &rt) == MOEVK_ERR_INVALID_ARGUMENT);
  }
  SUBCASE("generates as on moevk's own device, submitting under the app's lock") {
    const std::vector<int32_t> prompt = prompt_of(shared_model(), "Hello there");
    moevk_session* ref = new_session(shared_model(), 8, 0.0f);
    const std::vector<int32_t> want = generate_all(ref, prompt, 6);
    REQUIRE(moevk_session_destroy(ref) == MOEVK_OK);
    {
      AppDevice app(true);
      {
        moevk_vulkan_device d = app.handoff();
        d.queue_family = 99;
        moevk_runtime* bad = nullptr;
        CHECK(moevk_runtime_create_on_device(nullptr, &d, &bad) == MOEVK_ERR_DEVICE);
        CHECK(std::string(moevk_last_error()).find("queue family 99") != std::string::npos);
        d = app.handoff();
        moevk::embed::Runtime rt(nullptr, d);
        CHECK(rt.info().own_device == 0);
        moevk_model_params mp;
        moevk_model_params_init(&mp);
        mp.n_ctx = 128;
        moevk::embed::Model model(rt, model_path(), mp);
        moevk_session_params sp = moevk::embed::Session::defaults();
        sp.temperature = 0;
        sp.seed = 8;
        moevk::embed::Session s(model, sp);
        s.start(prompt, 6);
        std::vector<int32_t> got;
        s.generate([&](int32_t t, const std::string&) {
          if (t >= 0) got.push_back(t);
          return true;
        });
        CHECK(got == want);
        CHECK(app.locks > 0);
        CHECK(app.locks == app.unlocks);
        // A non-blocking step: the app waits on moevk's timeline itself, then finishes the step.
        s.start(prompt, 2);
        uint64_t value = s.step_begin();
        const moevk_runtime_info ri = rt.info();  // does not wait for the step
        CHECK(value > 0);  // resident: submitted, not waited for
        VkSemaphore sem = reinterpret_cast<VkSemaphore>(ri.timeline_semaphore);
        VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
        wi.semaphoreCount = 1;
        wi.pSemaphores = &sem;
        wi.pValues = &value;
        CHECK(vkWaitSemaphores(app.device, &wi, UINT64_MAX) == VK_SUCCESS);
        moevk_stop_reason stop = MOEVK_STOP_NONE;
        CHECK(s.step_end(nullptr, &stop));
        CHECK(stop == MOEVK_STOP_NONE);
      }
      // moevk destroyed only its own objects: the app's device still works.
      VkQueue q = VK_NULL_HANDLE;
      vkGetDeviceQueue(app.device, app.family, 0, &q);
      CHECK(vkQueueWaitIdle(q) == VK_SUCCESS);
      CHECK(vkDeviceWaitIdle(app.device) == VK_SUCCESS);
    }
    CHECK(g_app_validation == 0);
  }
}
