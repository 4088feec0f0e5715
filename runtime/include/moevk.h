/* moevk.h: the C API of moevk, a runtime for Mixture-of-Experts GGUF models on Vulkan, for
 * applications and games that embed a model: on moevk's own Vulkan device or on the application's,
 * inside a VRAM cap, with a per-call budget of tokens or time.
 *
 * ABI: C99, opaque handles, every call returns a moevk_status; no exception and no C++ type crosses
 * it. Parameter structs begin with struct_size (set by the *_init functions): a newer library reads
 * only the fields an older caller knew. MOEVK_API_VERSION is the version this header describes;
 * moevk_api_version() the library's (the same major version is compatible).
 *
 * Errors: a failing call returns a status code and leaves a message for the calling thread,
 * read with moevk_last_error() (valid until the thread's next moevk call). Handles are checked:
 * a pointer that is not a live handle of the right kind gives MOEVK_ERR_BAD_HANDLE, not a crash.
 *
 * THREAD SAFETY
 * - Runtimes are independent of each other.
 * - A model is shared by its sessions: the weights (and, when streaming, the expert cache) exist
 *   once; each session owns its KV cache, its sampler and its position.
 * - Different sessions may be used from different threads at the same time. Their GPU work is
 *   serialised per runtime (one evaluation at a time, token by token), so two sessions generating
 *   from two threads interleave, and each gets exactly the tokens it gets alone.
 * - One session must not be used from two threads at once (MOEVK_ERR_BUSY), except
 *   moevk_session_stop(), which any thread may call at any time (also from a token callback),
 *   though not after or during moevk_session_destroy of that session.
 * - moevk_tokenize, moevk_detokenize, moevk_chat_* and moevk_model_info may run concurrently
 *   with anything on the same model.
 * - Destroy sessions before their model and models before their runtime (MOEVK_ERR_BUSY otherwise).
 * - Callbacks run on the thread that made the call; they must not call moevk on the same session
 *   (moevk_session_stop excepted).
 * - The application's device (moevk_runtime_create_on_device): moevk submits to the given queue
 *   only between the lock and unlock callbacks (Vulkan queues are externally synchronised), never
 *   waits for the whole device, and destroys none of the application's objects.
 */
#ifndef MOEVK_H
#define MOEVK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MOEVK_API __declspec(dllimport)
#else
#define MOEVK_API __attribute__((visibility("default")))
#endif

#define MOEVK_API_VERSION_MAJOR 1
#define MOEVK_API_VERSION_MINOR 0
#define MOEVK_API_VERSION ((MOEVK_API_VERSION_MAJOR << 16) | MOEVK_API_VERSION_MINOR)

/* The smallest time budget of a call (moevk_budget.max_microseconds): below it a call could not
 * even check the clock meaningfully. A call always produces at least one token. */
#define MOEVK_MIN_BUDGET_US 100

typedef enum moevk_status {
  MOEVK_OK = 0,
  MOEVK_ERR_INVALID_ARGUMENT = 1, /* null pointer, value out of range, budget below the minimum */
  MOEVK_ERR_BAD_HANDLE = 2,       /* not a live handle of this kind (destroyed, or never made) */
  MOEVK_ERR_IO = 3,               /* a file that cannot be opened or read */
  MOEVK_ERR_MODEL = 4,            /* a malformed or unsupported model, a token outside the vocabulary */
  MOEVK_ERR_DEVICE = 5,           /* no usable Vulkan device, missing features, a Vulkan failure */
  MOEVK_ERR_OUT_OF_MEMORY = 6,    /* the VRAM cap or the device's memory is exhausted */
  MOEVK_ERR_CANCELLED = 7,        /* a progress callback cancelled the load */
  MOEVK_ERR_STOPPED = 8,          /* the session's generation was stopped: start a new one */
  MOEVK_ERR_BUSY = 9,             /* the handle is in use (another thread, an evaluation pending,
                                     sessions still open on a model...) */
  MOEVK_ERR_CONTEXT_FULL = 10,    /* the prompt does not fit the session's context */
  MOEVK_ERR_BUFFER_TOO_SMALL = 11,/* the output did not fit: *n_out says how much is needed */
  MOEVK_ERR_NO_GENERATION = 12,   /* no generation started, or it already ended */
  MOEVK_ERR_INTERNAL = 13
} moevk_status;

/* The version of the library (MOEVK_API_VERSION of the header it was built with). */
MOEVK_API uint32_t moevk_api_version(void);
/* The message of the calling thread's last failed call ("" when none). */
MOEVK_API const char* moevk_last_error(void);
/* "MOEVK_ERR_BAD_HANDLE" and so on. */
MOEVK_API const char* moevk_status_name(moevk_status status);

