// The C API (runtime/include/moevk.h) on small synthesised models: errors as status codes with
// messages, cancellation of a load and of a generation, the per-call budget (resuming gives the
// tokens of one uninterrupted call), the VRAM cap, two sessions on one model from two threads, the
// non-blocking step, and the application's own VkDevice (a missing feature named in the error).
// ctest runs it with the validation layer on (MOEVK_VALIDATE=1).
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <vulkan/vulkan.h>

#include "loader/synth.h"
#include "runtime/include/moevk.h"
#include "runtime/include/moevk.hpp"

namespace {

// A small qwen3moe model (2 layers, 8 experts, top-2), written once per process.
const std::string& model_path() {
  static const std::string path = [] {
    std::string p = "/tmp/moevk-test-api-" + std::to_string(getpid()) + ".gguf";
    moevk::synth::Options o;
    o.arch = moevk::Arch::Qwen3Moe;
    o.type = moevk::GgmlType::Q8_0;
    o.seed = 11;
    moevk::synth::write_synth_file(o, p, true);
    std::atexit([] { std::remove(("/tmp/moevk-test-api-" + std::to_string(getpid()) + ".gguf").c_str()); });
    return p;
  }();
  return path;
}

// One runtime on moevk's own device for the tests that need no special one (each runtime compiles
// its pipelines: lavapipe takes seconds).
moevk_runtime* shared_runtime() {
  static moevk_runtime* rt = [] {
    moevk_runtime* r = nullptr;
    REQUIRE(moevk_runtime_create(nullptr, &r) == MOEVK_OK);
    return r;
  }();
  return rt;
}

moevk_model* shared_model() {
  static moevk_model* m = [] {
    moevk_model_params p;
    moevk_model_params_init(&p);
    p.n_ctx = 128;
    moevk_model* mm = nullptr;
    const moevk_status s = moevk_model_load(shared_runtime(), model_path().c_str(), &p, &mm);
    INFO(moevk_last_error());
    REQUIRE(s == MOEVK_OK);
    return mm;
  }();
  return m;
}

moevk_session* new_session(moevk_model* m, uint64_t seed, float temperature = 0.8f) {
  moevk_session_params p;
  moevk_session_params_init(&p);
  p.seed = seed;
  p.temperature = temperature;
  p.min_p = 0;  // a random model's distribution is flat: keep the draw wide
  moevk_session* s = nullptr;
  const moevk_status st = moevk_session_create(m, &p, &s);
  INFO(moevk_last_error());
  REQUIRE(st == MOEVK_OK);
  return s;
}

std::vector<int32_t> prompt_of(moevk_model* m, const char* text) {
  std::vector<int32_t> ids(256);
  size_t n = 0;
  REQUIRE(moevk_tokenize(m, text, std::strlen(text), 0, 0, ids.data(), ids.size(), &n) == MOEVK_OK);
  ids.resize(n);
  return ids;
}

struct Collected {
  std::vector<int32_t> tokens;
  std::string text;
  int stop_after = -1;  // the callback asks to stop after this many tokens
};

int collect(void* user, int32_t token, const char* text, size_t len) {
  auto* c = static_cast<Collected*>(user);
  if (token >= 0) c->tokens.push_back(token);
  c->text.append(text, len);
  return c->stop_after >= 0 && int(c->tokens.size()) >= c->stop_after ? 1 : 0;
}

// One uninterrupted generation.
std::vector<int32_t> generate_all(moevk_session* s, const std::vector<int32_t>& prompt, int n_predict) {
  REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), n_predict) == MOEVK_OK);
  Collected c;
  moevk_generate_result r;
  moevk_generate_result_init(&r);
  REQUIRE(moevk_session_generate(s, nullptr, collect, &c, &r) == MOEVK_OK);
  CHECK(r.stop != MOEVK_STOP_NONE);
  CHECK(r.n_tokens == c.tokens.size());
  return c.tokens;
}

}  // namespace

