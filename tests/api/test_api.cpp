// The C API (runtime/include/moevk.h) on small synthesised models: errors as status codes with
// messages, cancellation of a load and of a generation, the per-call budget (resuming gives the
// tokens of one uninterrupted call), the VRAM cap, two sessions on one model from two threads, the
// non-blocking step. The application's own VkDevice: test_app_device.cpp. ctest runs the suite with
// the validation layer on (MOEVK_VALIDATE=1).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime/include/moevk.h"
#include "runtime/include/moevk.hpp"
#include "tests/api/api_test.h"

using namespace moevk::test_api;

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
  CHECK(moevk_model_get_info(reinterpret_cast<moevk_model*>(&dummy), &info) ==
        MOEVK_ERR_BAD_HANDLE);
  CHECK(std::string(moevk_last_error()).find("moevk_model") != std::string::npos);
  moevk_session* s = new_session(shared_model(), 1);
  REQUIRE(moevk_session_destroy(s) == MOEVK_OK);
  CHECK(moevk_session_stop(s) == MOEVK_ERR_BAD_HANDLE);
  CHECK(moevk_session_generate(s, nullptr, nullptr, nullptr, nullptr) == MOEVK_ERR_BAD_HANDLE);
  CHECK(moevk_status_name(MOEVK_ERR_BAD_HANDLE) == std::string("MOEVK_ERR_BAD_HANDLE"));
  // NULL out-pointers and arguments.
  CHECK(moevk_runtime_create(nullptr, nullptr) == MOEVK_ERR_INVALID_ARGUMENT);
  CHECK(moevk_tokenize(shared_model(), nullptr, 3, 0, 0, nullptr, 0, nullptr) ==
        MOEVK_ERR_INVALID_ARGUMENT);

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
  CHECK(moevk_session_start(s, long_prompt.data(), long_prompt.size(), 4) ==
        MOEVK_ERR_CONTEXT_FULL);
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
  CHECK(moevk_tokenize(shared_model(), "Hello there", 11, 0, 0, nullptr, 0, &n) ==
        MOEVK_ERR_BUFFER_TOO_SMALL);
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
  REQUIRE(moevk_tokenize(m, rendered.data(), rendered.size(), 0, 1, parsed.data(), parsed.size(),
                         &n_parsed) == MOEVK_OK);
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