typedef struct moevk_runtime moevk_runtime;
typedef struct moevk_model moevk_model;
typedef struct moevk_session moevk_session;

/* ---------------------------------------------------------------- runtime */

typedef enum moevk_log_level {
  MOEVK_LOG_ERROR = 0,
  MOEVK_LOG_WARN = 1,
  MOEVK_LOG_INFO = 2
} moevk_log_level;
/* Receives moevk's log lines (without a newline). Default (NULL): warnings and errors on stderr,
 * info lines too when the environment has MOEVK_VERBOSE set. */
typedef void (*moevk_log_fn)(void* user, moevk_log_level level, const char* message);

/* Global queue priority of moevk's own device (VK_KHR/EXT_global_priority where the device has it;
 * moevk_runtime_info says what was applied). LOW keeps a compositor's or a game's frames first. */
typedef enum moevk_priority {
  MOEVK_PRIORITY_DEFAULT = 0,
  MOEVK_PRIORITY_LOW = 1,
  MOEVK_PRIORITY_MEDIUM = 2,
  MOEVK_PRIORITY_HIGH = 3,
  MOEVK_PRIORITY_REALTIME = 4
} moevk_priority;

typedef struct moevk_runtime_params {
  uint32_t struct_size;
  int32_t device_index;     /* own device: -1 the best (discrete first) */
  uint64_t vram_cap_bytes;  /* device memory moevk may allocate in all (weights, expert cache,
                               every session's KV cache, scratch); 0: the free VRAM minus a margin */
  moevk_priority priority;  /* own device only */
  int32_t validate;         /* own device: the Khronos validation layer (debugging) */
  moevk_log_fn log;
  void* log_user;
} moevk_runtime_params;
MOEVK_API void moevk_runtime_params_init(moevk_runtime_params* params);

/* A runtime on a Vulkan device moevk creates and owns. params may be NULL (defaults). */
MOEVK_API moevk_status moevk_runtime_create(const moevk_runtime_params* params, moevk_runtime** out);

/* The application's device. Handles are the Vulkan ones cast to void* (VkInstance,
 * VkPhysicalDevice, VkDevice are pointers). The device must have been created with Vulkan 1.2's
 * bufferDeviceAddress and timelineSemaphore and with shaderInt64; moevk reads device_create_info
 * (the VkDeviceCreateInfo the device was created with, its pNext chain and extensions) to check,
 * and refuses a device without them, naming each missing feature. Optional features the app
 * enabled (shaderFloat16, shaderInt8, 8/16-bit storage, subgroup size control,
 * VK_EXT_memory_budget) are used; those it did not run on fallbacks. */
typedef struct moevk_vulkan_device {
  uint32_t struct_size;
  void* instance;
  void* physical_device;
  void* device;
  uint32_t queue_family; /* a family with VK_QUEUE_COMPUTE_BIT */
  uint32_t queue_index;
  const void* device_create_info; /* const VkDeviceCreateInfo* */
  uint32_t api_version;           /* the instance's VkApplicationInfo::apiVersion */
  /* Called around every vkQueueSubmit moevk makes on the queue (both NULL: moevk is the only
   * thread that submits to it). */
  void (*lock_queue)(void* user);
  void (*unlock_queue)(void* user);
  void* queue_user;
} moevk_vulkan_device;
MOEVK_API void moevk_vulkan_device_init(moevk_vulkan_device* device);
MOEVK_API moevk_status moevk_runtime_create_on_device(const moevk_runtime_params* params,
                                                      const moevk_vulkan_device* device,
                                                      moevk_runtime** out);
/* Waits for moevk's GPU work and frees everything it allocated. MOEVK_ERR_BUSY while models are
 * open. NULL is accepted (MOEVK_OK). */
MOEVK_API moevk_status moevk_runtime_destroy(moevk_runtime* runtime);

typedef struct moevk_runtime_info {
  uint32_t struct_size;
  char device_name[256];
  int32_t own_device;            /* 1: moevk created the device; 0: the application's */
  moevk_priority priority;       /* the global priority applied (DEFAULT: none or unavailable) */
  uint64_t vram_cap_bytes;       /* the cap in force (0: none) */
  uint64_t vram_allocated_bytes; /* device memory moevk holds now (counted at vkAllocateMemory) */
  uint64_t vram_peak_bytes;
  uint64_t vram_allocations;     /* device allocations made so far */
  uint64_t timeline_semaphore;   /* the VkSemaphore (timeline) moevk's evaluations signal */
} moevk_runtime_info;
MOEVK_API void moevk_runtime_info_init(moevk_runtime_info* info);
/* Never waits: while an evaluation is in flight the memory figures are those of the last call that
 * found the runtime idle. */