TEST_CASE("api: errors are status codes with messages") {
  CHECK(moevk_api_version() == MOEVK_API_VERSION);
  moevk_model* m = nullptr;
  // A bad path.
  CHECK(moevk_model_load(shared_runtime(), "/nonexistent/model.gguf", nullptr, &m) == MOEVK_ERR_IO);
  CHECK(std::string(moevk_last_error()).find("/nonexistent/model.gguf") != std::string::npos);
  CHECK(m == nullptr);
  // A file that is not GGUF.
  const std::string junk = "/tmp/moevk-test-api-junk-" + std::to_string(getpid());
  FILE* f = std::fopen(junk.c_str(), "wb");
  std::fputs("not a gguf file at all, not even close", f);
  std::fclose(f);
  CHECK(moevk_model_load(shared_runtime(), junk.c_str(), nullptr, &m) == MOEVK_ERR_MODEL);
  CHECK(std::strlen(moevk_last_error()) > 0);
  std::remove(junk.c_str());
  // Bad handles: never made, and destroyed.
  moevk_model_info info;
  moevk_model_info_init(&info);
  int dummy = 0;
  CHECK(moevk_model_get_info(reinterpret_cast<moevk_model*>(&dummy), &info) == MOEVK_ERR_BAD_HANDLE);
  CHECK(std::string(moevk_last_error()).find("moevk_model") != std::string::npos);
  moevk_session* s = new_session(shared_model(), 1);
  REQUIRE(moevk_session_destroy(s) == MOEVK_OK);
  CHECK(moevk_session_stop(s) == MOEVK_ERR_BAD_HANDLE);
  CHECK(moevk_session_generate(s, nullptr, nullptr, nullptr, nullptr) == MOEVK_ERR_BAD_HANDLE);
  CHECK(moevk_status_name(MOEVK_ERR_BAD_HANDLE) == std::string("MOEVK_ERR_BAD_HANDLE"));
  // NULL out-pointers and arguments.
  CHECK(moevk_runtime_create(nullptr, nullptr) == MOEVK_ERR_INVALID_ARGUMENT);
  CHECK(moevk_tokenize(shared_model(), nullptr, 3, 0, 0, nullptr, 0, nullptr) == MOEVK_ERR_INVALID_ARGUMENT);

  s = new_session(shared_model(), 1);
  const std::vector<int32_t> prompt = prompt_of(shared_model(), "Hello there");
  // No generation started.
  CHECK(moevk_session_generate(s, nullptr, nullptr, nullptr, nullptr) == MOEVK_ERR_NO_GENERATION);
  // A budget below the minimum.
  REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), 4) == MOEVK_OK);
  moevk_budget b{0, MOEVK_MIN_BUDGET_US - 1};
  CHECK(moevk_session_generate(s, &b, nullptr, nullptr, nullptr) == MOEVK_ERR_INVALID_ARGUMENT);
  CHECK(std::string(moevk_last_error()).find("minimum") != std::string::npos);
  // A token outside the vocabulary, a prompt larger than the context.
  const int32_t bad[] = {1, 1 << 30};
  CHECK(moevk_session_start(s, bad, 2, 4) == MOEVK_ERR_MODEL);
  std::vector<int32_t> long_prompt(200, prompt[0]);
  CHECK(moevk_session_start(s, long_prompt.data(), long_prompt.size(), 4) == MOEVK_ERR_CONTEXT_FULL);
  // A call on a stopped session.
  REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), 4) == MOEVK_OK);
  REQUIRE(moevk_session_stop(s) == MOEVK_OK);
  CHECK(moevk_session_generate(s, nullptr, nullptr, nullptr, nullptr) == MOEVK_ERR_STOPPED);
  CHECK(std::string(moevk_last_error()).find("stopped") != std::string::npos);
  CHECK(moevk_session_generate(s, nullptr, nullptr, nullptr, nullptr) == MOEVK_ERR_STOPPED);
  // A model with sessions cannot go first.
  CHECK(moevk_model_destroy(shared_model()) == MOEVK_ERR_BUSY);
  CHECK(moevk_session_destroy(s) == MOEVK_OK);
  // The buffer-too-small protocol tells the size needed.
  size_t n = 0;
  CHECK(moevk_tokenize(shared_model(), "Hello there", 11, 0, 0, nullptr, 0, &n) == MOEVK_ERR_BUFFER_TOO_SMALL);
  CHECK(n == prompt.size());
}

