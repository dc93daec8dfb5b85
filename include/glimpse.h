/* glimpse: vision-language models (image captioning, visual question answering) on Vulkan.
 *
 * The C API for applications that embed glimpse. A model (weights, immutable once loaded) is
 * shared by threads; a session holds one caller's per-request state. Every function returns a
 * glimpse_status; the message of the last failure is available from glimpse_last_error() on the
 * same thread, and from glimpse_session_last_error() for a session. Nothing here aborts or prints
 * on bad input; messages reach a log callback only when one is set.
 *
 * Structs with a struct_size field are versioned: get them from the *_default_params() functions
 * (or their _ptr variants, for FFIs that cannot return structs by value) and set what you need.
 *
 * Thread safety is stated on every function. */
#ifndef GLIMPSE_H
#define GLIMPSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GLIMPSE_VERSION_MAJOR 0
#define GLIMPSE_VERSION_MINOR 7
#define GLIMPSE_VERSION_PATCH 0
#define GLIMPSE_VERSION ((GLIMPSE_VERSION_MAJOR << 16) | (GLIMPSE_VERSION_MINOR << 8) | GLIMPSE_VERSION_PATCH)

#if defined(_WIN32)
#define GLIMPSE_API __declspec(dllexport)
#else
#define GLIMPSE_API __attribute__((visibility("default")))
#endif

typedef enum glimpse_status {
  GLIMPSE_OK = 0,
  GLIMPSE_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a bad size, an empty question, ... */
  GLIMPSE_ERROR_IO = 2,               /* a file cannot be read */
  GLIMPSE_ERROR_MODEL = 3,            /* a model folder is broken, incomplete or unsupported */
  GLIMPSE_ERROR_IMAGE = 4,            /* an image cannot be decoded or is too large */
  GLIMPSE_ERROR_DEVICE = 5,           /* no usable Vulkan device, or a device failure; after a lost
                                         device (VK_ERROR_DEVICE_LOST) the requests in flight get it,
                                         and the model's next request recreates the device and the
                                         model's device state (0.6) */
  GLIMPSE_ERROR_OUT_OF_MEMORY = 6,
  GLIMPSE_ERROR_CANCELLED = 7,        /* the abort or progress callback asked to stop */
  GLIMPSE_ERROR_WRONG_MODEL = 8,      /* e.g. glimpse_answer on a captioning model */
  GLIMPSE_ERROR_INTERNAL = 9
} glimpse_status;

typedef struct glimpse_model glimpse_model;
typedef struct glimpse_session glimpse_session;

/* Callbacks. user_data is passed back untouched. */
typedef void (*glimpse_log_fn)(void* user_data, int level, const char* message); /* level: 0 info, 1 warning, 2 error */
typedef int (*glimpse_progress_fn)(void* user_data, float fraction);             /* return 0 to cancel the load */
typedef void (*glimpse_token_fn)(void* user_data, uint32_t token_id, const char* text_so_far);
typedef int (*glimpse_abort_fn)(void* user_data);                                /* return non-zero to stop */

/* ---- library ------------------------------------------------------------------------------- */

/* The runtime version (compare with GLIMPSE_VERSION). Thread-safe. */
GLIMPSE_API uint32_t glimpse_version(void);
/* The last failure's message on this thread ("" if none). Valid until the thread's next glimpse
 * call. Thread-safe (per thread). */
GLIMPSE_API const char* glimpse_last_error(void);
/* A status's name, e.g. "GLIMPSE_ERROR_IMAGE". Thread-safe. */
GLIMPSE_API const char* glimpse_status_name(glimpse_status status);

/* ---- devices -------------------------------------------------------------------------------- */

typedef struct glimpse_device_info {
  uint32_t struct_size;
  uint32_t index;
  char name[256];
  char type[32];   /* "discrete GPU", "integrated GPU", "virtual GPU", "CPU", "other" */
  char driver[256];
  uint64_t memory_bytes;
  uint32_t subgroup_size;
  int fp16_storage, fp16_arithmetic;
  int preferred; /* the device glimpse picks by default */
  /* Added in 0.5. Callers built against 0.4 pass the shorter struct_size and get the fields before. */
  char backend[16];          /* what runs a model's ops there: "vulkan" (shaders) or "host" (CPU code) */
  int unified_memory;        /* device memory is host-visible (CPUs, integrated GPUs) */
  int tensor_cores;          /* fp16 matrix units glimpse uses (VK_NV_cooperative_matrix) */
  uint32_t api_version;      /* Vulkan version, VK_MAKE_API_VERSION's encoding */
  uint32_t shared_memory_bytes;     /* per workgroup */
  uint64_t max_storage_range_bytes; /* per storage-buffer binding */
} glimpse_device_info;

/* Lists Vulkan devices: with devices == NULL only *count is set; otherwise up to *count entries
 * are filled and *count becomes the number written. devices[0].struct_size must be set: it is
 * also the array's stride, so an array of an older, shorter struct works. Thread-safe. */