MOEVK_API moevk_status moevk_runtime_get_info(moevk_runtime* runtime, moevk_runtime_info* info);

/* ---------------------------------------------------------------- model */

/* Loading progress in [0, 1] with the stage's name; return non-zero to cancel the load
 * (moevk_model_load then returns MOEVK_ERR_CANCELLED, having freed what it allocated). */
typedef int (*moevk_progress_fn)(void* user, float fraction, const char* stage);

typedef struct moevk_model_params {
  uint32_t struct_size;
  uint32_t n_ctx;           /* positions each session may hold (0: the model's, at most 4096) */
  uint64_t vram_bytes;      /* this model's share of the runtime's cap (0: all that is left) */
  moevk_progress_fn progress;
  void* progress_user;
} moevk_model_params;
MOEVK_API void moevk_model_params_init(moevk_model_params* params);
/* Loads a GGUF file. Below the resident size the experts stream from host memory. */
MOEVK_API moevk_status moevk_model_load(moevk_runtime* runtime, const char* path,
                                        const moevk_model_params* params, moevk_model** out);
MOEVK_API moevk_status moevk_model_destroy(moevk_model* model);

typedef struct moevk_model_info {
  uint32_t struct_size;
  char name[128];
  char arch[32];
  uint32_t n_vocab;
  uint32_t n_ctx;
  uint32_t n_layer;
  uint32_t n_expert, n_expert_used;
  int32_t streaming;                /* 1: experts stream (the cap is below the resident size) */
  uint64_t vram_bytes;              /* what loading allocated */
  uint64_t kv_bytes_per_session;    /* each session after the first allocates this much */
} moevk_model_info;
MOEVK_API void moevk_model_info_init(moevk_model_info* info);
MOEVK_API moevk_status moevk_model_get_info(moevk_model* model, moevk_model_info* info);

/* Token ids of text (len bytes; text need not be NUL-terminated). add_special: BOS/EOS where the
 * vocabulary asks for them; parse_special: control-token text becomes that token. Writes at most
 * capacity ids; *n_tokens is the number of ids (MOEVK_ERR_BUFFER_TOO_SMALL when > capacity). */
MOEVK_API moevk_status moevk_tokenize(moevk_model* model, const char* text, size_t len,
                                      int add_special, int parse_special, int32_t* tokens,
                                      size_t capacity, size_t* n_tokens);
/* The text of tokens (not NUL-terminated in buf unless room remains; *n_bytes the length). */
MOEVK_API moevk_status moevk_detokenize(moevk_model* model, const int32_t* tokens, size_t n,
                                        char* buf, size_t capacity, size_t* n_bytes);

typedef struct moevk_chat_message {
  const char* role; /* "system", "user", "assistant" */
  const char* content;
} moevk_chat_message;
/* The model's chat template (tokenizer.chat_template; ChatML when it has none) rendered for the
 * messages, as text (NUL-terminated when it fits; *n_bytes excludes the NUL). */
MOEVK_API moevk_status moevk_chat_apply_template(moevk_model* model, const moevk_chat_message* messages,
                                                 size_t n_messages, int add_generation_prompt,
                                                 char* buf, size_t capacity, size_t* n_bytes);
/* The same conversation as prompt tokens: only the template's own markup may become special
 * tokens, never text inside a message. */
MOEVK_API moevk_status moevk_chat_tokenize(moevk_model* model, const moevk_chat_message* messages,
                                           size_t n_messages, int add_generation_prompt,
                                           int32_t* tokens, size_t capacity, size_t* n_tokens);

/* ---------------------------------------------------------------- session */

typedef struct moevk_session_params {
  uint32_t struct_size;
  uint32_t n_ctx;        /* 0: the model's n_ctx; at most the model's */
  float temperature;     /* <= 0: greedy */
  int32_t top_k;         /* <= 0: off */
  float top_p;           /* >= 1: off */
  float min_p;           /* <= 0: off */
  float repeat_penalty;  /* 1: off */
  int32_t repeat_last_n;
  uint64_t seed;
} moevk_session_params;
MOEVK_API void moevk_session_params_init(moevk_session_params* params);
MOEVK_API moevk_status moevk_session_create(moevk_model* model, const moevk_session_params* params,
                                            moevk_session** out);