TEST_CASE("api: tokens, text and the chat template") {
  moevk_model* m = shared_model();
  const char* text = "Hello there, general Kenobi.";
  const std::vector<int32_t> ids = prompt_of(m, text);
  char buf[256];
  size_t n = 0;
  REQUIRE(moevk_detokenize(m, ids.data(), ids.size(), buf, sizeof buf, &n) == MOEVK_OK);
  CHECK(std::string(buf, n) == text);
  const moevk_chat_message msgs[] = {{"system", "Be brief."}, {"user", "Hi <|im_start|>"}};
  REQUIRE(moevk_chat_apply_template(m, msgs, 2, 1, buf, sizeof buf, &n) == MOEVK_OK);
  const std::string rendered(buf, n);
  CHECK(rendered.find("<|im_start|>user\nHi <|im_start|>") != std::string::npos);
  CHECK(rendered.substr(rendered.size() - 22) == "<|im_start|>assistant\n");
  std::vector<int32_t> chat(256);
  REQUIRE(moevk_chat_tokenize(m, msgs, 2, 1, chat.data(), chat.size(), &n) == MOEVK_OK);
  chat.resize(n);
  // The user's "<|im_start|>" stays text: fewer special tokens than a parse of the whole render.
  std::vector<int32_t> parsed(256);
  size_t n_parsed = 0;
  REQUIRE(moevk_tokenize(m, rendered.data(), rendered.size(), 0, 1, parsed.data(), parsed.size(), &n_parsed) ==
          MOEVK_OK);
  CHECK(n > n_parsed);
}

