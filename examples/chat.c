/* chat.c: one chat turn with a model through moevk's C API, the reply printed as it comes.
 *   chat MODEL.gguf ["question"] [max tokens]
 * Builds as C99 against the installed package: see examples/CMakeLists.txt, or
 *   cc -std=c99 -Wall -Werror chat.c $(pkg-config --cflags --libs moevk) */
#include <stdio.h>
#include <stdlib.h>

#include <moevk.h>

static int fail(const char* what, moevk_status s) {
  fprintf(stderr, "chat: %s: %s: %s\n", what, moevk_status_name(s), moevk_last_error());
  return 1;
}

static int on_progress(void* user, float fraction, const char* stage) {
  (void)user;
  fprintf(stderr, "\rloading: %3.0f%% (%s)      ", fraction * 100.0f, stage);
  return 0; /* non-zero would cancel the load */
}

static int on_token(void* user, int32_t token, const char* text, size_t len) {
  (void)token;
  ++*(int*)user;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return 0; /* non-zero would stop the reply */
}

int main(int argc, char** argv) {
  moevk_runtime* rt = NULL;
  moevk_model* model = NULL;
  moevk_session* session = NULL;
  moevk_model_params mp;
  moevk_session_params sp;
  moevk_session_stats stats;
  moevk_chat_message messages[2];
  int32_t* prompt = NULL;
  size_t n_prompt = 0;
  int pieces = 0, rc = 1;
  moevk_status s;
  const char* question = argc > 2 ? argv[2] : "Hello! Who are you?";
  const int n_predict = argc > 3 ? atoi(argv[3]) : 64;

  if (argc < 2) {
    fprintf(stderr, "usage: chat MODEL.gguf [\"question\"] [max tokens]\n");
    return 2;
  }
  if ((s = moevk_runtime_create(NULL, &rt)) != MOEVK_OK) return fail("runtime", s);

  moevk_model_params_init(&mp);
  mp.n_ctx = 512;
  mp.progress = on_progress;
  s = moevk_model_load(rt, argv[1], &mp, &model);
  fprintf(stderr, "\n");
  if (s != MOEVK_OK) {
    rc = fail("load", s);
    goto done;
  }

  messages[0].role = "system";
  messages[0].content = "You are a helpful assistant.";
  messages[1].role = "user";
  messages[1].content = question;
  /* First ask for the size, then fill. */
  s = moevk_chat_tokenize(model, messages, 2, 1, NULL, 0, &n_prompt);
  if (s != MOEVK_ERR_BUFFER_TOO_SMALL && s != MOEVK_OK) {
    rc = fail("chat template", s);
    goto done;
  }
  prompt = malloc(n_prompt * sizeof *prompt);
  if (!prompt || (s = moevk_chat_tokenize(model, messages, 2, 1, prompt, n_prompt, &n_prompt)) != MOEVK_OK) {
    rc = fail("chat template", s);
    goto done;
  }

  moevk_session_params_init(&sp);
  sp.seed = 1234;
  if ((s = moevk_session_create(model, &sp, &session)) != MOEVK_OK) {
    rc = fail("session", s);
    goto done;
  }
  if ((s = moevk_session_start(session, prompt, n_prompt, n_predict)) != MOEVK_OK) {
    rc = fail("start", s);
    goto done;
  }
  printf("> %s\n", question);
  if ((s = moevk_session_generate(session, NULL, on_token, &pieces, NULL)) != MOEVK_OK) {
    rc = fail("generate", s);
    goto done;
  }
  printf("\n");
  moevk_session_stats_init(&stats);
  if ((s = moevk_session_get_stats(session, &stats)) != MOEVK_OK) {
    rc = fail("stats", s);
    goto done;
  }
  fprintf(stderr, "chat: prompt %llu tokens in %.3f s, reply %llu tokens in %.3f s (%d callbacks)\n",
          (unsigned long long)stats.prompt_tokens, stats.prompt_seconds,
          (unsigned long long)stats.generated_tokens, stats.generate_seconds, pieces);
  rc = 0;

done:
  free(prompt);
  moevk_session_destroy(session);
  moevk_model_destroy(model);
  moevk_runtime_destroy(rt);
  return rc;
}
