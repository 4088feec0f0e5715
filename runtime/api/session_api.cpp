// The C API's sessions: creation (a KV cache of its own, the model's weights shared), generation
// under a per-call budget, stop from any thread, the non-blocking step, statistics.
#include <chrono>
#include <cstring>

#include "runtime/api/call.h"

using namespace moevk;
using namespace moevk::api;

namespace {

double now_us() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Marks a session in use for the duration of a call (MOEVK_ERR_BUSY when another call runs on it).
struct InUse {
  explicit InUse(moevk_session* s) : s(s) {
    if (s->busy.exchange(true)) raise(MOEVK_ERR_BUSY, "another call is running on this session");
  }
  ~InUse() { s->busy = false; }
  moevk_session* s;
};

moevk_stop_reason reason_of(StopReason r) {
  switch (r) {
    case StopReason::EndOfGeneration:
      return MOEVK_STOP_END_OF_GENERATION;
    case StopReason::Length:
      return MOEVK_STOP_LENGTH;
    case StopReason::ContextFull:
      return MOEVK_STOP_CONTEXT_FULL;
    case StopReason::Interrupted:
      return MOEVK_STOP_STOPPED;
  }
  return MOEVK_STOP_NONE;
}

// The C callback as the session's TokenFn; a non-zero return stops the generation.
Session::TokenFn token_fn(moevk_session* s, moevk_token_fn fn, void* user) {
  if (!fn) return nullptr;
  return [s, fn, user](int32_t token, const std::string& text) {
    if (fn(user, token, text.data(), text.size()) != 0) s->stop = true;
  };
}

// Whether a generation can advance; MOEVK_ERR_STOPPED / NO_GENERATION otherwise. A stop asked for
// between calls ends the generation here.
void require_running(moevk_session* s) {
  Session& ses = *s->session;
  if (s->stop && ses.active()) ses.interrupt();
  if (ses.active()) return;
  if (s->started && (s->stop || ses.stats().stop == StopReason::Interrupted))
    raise(MOEVK_ERR_STOPPED,
          "the session's generation was stopped: start a new one with moevk_session_start");
  raise(MOEVK_ERR_NO_GENERATION,
        s->started ? "the generation has ended: start a new one with moevk_session_start"
                   : "no generation: call moevk_session_start first");
}

// After a step: a generation that reached n_predict ends now, without evaluating its last token
// (a later prompt that holds it evaluates it then).
void settle(moevk_session* s, const Session::TokenFn& fn) {
  if (s->session->ending()) s->session->end_at_length(fn);
  if (s->stop && s->session->active()) s->session->interrupt();
}

void note_step_time(moevk_session* s, double us) {
  s->step_us = s->step_us == 0 ? us : 0.7 * s->step_us + 0.3 * us;
}

}  // namespace