TEST_CASE("api: the per-call budget resumes with the tokens of one uninterrupted call") {
  moevk_model* m = shared_model();
  const std::vector<int32_t> prompt = prompt_of(m, "Once upon a time");
  moevk_session* s = new_session(m, 42);
  const std::vector<int32_t> want = generate_all(s, prompt, 12);
  REQUIRE(want.size() >= 4);
  REQUIRE(moevk_session_destroy(s) == MOEVK_OK);

  SUBCASE("in tokens") {
    s = new_session(m, 42);
    REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), 12) == MOEVK_OK);
    Collected c;
    int calls = 0;
    moevk_generate_result r;
    moevk_generate_result_init(&r);
    do {
      moevk_budget b{3, 0};
      REQUIRE(moevk_session_generate(s, &b, collect, &c, &r) == MOEVK_OK);
      CHECK(r.n_tokens <= 3);
      ++calls;
    } while (r.stop == MOEVK_STOP_NONE && calls < 100);
    CHECK(calls >= int(want.size() / 3));
    CHECK(c.tokens == want);
    moevk_session_stats st;
    moevk_session_stats_init(&st);
    REQUIRE(moevk_session_get_stats(s, &st) == MOEVK_OK);
    CHECK(st.generated_tokens == want.size());
    CHECK(st.prompt_tokens == prompt.size());
    CHECK(st.stop == MOEVK_STOP_LENGTH);
    CHECK(st.gpu_submits > 0);
    CHECK(st.n_past >= prompt.size() + want.size() - 1);
    CHECK(moevk_session_generate(s, nullptr, nullptr, nullptr, nullptr) == MOEVK_ERR_NO_GENERATION);
    REQUIRE(moevk_session_destroy(s) == MOEVK_OK);
  }
  SUBCASE("in microseconds") {
    s = new_session(m, 42);
    REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), 12) == MOEVK_OK);
    Collected c;
    int calls = 0;
    moevk_generate_result r;
    moevk_generate_result_init(&r);
    do {
      moevk_budget b{0, MOEVK_MIN_BUDGET_US};  // below one token's time: one token per call
      REQUIRE(moevk_session_generate(s, &b, collect, &c, &r) == MOEVK_OK);
      CHECK(r.n_tokens <= 1);
      ++calls;
    } while (r.stop == MOEVK_STOP_NONE && calls < 100);
    CHECK(calls >= int(want.size()));
    CHECK(c.tokens == want);
    REQUIRE(moevk_session_destroy(s) == MOEVK_OK);
  }
  SUBCASE("the non-blocking step") {
    s = new_session(m, 42);
    REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), 12) == MOEVK_OK);
    moevk_runtime_info ri;
    moevk_runtime_info_init(&ri);
    REQUIRE(moevk_runtime_get_info(shared_runtime(), &ri) == MOEVK_OK);
    CHECK(ri.timeline_semaphore != 0);
    Collected c;
    moevk_stop_reason stop = MOEVK_STOP_NONE;
    for (int i = 0; i < 100 && stop == MOEVK_STOP_NONE; ++i) {
      uint64_t value = 0;
      REQUIRE(moevk_session_step_begin(s, &value) == MOEVK_OK);
      uint64_t again = 0;
      CHECK(moevk_session_step_begin(s, &again) == MOEVK_ERR_BUSY);
      int produced = 0;
      REQUIRE(moevk_session_step_end(s, collect, &c, &produced, &stop) == MOEVK_OK);
    }
    CHECK(stop == MOEVK_STOP_LENGTH);
    CHECK(c.tokens == want);
    REQUIRE(moevk_session_destroy(s) == MOEVK_OK);
  }
}

TEST_CASE("api: cancellation during generation and during load") {
  moevk_model* m = shared_model();
  const std::vector<int32_t> prompt = prompt_of(m, "Tell me a story");
  moevk_session* s = new_session(m, 3);
  SUBCASE("from the token callback") {
    REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), 50) == MOEVK_OK);
    Collected c;
    c.stop_after = 3;
    moevk_generate_result r;
    moevk_generate_result_init(&r);
    REQUIRE(moevk_session_generate(s, nullptr, collect, &c, &r) == MOEVK_OK);
    CHECK(r.stop == MOEVK_STOP_STOPPED);
    CHECK(r.n_tokens == 3);
    CHECK(c.tokens.size() == 3);
    CHECK(moevk_session_generate(s, nullptr, collect, &c, &r) == MOEVK_ERR_STOPPED);
    // A new generation runs again.
    REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), 2) == MOEVK_OK);
    REQUIRE(moevk_session_generate(s, nullptr, nullptr, nullptr, &r) == MOEVK_OK);
    CHECK(r.stop == MOEVK_STOP_LENGTH);
  }
  SUBCASE("from another thread") {
    REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), 100) == MOEVK_OK);
    std::atomic<int> seen{0};
    auto count = [](void* user, int32_t, const char*, size_t) {
      ++*static_cast<std::atomic<int>*>(user);
      return 0;
    };
    std::thread stopper([&] {
      while (seen < 2) std::this_thread::yield();
      CHECK(moevk_session_stop(s) == MOEVK_OK);
    });
    moevk_generate_result r;
    moevk_generate_result_init(&r);
    REQUIRE(moevk_session_generate(s, nullptr, count, &seen, &r) == MOEVK_OK);
    stopper.join();
    CHECK(r.stop == MOEVK_STOP_STOPPED);
    CHECK(r.n_tokens >= 2);
    CHECK(r.n_tokens < 100);
  }
  REQUIRE(moevk_session_destroy(s) == MOEVK_OK);

  SUBCASE("during load") {
    moevk_runtime_info before;
    moevk_runtime_info_init(&before);
    REQUIRE(moevk_runtime_get_info(shared_runtime(), &before) == MOEVK_OK);
    struct Cancel {
      int calls = 0;
      std::string stage;
    } cancel;
    moevk_model_params p;
    moevk_model_params_init(&p);
    p.n_ctx = 128;
    p.progress = [](void* user, float, const char* stage) {
      auto* c = static_cast<Cancel*>(user);
      ++c->calls;
      c->stage = stage;
      return std::strcmp(stage, "weights") == 0 ? 1 : 0;  // mid-upload
    };
    p.progress_user = &cancel;
    moevk_model* m2 = nullptr;
    CHECK(moevk_model_load(shared_runtime(), model_path().c_str(), &p, &m2) == MOEVK_ERR_CANCELLED);
    CHECK(m2 == nullptr);
    CHECK(cancel.stage == "weights");
    CHECK(std::string(moevk_last_error()).find("cancel") != std::string::npos);
    moevk_runtime_info after;
    moevk_runtime_info_init(&after);
    REQUIRE(moevk_runtime_get_info(shared_runtime(), &after) == MOEVK_OK);
    CHECK(after.vram_allocated_bytes == before.vram_allocated_bytes);  // everything freed
    // And it loads when not cancelled.
    p.progress = [](void*, float, const char*) { return 0; };
    REQUIRE(moevk_model_load(shared_runtime(), model_path().c_str(), &p, &m2) == MOEVK_OK);
    CHECK(moevk_model_destroy(m2) == MOEVK_OK);
  }
}