GLIMPSE_API glimpse_status glimpse_devices(glimpse_device_info* devices, uint32_t* count);

/* ---- models --------------------------------------------------------------------------------- */

typedef struct glimpse_model_params {
  uint32_t struct_size;
  const char* device;  /* index or name substring; NULL: $GLIMPSE_DEVICE, else the preferred device */
  int fp16_weights;    /* store weights as fp16: half the memory, a small accuracy cost */
  glimpse_log_fn log;
  void* log_user_data;
  glimpse_progress_fn progress;
  void* progress_user_data;
  /* Added in 0.3: a cap on the device memory this model's context allocates (weights, work
     buffers, KV caches); 0: $GLIMPSE_MEMORY_LIMIT_MB, else none. Past it, the load or the request
     fails with GLIMPSE_ERROR_OUT_OF_MEMORY and the model (if loaded) stays usable. Callers built
     against 0.2 pass the shorter struct_size and get no cap. */
  uint64_t memory_limit_bytes;
} glimpse_model_params;

GLIMPSE_API glimpse_model_params glimpse_model_default_params(void);
GLIMPSE_API void glimpse_model_default_params_ptr(glimpse_model_params* out);

/* Loads a Hugging Face model folder (BLIP captioning or VQA, ViT-GPT2). On failure *model is
 * NULL: GLIMPSE_ERROR_IO when the folder or a file cannot be read, GLIMPSE_ERROR_MODEL when a
 * file is broken or no supported family opens the folder (the message lists the families).
 * Thread-safe (each call loads its own model). */
GLIMPSE_API glimpse_status glimpse_model_load(const char* folder, const glimpse_model_params* params,
                                              glimpse_model** model);
/* Added in 0.5: the folder of a bundled model ("blip-scenes-caption", "blip-scenes-vqa"), looked up
 * in $GLIMPSE_MODELS_DIR, the source tree's models/ (programs in a build tree), then the installed
 * share/glimpse/models. Writes the path, NUL-terminated, into path[capacity]; GLIMPSE_ERROR_IO
 * naming every place tried when it is in none, GLIMPSE_ERROR_INVALID_ARGUMENT when capacity is too
 * small. Thread-safe. */
GLIMPSE_API glimpse_status glimpse_bundled_model(const char* name, char* path, size_t capacity);
#define GLIMPSE_BUNDLED_CAPTION_MODEL "blip-scenes-caption"
#define GLIMPSE_BUNDLED_VQA_MODEL "blip-scenes-vqa"

/* Frees a model; every session on it must be freed first. Not concurrent with other calls on
 * the model. NULL is ignored. */
GLIMPSE_API void glimpse_model_free(glimpse_model* model);

typedef enum glimpse_task { GLIMPSE_TASK_CAPTION = 1, GLIMPSE_TASK_ANSWER = 2 } glimpse_task;

typedef struct glimpse_model_info {
  uint32_t struct_size;
  char architecture[64];  /* "BlipForConditionalGeneration", "BlipForQuestionAnswering", "VisionEncoderDecoderModel",
                             "Florence2ForConditionalGeneration" */
  glimpse_task task;
  uint32_t image_size;     /* the encoder's input width = height */
  uint32_t vision_hidden, vision_layers, text_hidden, text_layers, vocab_size;
  char weights_dtype[8];   /* "f32" or "f16" */
  char device[256];
  /* Added in 0.4: the id that ends generation (a result whose last id is this one stopped there;
     otherwise it hit a length limit), and the default max_length (counting the decoder start and
     any prompt). Callers built against 0.3 pass the shorter struct_size and get the fields before. */
  uint32_t eos_token_id;
  uint32_t max_length;
} glimpse_model_info;

/* Thread-safe. */
GLIMPSE_API glimpse_status glimpse_model_info_get(const glimpse_model* model, glimpse_model_info* info);

/* ---- sessions and requests ------------------------------------------------------------------- */

/* A session serves one request at a time; use one per thread. Many sessions on one model run
 * concurrently. glimpse_session_create is thread-safe; a session's own calls are not concurrent. */
GLIMPSE_API glimpse_status glimpse_session_create(glimpse_model* model, glimpse_session** session);
GLIMPSE_API void glimpse_session_free(glimpse_session* session);
/* The session's last failure ("" if none). */
GLIMPSE_API const char* glimpse_session_last_error(const glimpse_session* session);

typedef enum glimpse_image_kind {
  GLIMPSE_IMAGE_PATH = 1,     /* path */
  GLIMPSE_IMAGE_ENCODED = 2,  /* data/size: JPEG, PNG, BMP, GIF, ... bytes */
  GLIMPSE_IMAGE_PIXELS = 3    /* data, width, height, stride, format */
} glimpse_image_kind;

typedef enum glimpse_pixel_format {
  GLIMPSE_PIXELS_RGB8 = 1,
  GLIMPSE_PIXELS_RGBA8 = 2, /* alpha dropped, as HF's convert("RGB") does */
  GLIMPSE_PIXELS_BGRA8 = 3  /* e.g. a QImage::Format_ARGB32 on little-endian, a Windows DIB */
} glimpse_pixel_format;