extern "C" {

void moevk_session_params_init(moevk_session_params* p) {
  if (!p) return;
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
  const SamplerParams d;
  p->temperature = d.temperature;
  p->top_k = d.top_k;
  p->top_p = d.top_p;
  p->min_p = d.min_p;
  p->repeat_penalty = d.repeat_penalty;
  p->repeat_last_n = d.repeat_last_n;
  p->seed = d.seed;
}

moevk_status moevk_session_create(moevk_model* m, const moevk_session_params* params,
                                  moevk_session** out) {
  return call(MOEVK_ERR_INVALID_ARGUMENT, [&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    check_model(m);
    moevk_session_params p;
    moevk_session_params_init(&p);
    if (params) {
      require(params->struct_size >= sizeof(uint32_t),
              "struct_size is not set (call moevk_session_params_init)");
      std::memcpy(&p, params, std::min<size_t>(params->struct_size, sizeof p));
    }
    SamplerParams sp;
    sp.temperature = p.temperature;
    sp.top_k = p.top_k;
    sp.top_p = p.top_p;
    sp.min_p = p.min_p;
    sp.repeat_penalty = p.repeat_penalty;
    sp.repeat_last_n = p.repeat_last_n;
    sp.seed = p.seed;
    sp.validate();
    const uint32_t model_ctx = m->engine->n_ctx();
    if (p.n_ctx > model_ctx)
      raise(MOEVK_ERR_INVALID_ARGUMENT,
            fmt::format("n_ctx {} is larger than the model's {} (moevk_model_params.n_ctx)",
                        p.n_ctx, model_ctx));
    auto s = std::make_unique<moevk_session>();
    s->model = m;
    s->n_ctx = p.n_ctx ? p.n_ctx : model_ctx;
    {
      GpuGuard g(m->rt->gpu);
      if (!m->own_kv_taken)
        m->own_kv_taken = true;  // the engine's own KV cache (kv stays null)
      else
        s->kv = m->engine->new_kv_state();  // counted against the VRAM cap
    }
    s->session.emplace(*m->engine, *m->tokenizer, sp);
    ++m->n_sessions;
    sessions().add(s.get());
    *out = s.release();
  });
}

moevk_status moevk_session_destroy(moevk_session* s) {
  return call(MOEVK_ERR_INTERNAL, [&] {
    if (!s) return;
    check_session(s);
    {
      InUse u(s);
      sessions().remove(s);
    }
    moevk_model* m = s->model;
    if (s->step_pending) {  // an evaluation is in flight: finish it, give the GPU lock back
      try {
        m->engine->eval_finish();
      } catch (...) {
      }
      m->rt->gpu.release();
    }
    {
      GpuGuard g(m->rt->gpu);
      if (!s->kv) m->own_kv_taken = false;
      s->session.reset();
      s->kv.reset();
      m->engine->bind_kv_state(nullptr);
      delete s;
    }
    --m->n_sessions;
  });
}

moevk_status moevk_session_reset(moevk_session* s) {
  return call(MOEVK_ERR_INTERNAL, [&] {
    check_session(s);
    InUse u(s);
    if (s->step_pending)
      raise(MOEVK_ERR_BUSY, "a step is pending: call moevk_session_step_end first");
    s->session->reset();
    s->started = false;
    s->stop = false;
  });
}

moevk_status moevk_session_start(moevk_session* s, const int32_t* prompt, size_t n_prompt,
                                 int32_t n_predict) {
  return call(MOEVK_ERR_INVALID_ARGUMENT, [&] {
    check_session(s);
    InUse u(s);
    if (s->step_pending)
      raise(MOEVK_ERR_BUSY, "a step is pending: call moevk_session_step_end first");
    require(prompt != nullptr && n_prompt > 0, "the prompt is empty");
    const uint32_t n_vocab = s->model->engine->desc().n_vocab;
    for (size_t i = 0; i < n_prompt; ++i)
      if (prompt[i] < 0 || uint32_t(prompt[i]) >= n_vocab)
        raise(MOEVK_ERR_MODEL,
              fmt::format("prompt token {} (at index {}) is outside the vocabulary [0, {})",
                          prompt[i], i, n_vocab));
    if (n_prompt >= s->n_ctx)
      raise(MOEVK_ERR_CONTEXT_FULL,
            fmt::format("the prompt has {} tokens but the session's context holds {}", n_prompt,
                        s->n_ctx));
    s->session->start(std::vector<int32_t>(prompt, prompt + n_prompt), n_predict, s->n_ctx);
    s->stop = false;
    s->started = true;
  });
}

void moevk_generate_result_init(moevk_generate_result* r) {
  if (!r) return;
  std::memset(r, 0, sizeof *r);
  r->struct_size = sizeof *r;
}

moevk_status moevk_session_generate(moevk_session* s, const moevk_budget* budget,
                                    moevk_token_fn on_token, void* user,
                                    moevk_generate_result* result) {
  return call(MOEVK_ERR_MODEL, [&] {
    check_session(s);
    InUse u(s);
    if (s->step_pending)
      raise(MOEVK_ERR_BUSY, "a step is pending: call moevk_session_step_end first");
    moevk_budget b{0, 0};
    if (budget) b = *budget;
    if (b.max_microseconds != 0 && b.max_microseconds < MOEVK_MIN_BUDGET_US)
      raise(MOEVK_ERR_INVALID_ARGUMENT,
            fmt::format("a time budget of {} us is below the minimum of {} us", b.max_microseconds,
                        MOEVK_MIN_BUDGET_US));
    require_running(s);
    const double t0 = now_us();
    const Session::TokenFn fn = token_fn(s, on_token, user);
    uint32_t n = 0;
    Session& ses = *s->session;
    moevk_runtime& rt = *s->model->rt;
    while (ses.active()) {
      if (n > 0) {  // a call produces at least one token
        if (b.max_tokens && n >= b.max_tokens) break;
        if (b.max_microseconds && now_us() - t0 + s->step_us > double(b.max_microseconds)) break;
      }
      if (s->stop) {
        ses.interrupt();
        break;
      }
      const double ts = now_us();
      bool produced;
      {
        GpuGuard g(rt.gpu);
        s->model->engine->bind_kv_state(s->kv);
        produced = ses.step(fn);
      }
      note_step_time(s, now_us() - ts);
      if (produced) ++n;
      settle(s, fn);
    }
    if (result) {
      moevk_generate_result r;
      moevk_generate_result_init(&r);
      r.n_tokens = n;
      r.stop = ses.active() ? MOEVK_STOP_NONE : reason_of(ses.stats().stop);
      r.microseconds = uint64_t(now_us() - t0);
      std::memcpy(result, &r,
                  std::min<size_t>(result->struct_size ? result->struct_size : sizeof r, sizeof r));
    }
  });
}

moevk_status moevk_session_stop(moevk_session* s) {
  return call(MOEVK_ERR_INTERNAL, [&] {
    check_session(s);
    s->stop = true;  // atomic: the running call (any thread) sees it before its next token
  });
}

moevk_status moevk_session_step_begin(moevk_session* s, uint64_t* timeline_value) {
  return call(MOEVK_ERR_MODEL, [&] {
    check_session(s);
    InUse u(s);
    require(timeline_value != nullptr, "timeline_value is NULL");
    *timeline_value = 0;
    if (s->step_pending)
      raise(MOEVK_ERR_BUSY, "a step is pending already: call moevk_session_step_end");
    require_running(s);
    moevk_runtime& rt = *s->model->rt;
    rt.gpu.acquire();  // given back by step_end
    try {
      s->model->engine->bind_kv_state(s->kv);
      Session::Input in = s->session->step_input();
      s->step_begin_time = now_us();
      const vk::TimelinePoint p = s->model->engine->eval_begin(in.tokens, in.pos, Logits::Last);
      *timeline_value = p.value;
      s->step_pending = true;
    } catch (...) {
      rt.gpu.release();
      throw;
    }
  });
}

moevk_status moevk_session_step_end(moevk_session* s, moevk_token_fn on_token, void* user,
                                    int* produced, moevk_stop_reason* stop) {
  return call(MOEVK_ERR_MODEL, [&] {
    check_session(s);
    InUse u(s);
    if (produced) *produced = 0;
    if (!s->step_pending)
      raise(MOEVK_ERR_NO_GENERATION, "no step is pending: call moevk_session_step_begin first");
    s->step_pending = false;
    moevk_runtime& rt = *s->model->rt;
    std::vector<float> logits;
    EvalStats st;
    try {
      logits = s->model->engine->eval_finish();
      st = s->model->engine->last_stats();
    } catch (...) {
      rt.gpu.release();
      throw;
    }
    rt.gpu.release();
    const double secs = (now_us() - s->step_begin_time) * 1e-6;
    note_step_time(s, secs * 1e6);
    const Session::TokenFn fn = token_fn(s, on_token, user);
    const bool got = s->session->finish_step(logits, st, secs, fn);
    settle(s, fn);
    if (produced) *produced = got ? 1 : 0;
    if (stop) *stop = s->session->active() ? MOEVK_STOP_NONE : reason_of(s->session->stats().stop);
  });
}

void moevk_session_stats_init(moevk_session_stats* st) {
  if (!st) return;
  std::memset(st, 0, sizeof *st);
  st->struct_size = sizeof *st;
}

moevk_status moevk_session_get_stats(moevk_session* s, moevk_session_stats* out) {
  return call(MOEVK_ERR_INTERNAL, [&] {
    check_session(s);
    require(out != nullptr && out->struct_size >= sizeof(uint32_t),
            "stats is NULL or its struct_size is unset");
    InUse u(s);
    const GenerationStats& g = s->session->stats();
    moevk_session_stats st;
    moevk_session_stats_init(&st);
    st.prompt_tokens = g.prompt_tokens;
    st.prompt_seconds = g.prompt_seconds;
    st.generated_tokens = g.generated_tokens;
    st.generate_seconds = g.generate_seconds;
    st.n_past = static_cast<uint32_t>(s->session->history().size());
    st.stop = s->session->active() || !s->started ? MOEVK_STOP_NONE : reason_of(g.stop);
    st.gpu_submits = g.prompt_totals.submits + g.decode_totals.submits;
    st.expert_misses = g.prompt_totals.total().misses + g.decode_totals.total().misses;
    std::memcpy(out, &st, std::min<size_t>(out->struct_size, sizeof st));
  });
}

}  // extern "C"