TEST_CASE("api: two sessions on one model from two threads equal each alone") {
  moevk_model* m = shared_model();
  const std::vector<int32_t> pa = prompt_of(m, "The quick brown fox");
  const std::vector<int32_t> pb = prompt_of(m, "A long time ago in a galaxy");
  std::vector<int32_t> alone_a, alone_b;
  {
    moevk_session* s = new_session(m, 5);
    alone_a = generate_all(s, pa, 16);
    REQUIRE(moevk_session_destroy(s) == MOEVK_OK);
    s = new_session(m, 6);
    alone_b = generate_all(s, pb, 16);
    REQUIRE(moevk_session_destroy(s) == MOEVK_OK);
  }
  moevk_session* a = new_session(m, 5);
  moevk_session* b = new_session(m, 6);
  std::vector<int32_t> got_a, got_b;
  std::thread ta([&] { got_a = generate_all(a, pa, 16); });
  std::thread tb([&] { got_b = generate_all(b, pb, 16); });
  ta.join();
  tb.join();
  CHECK(got_a == alone_a);
  CHECK(got_b == alone_b);
  // A second turn on each (their KV caches kept apart): the same as a fresh session's.
  std::vector<int32_t> pa2 = pa;
  pa2.insert(pa2.end(), got_a.begin(), got_a.end());
  pa2.push_back(pa[0]);
  const std::vector<int32_t> turn2 = generate_all(a, pa2, 4);
  moevk_session* fresh = new_session(m, 99, 0.0f);
  moevk_session* greedy_a = new_session(m, 99, 0.0f);
  CHECK(generate_all(fresh, pa2, 4) == generate_all(greedy_a, pa2, 4));
  CHECK(turn2.size() <= 4);
  for (moevk_session* s : {a, b, fresh, greedy_a}) CHECK(moevk_session_destroy(s) == MOEVK_OK);
}