typedef struct glimpse_image {
  uint32_t struct_size;
  glimpse_image_kind kind;
  const char* path;
  const void* data;
  size_t size;
  uint32_t width, height, stride; /* stride: bytes per row (0: tightly packed) */
  glimpse_pixel_format format;
  /* Added in 0.6: images over this many pixels are refused (GLIMPSE_ERROR_IMAGE) from their
     header, before any pixel is decoded; 0: the default, 178956970 (Pillow's decompression-bomb
     limit). Callers built against 0.5 pass the shorter struct_size and get the default. */
  uint64_t max_pixels;
} glimpse_image;

GLIMPSE_API glimpse_image glimpse_image_from_path(const char* path);
GLIMPSE_API glimpse_image glimpse_image_from_encoded(const void* data, size_t size);
GLIMPSE_API glimpse_image glimpse_image_from_pixels(const void* data, uint32_t width, uint32_t height, uint32_t stride,
                                                    glimpse_pixel_format format);

/* Added in 0.5: an image decoded as glimpse decodes it for a model (RGB, 8 bits, rows tightly
 * packed), e.g. to show what the model sees. */
typedef struct glimpse_pixels {
  uint8_t* rgb; /* width * height * 3 bytes, owned by the struct */
  uint32_t width, height;
} glimpse_pixels;
/* Decodes `image` (any kind) into *out; free it with glimpse_pixels_free. Errors as
 * glimpse_caption's for images (GLIMPSE_ERROR_IO, GLIMPSE_ERROR_IMAGE). Thread-safe. */
GLIMPSE_API glimpse_status glimpse_image_decode(const glimpse_image* image, glimpse_pixels* out);
/* Frees what *pixels owns and zeroes it. NULL is ignored. Thread-safe. */
GLIMPSE_API void glimpse_pixels_free(glimpse_pixels* pixels);

typedef struct glimpse_generate_params {
  uint32_t struct_size;
  const char* prompt;      /* captioning: the caption continues this text (BLIP); Florence-2: a task
                              token and its text; NULL for none */
  uint32_t max_new_tokens; /* 0: use max_length */
  uint32_t max_length;     /* 0: the model's default (20), counting the prompt */
  uint32_t min_length;
  uint32_t num_beams;      /* 0: the model's default (Florence-2: 3, others: greedy); 1: greedy */
  float length_penalty;
  int early_stopping;
  int do_sample;
  float temperature;
  uint32_t top_k;
  float top_p;
  uint64_t seed;
  glimpse_token_fn on_token; /* streaming; called on the calling thread */
  void* token_user_data;
  glimpse_abort_fn abort;    /* polled before every device submission */
  void* abort_user_data;
  /* Added in 0.7: Florence-2's task token ("<OD>"; NULL: <CAPTION>) and the text of tasks that
   * take one ("<CAPTION_TO_PHRASE_GROUNDING>": the caption). A `prompt` may carry both instead
   * ("<OD>", "<REGION_TO_CATEGORY><loc_1><loc_2><loc_3><loc_4>"). Other models refuse a task
   * (GLIMPSE_ERROR_INVALID_ARGUMENT). glimpse_session_result_json has the task's answer. */
  const char* task;
  const char* task_text;
} glimpse_generate_params;

GLIMPSE_API glimpse_generate_params glimpse_generate_default_params(void);
GLIMPSE_API void glimpse_generate_default_params_ptr(glimpse_generate_params* out);

typedef struct glimpse_result {
  char* text;          /* UTF-8, owned by the result */
  uint32_t* token_ids; /* the decoder start, any prompt and the generated ids */
  size_t token_count;
  double encode_ms, decode_ms;
} glimpse_result;

/* Captions one image. On success fill *result; free it with glimpse_result_free. */
GLIMPSE_API glimpse_status glimpse_caption(glimpse_session* session, const glimpse_image* image,
                                           const glimpse_generate_params* params, glimpse_result* result);
/* Answers a question about one image (VQA models). */
GLIMPSE_API glimpse_status glimpse_answer(glimpse_session* session, const glimpse_image* image, const char* question,
                                          const glimpse_generate_params* params, glimpse_result* result);
/* Added in 0.7. After a successful glimpse_caption on a model with tasks (Florence-2): the task's
 * answer as JSON, {"task": "<OD>", "generated_text": "...", "result": {"<OD>": {"bboxes": [[x1, y1,
 * x2, y2], ...], "labels": [...]}}}, where generated_text keeps the special tokens and result is
 * the processor's post_process_generation in the image's pixels; result->text holds a text task's
 * answer. "" otherwise. Valid until the session's next call; not thread-safe for that session. */
GLIMPSE_API const char* glimpse_session_result_json(const glimpse_session* session);
/* Frees what a result owns and zeroes it. NULL and zeroed results are ignored. Thread-safe. */
GLIMPSE_API void glimpse_result_free(glimpse_result* result);

#ifdef __cplusplus
}
#endif

#endif /* GLIMPSE_H */