MOEVK_API moevk_status moevk_session_destroy(moevk_session* session);
/* Forgets the conversation (the KV cache's contents). */
MOEVK_API moevk_status moevk_session_reset(moevk_session* session);

/* Starts a generation: the prompt (the whole conversation so far: what the session already holds
 * is reused, only the rest is evaluated) and at most n_predict tokens (< 0: until the model ends
 * it or the context is full). Nothing is evaluated before the first moevk_session_generate. */
MOEVK_API moevk_status moevk_session_start(moevk_session* session, const int32_t* prompt,
                                           size_t n_prompt, int32_t n_predict);

/* Called with each generated token and the complete UTF-8 text it ends (len may be 0 while a
 * multi-byte character is incomplete; a final call with token -1 carries held-back text).
 * Return non-zero to stop the generation (as moevk_session_stop). */
typedef int (*moevk_token_fn)(void* user, int32_t token, const char* text, size_t len);

/* A per-call budget: the call returns when either limit is reached (0: no limit), and the next
 * call resumes; the tokens are those of one uninterrupted call with the same seed. A call produces
 * at least one token; max_microseconds below MOEVK_MIN_BUDGET_US is MOEVK_ERR_INVALID_ARGUMENT. A
 * call stops before a token its measured per-token time would take past the time budget. */
typedef struct moevk_budget {
  uint32_t max_tokens;
  uint64_t max_microseconds;
} moevk_budget;

typedef enum moevk_stop_reason {
  MOEVK_STOP_NONE = 0,          /* still running: call moevk_session_generate again */
  MOEVK_STOP_END_OF_GENERATION = 1,
  MOEVK_STOP_LENGTH = 2,        /* n_predict tokens */
  MOEVK_STOP_CONTEXT_FULL = 3,
  MOEVK_STOP_STOPPED = 4        /* moevk_session_stop or a callback */
} moevk_stop_reason;

typedef struct moevk_generate_result {
  uint32_t struct_size;
  uint32_t n_tokens;             /* produced by this call */
  moevk_stop_reason stop;        /* NONE: the budget ran out first */
  uint64_t microseconds;         /* this call's duration */
} moevk_generate_result;
MOEVK_API void moevk_generate_result_init(moevk_generate_result* result);

/* Generates within the budget (NULL: until the generation ends), calling on_token (may be NULL)
 * for each token. result may be NULL. MOEVK_ERR_STOPPED once the generation was stopped,
 * MOEVK_ERR_NO_GENERATION when none runs. */
MOEVK_API moevk_status moevk_session_generate(moevk_session* session, const moevk_budget* budget,
                                              moevk_token_fn on_token, void* user,
                                              moevk_generate_result* result);

/* Stops the session's generation: a running moevk_session_generate returns after the current
 * token, and further calls give MOEVK_ERR_STOPPED until moevk_session_start. Any thread, any time. */
MOEVK_API moevk_status moevk_session_stop(moevk_session* session);

/* Non-blocking evaluation: step_begin submits the GPU work of the session's next token and
 * returns at once with the value the runtime's timeline semaphore (moevk_runtime_info) reaches when
 * the GPU is done (0: it is done already), which the app may wait on with vkWaitSemaphores or in
 * its own submissions. step_end waits if needed, samples, and calls on_token. Between the two the
 * runtime evaluates nothing else: calls that use the GPU (loads, session create/destroy, generate
 * and steps of other sessions) wait for step_end, so a thread must not make them in between
 * (moevk_runtime_get_info does not wait). *produced (may be NULL): 1 if a token came. */
MOEVK_API moevk_status moevk_session_step_begin(moevk_session* session, uint64_t* timeline_value);
MOEVK_API moevk_status moevk_session_step_end(moevk_session* session, moevk_token_fn on_token,
                                              void* user, int* produced, moevk_stop_reason* stop);

typedef struct moevk_session_stats {
  uint32_t struct_size;
  uint64_t prompt_tokens;         /* evaluated for the current generation's prompt */
  double prompt_seconds;
  uint64_t generated_tokens;
  double generate_seconds;
  uint32_t n_past;                /* positions the session's KV cache holds */
  moevk_stop_reason stop;
  uint64_t gpu_submits;           /* GPU submissions of the generation (host round trips) */
  uint64_t expert_misses;         /* streaming: expert uses not found in VRAM */
} moevk_session_stats;
MOEVK_API void moevk_session_stats_init(moevk_session_stats* stats);
MOEVK_API moevk_status moevk_session_get_stats(moevk_session* session, moevk_session_stats* stats);

#ifdef __cplusplus
}
#endif

#endif /* MOEVK_H */