TEST_CASE("api: the VRAM cap holds") {
  moevk_model_info info;
  moevk_model_info_init(&info);
  REQUIRE(moevk_model_get_info(shared_model(), &info) == MOEVK_OK);
  const uint64_t resident = info.vram_bytes;
  REQUIRE(resident > 0);
  REQUIRE(info.kv_bytes_per_session > 0);
  const std::vector<int32_t> prompt = prompt_of(shared_model(), "Hello");

  // Room for the model and one session, not two. A low queue priority: applied where the device
  // has global priority, else a warning through the log callback.
  moevk_runtime_params rp;
  moevk_runtime_params_init(&rp);
  rp.vram_cap_bytes = resident + info.kv_bytes_per_session / 2;
  rp.priority = MOEVK_PRIORITY_LOW;
  std::vector<std::string> warnings;
  rp.log = [](void* user, moevk_log_level level, const char* msg) {
    if (level == MOEVK_LOG_WARN) static_cast<std::vector<std::string>*>(user)->push_back(msg);
  };
  rp.log_user = &warnings;
  moevk::embed::Runtime rt(&rp);
  if (rt.info().priority == MOEVK_PRIORITY_DEFAULT) {
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("global_priority") != std::string::npos);
  } else {
    CHECK(rt.info().priority == MOEVK_PRIORITY_LOW);
    CHECK(warnings.empty());
  }
  moevk_model_params mp;
  moevk_model_params_init(&mp);
  mp.n_ctx = 128;
  moevk::embed::Model model(rt, model_path(), mp);
  CHECK(model.info().streaming == 0);
  moevk::embed::Session one(model);
  one.start(prompt, 3);
  one.generate(nullptr);
  moevk_runtime_info ri = rt.info();
  CHECK(ri.vram_cap_bytes == rp.vram_cap_bytes);
  CHECK(ri.vram_allocations > 0);
  CHECK(ri.vram_allocated_bytes == resident);  // counted at vkAllocateMemory
  CHECK(ri.vram_peak_bytes <= rp.vram_cap_bytes);
  try {
    moevk::embed::Session two(model);
    FAIL("a second session fit a cap that leaves no room for its KV cache");
  } catch (const moevk::embed::Error& e) {
    CHECK(e.status() == MOEVK_ERR_OUT_OF_MEMORY);
    CHECK(std::string(e.what()).find("KV cache") != std::string::npos);
  }
  CHECK(rt.info().vram_allocated_bytes == resident);
  CHECK(rt.info().vram_peak_bytes <= rp.vram_cap_bytes);

  // A cap below the resident size: the experts stream, and the cap holds.
  {
    moevk_runtime_params sp;
    moevk_runtime_params_init(&sp);
    sp.vram_cap_bytes = resident * 3 / 4;
    moevk::embed::Runtime rt3(&sp);
    moevk::embed::Model streamed(rt3, model_path(), mp);
    CHECK(streamed.info().streaming == 1);
    moevk::embed::Session s3(streamed);
    s3.start(prompt, 4);
    s3.generate(nullptr);
    CHECK(s3.stats().generated_tokens + (s3.stats().stop == MOEVK_STOP_END_OF_GENERATION) >= 1);
    CHECK(rt3.info().vram_peak_bytes <= sp.vram_cap_bytes);
    CHECK(rt3.info().vram_allocated_bytes <= sp.vram_cap_bytes);
  }

  // A cap below the model's minimum: a clear refusal.
  moevk_runtime_params tiny;
  moevk_runtime_params_init(&tiny);
  tiny.vram_cap_bytes = 1 << 20;
  moevk::embed::Runtime rt2(&tiny);
  try {
    moevk::embed::Model m2(rt2, model_path(), mp);
    FAIL("a model loaded under a 1 MiB cap");
  } catch (const moevk::embed::Error& e) {
    CHECK(e.status() == MOEVK_ERR_OUT_OF_MEMORY);
  }
  CHECK(rt2.info().vram_allocated_bytes == 0);
}

// ---------------------------------------------------------------- the application's device

namespace {

std::atomic<int> g_app_validation{0};
VKAPI_ATTR VkBool32 VKAPI_CALL app_debug(VkDebugUtilsMessageSeverityFlagBitsEXT sev, VkDebugUtilsMessageTypeFlagsEXT,
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
      VkDebugUtilsMessengerCreateInfoEXT mci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
      mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
      mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
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
