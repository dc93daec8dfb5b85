/* The C API from C: load, caption, VQA, the three image inputs, callbacks, and failures that
 * return a status and a message instead of crashing. Prints "N passed, M failed". */
#include "glimpse.h"

#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

static int passed, failed;
#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (cond) ++passed;                                                              \
    else {                                                                           \
      ++failed;                                                                      \
      fprintf(stderr, "%s:%d: FAILED: %s (last error: %s)\n", __FILE__, __LINE__, #cond, glimpse_last_error()); \
    }                                                                                \
  } while (0)

static const uint32_t kGreedy[] = {193, 39, 120, 91, 185, 120, 91, 185, 120, 91, 39, 120, 91, 185, 120, 91, 86, 39, 120, 91};

static char* path_of(const char* rel) {
  static char buf[4][1024];
  static int n;
  char* b = buf[n++ % 4];
  snprintf(b, 1024, "%s/%s", GLIMPSE_TEST_DATA, rel);
  return b;
}

static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* data = malloc(*size);
  if (fread(data, 1, *size, f) != *size) *size = 0;
  fclose(f);
  return data;
}

static int same_ids(const glimpse_result* r, const uint32_t* want, size_t n) {
  return r->token_count == n && memcmp(r->token_ids, want, n * sizeof(uint32_t)) == 0;
}

typedef struct {
  float last;
  int calls, monotonic, cancel_at;
} progress_state;

static int on_progress(void* ud, float f) {
  progress_state* s = ud;
  if (f < s->last) s->monotonic = 0;
  s->last = f;
  return ++s->calls != s->cancel_at;
}

typedef struct {
  int tokens, stop_after;
  char text[4096];
} stream_state;

static void on_token(void* ud, uint32_t token, const char* text) {
  stream_state* s = ud;
  (void)token;
  ++s->tokens;
  snprintf(s->text, sizeof s->text, "%s", text);
}

static int should_abort(void* ud) {
  const stream_state* s = ud;
  return s->stop_after > 0 && s->tokens >= s->stop_after;
}

/* Says stop at its Nth poll; counts the polls. */
typedef struct {
  int polls, stop_at;
} poll_state;
static int abort_at_poll(void* ud) {
  poll_state* s = ud;
  return ++s->polls >= s->stop_at;
}

int main(void) {
  CHECK(glimpse_version() == GLIMPSE_VERSION);
  uint32_t count = 0;
  CHECK(glimpse_devices(NULL, &count) == GLIMPSE_OK && count >= 1);
  glimpse_device_info info[4];
  for (int i = 0; i < 4; ++i) info[i].struct_size = sizeof info[i];
  count = 4;
  CHECK(glimpse_devices(info, &count) == GLIMPSE_OK && strlen(info[0].name) > 0);
  CHECK((strcmp(info[0].backend, "vulkan") == 0 || strcmp(info[0].backend, "cpu") == 0) &&
        info[0].shared_memory_bytes > 0 && info[0].max_storage_range_bytes > 0 && info[0].api_version > 0);
  /* a 0.4 caller's array of the shorter struct: its struct_size is the stride, nothing written past */
  {
    const size_t old_size = offsetof(glimpse_device_info, backend);
    unsigned char buf[2 * sizeof(glimpse_device_info)];
    memset(buf, 0xAB, sizeof buf);
    ((glimpse_device_info*)buf)->struct_size = (uint32_t)old_size;
    uint32_t one = 1;
    CHECK(glimpse_devices((glimpse_device_info*)buf, &one) == GLIMPSE_OK && one == 1 &&
          strcmp(((glimpse_device_info*)buf)->name, info[0].name) == 0 && buf[old_size] == 0xAB);
    ((glimpse_device_info*)buf)->struct_size = 8;
    CHECK(glimpse_devices((glimpse_device_info*)buf, &one) == GLIMPSE_ERROR_INVALID_ARGUMENT);
  }

  /* the bundled models, and the pixels glimpse decodes */
  {
    char where[4096], tiny[4];
    CHECK(glimpse_bundled_model(GLIMPSE_BUNDLED_CAPTION_MODEL, where, sizeof where) == GLIMPSE_OK &&
          strstr(where, "blip-scenes-caption") != NULL);
    CHECK(glimpse_bundled_model(GLIMPSE_BUNDLED_CAPTION_MODEL, tiny, sizeof tiny) == GLIMPSE_ERROR_INVALID_ARGUMENT);
    CHECK(glimpse_bundled_model("no-such-model", where, sizeof where) == GLIMPSE_ERROR_IO &&
          strstr(glimpse_last_error(), "no-such-model"));
    glimpse_image png = glimpse_image_from_path(path_of("blip/pattern.png"));
    glimpse_pixels px;
    CHECK(glimpse_image_decode(&png, &px) == GLIMPSE_OK && px.width == 90 && px.height == 70 && px.rgb != NULL);
    /* the same pixels, given back as pixels, decode to themselves */
    glimpse_image again = glimpse_image_from_pixels(px.rgb, px.width, px.height, 0, GLIMPSE_PIXELS_RGB8);
    glimpse_pixels px2;
    CHECK(glimpse_image_decode(&again, &px2) == GLIMPSE_OK && px2.width == 90 &&
          memcmp(px.rgb, px2.rgb, (size_t)90 * 70 * 3) == 0);
    glimpse_pixels_free(&px);
    glimpse_pixels_free(&px2);
    CHECK(px.rgb == NULL && px.width == 0);
    glimpse_pixels_free(NULL);
    /* a pixel limit below the image's 90 x 70: refused from the header (0.6); a 0.5 caller's
       shorter struct gets the default limit */
    png.max_pixels = 6299;
    CHECK(glimpse_image_decode(&png, &px) == GLIMPSE_ERROR_IMAGE && strstr(glimpse_last_error(), "exceeds the limit of 6299"));
    png.max_pixels = 6300;
    CHECK(glimpse_image_decode(&png, &px) == GLIMPSE_OK);
    glimpse_pixels_free(&px);
    png.max_pixels = 1;
    png.struct_size = (uint32_t)offsetof(glimpse_image, max_pixels);
    CHECK(glimpse_image_decode(&png, &px) == GLIMPSE_OK);
    glimpse_pixels_free(&px);
    glimpse_image missing = glimpse_image_from_path("/nonexistent/photo.png");
    CHECK(glimpse_image_decode(&missing, &px) == GLIMPSE_ERROR_IO && px.rgb == NULL);
    unsigned char junk[64] = {0x89, 'P', 'N', 'G'};
    glimpse_image bad = glimpse_image_from_encoded(junk, sizeof junk);
    CHECK(glimpse_image_decode(&bad, &px) == GLIMPSE_ERROR_IMAGE);
    CHECK(glimpse_image_decode(NULL, &px) == GLIMPSE_ERROR_INVALID_ARGUMENT);
  }

  /* load with progress: monotonic, ending at 1 */
  glimpse_model_params mp = glimpse_model_default_params();
  progress_state progress = {0, 0, 1, -1};
  mp.progress = on_progress;
  mp.progress_user_data = &progress;
  glimpse_model* model = NULL;
  CHECK(glimpse_model_load(path_of("blip/tiny-base"), &mp, &model) == GLIMPSE_OK && model != NULL);
  CHECK(progress.calls > 10 && progress.monotonic && progress.last == 1.0f);
  glimpse_model_info mi;
  mi.struct_size = sizeof mi;
  CHECK(glimpse_model_info_get(model, &mi) == GLIMPSE_OK && strcmp(mi.architecture, "BlipForConditionalGeneration") == 0 &&
        mi.task == GLIMPSE_TASK_CAPTION && mi.image_size == 64 && mi.vision_hidden == 32 && strcmp(mi.weights_dtype, "f32") == 0);
  CHECK(mi.eos_token_id == 102 && mi.max_length == 20);
  /* a 0.3 caller's shorter struct: filled up to its end, nothing written past it */
  {
    unsigned char buf[sizeof(glimpse_model_info) + 8];
    memset(buf, 0xAB, sizeof buf);
    glimpse_model_info* old = (glimpse_model_info*)buf;
    old->struct_size = (uint32_t)offsetof(glimpse_model_info, eos_token_id);
    CHECK(glimpse_model_info_get(model, old) == GLIMPSE_OK && old->image_size == 64 &&
          buf[offsetof(glimpse_model_info, eos_token_id)] == 0xAB);
    old->struct_size = 16;
    CHECK(glimpse_model_info_get(model, old) == GLIMPSE_ERROR_INVALID_ARGUMENT);
  }

  glimpse_session* session = NULL;
  CHECK(glimpse_session_create(model, &session) == GLIMPSE_OK);
  glimpse_result r;

  /* from a path, with streaming */
  glimpse_generate_params gp = glimpse_generate_default_params();
  stream_state stream = {0, 0, ""};
  gp.on_token = on_token;
  gp.token_user_data = &stream;
  glimpse_image img = glimpse_image_from_path(path_of("blip/pattern.png"));
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_OK);
  CHECK(same_ids(&r, kGreedy, 20));
  CHECK(stream.tokens == 19 && strcmp(stream.text, r.text) == 0);
  CHECK(r.encode_ms > 0 && r.decode_ms > 0);
  glimpse_result_free(&r);
  CHECK(r.text == NULL && r.token_ids == NULL);

  /* from encoded bytes */
  size_t size = 0;
  unsigned char* bytes = read_file(path_of("blip/pattern.png"), &size);
  img = glimpse_image_from_encoded(bytes, size);
  CHECK(glimpse_caption(session, &img, NULL, &r) == GLIMPSE_OK && same_ids(&r, kGreedy, 20));
  glimpse_result_free(&r);

  /* raw pixels: the same picture as tight RGB and as padded BGRA give the same caption */
  enum { W = 40, H = 30, STRIDE = W * 4 + 12 };
  unsigned char rgb[W * H * 3], bgra[H * STRIDE];
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) {
        const unsigned char v = (unsigned char)((x * 37 + y * 91 + c * 53) ^ (x * y * 7));
        rgb[(y * W + x) * 3 + c] = v;
        bgra[y * STRIDE + x * 4 + (2 - c)] = v;
        bgra[y * STRIDE + x * 4 + 3] = 255;
      }
  glimpse_result r1, r2;
  img = glimpse_image_from_pixels(rgb, W, H, 0, GLIMPSE_PIXELS_RGB8);
  CHECK(glimpse_caption(session, &img, NULL, &r1) == GLIMPSE_OK);
  img = glimpse_image_from_pixels(bgra, W, H, STRIDE, GLIMPSE_PIXELS_BGRA8);
  CHECK(glimpse_caption(session, &img, NULL, &r2) == GLIMPSE_OK);
  CHECK(r1.token_count > 1 && r1.token_count == r2.token_count &&
        memcmp(r1.token_ids, r2.token_ids, r1.token_count * sizeof(uint32_t)) == 0);
  glimpse_result_free(&r1);
  glimpse_result_free(&r2);

  /* a prompt continues the caption */
  gp = glimpse_generate_default_params();
  gp.prompt = "a photography of";
  img = glimpse_image_from_path(path_of("blip/pattern.png"));
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_OK && r.token_count >= 4 && r.token_ids[1] == 136 &&
        strncmp(r.text, "a photography of", 16) == 0);
  glimpse_result_free(&r);

  /* abort after two tokens: cancelled within a step */
  gp = glimpse_generate_default_params();
  stream_state stop = {0, 2, ""};
  gp.on_token = on_token;
  gp.token_user_data = &stop;
  gp.abort = should_abort;
  gp.abort_user_data = &stop;
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_ERROR_CANCELLED && stop.tokens == 2);
  CHECK(strstr(glimpse_session_last_error(session), "cancelled") != NULL);

  /* the abort covers decoding and preprocessing too: polled before the image is decoded, while
     a JPEG's rows decode, and after preprocessing, not only before device work */
  img = glimpse_image_from_path(path_of("images/rgb.jpg"));
  gp = glimpse_generate_default_params();
  poll_state polls = {0, 2};
  gp.abort = abort_at_poll;
  gp.abort_user_data = &polls;
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_ERROR_CANCELLED && polls.polls == 2 &&
        strstr(glimpse_session_last_error(session), "cancelled while decoding") != NULL);
  polls.polls = 0;
  polls.stop_at = 1;
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_ERROR_CANCELLED && polls.polls == 1 &&
        strstr(glimpse_session_last_error(session), "cancelled before decoding") != NULL);

  /* failures: a status and a message, nothing else */
  img = glimpse_image_from_path("/nonexistent/photo.jpg");
  CHECK(glimpse_caption(session, &img, NULL, &r) == GLIMPSE_ERROR_IO && strstr(glimpse_last_error(), "photo.jpg"));
  unsigned char junk[300];
  for (int i = 0; i < 300; ++i) junk[i] = (unsigned char)(i * 7);
  junk[0] = 0xff, junk[1] = 0xd8, junk[2] = 0xff; /* a JPEG that is not one */
  img = glimpse_image_from_encoded(junk, sizeof junk);
  CHECK(glimpse_caption(session, &img, NULL, &r) == GLIMPSE_ERROR_IMAGE && strstr(glimpse_last_error(), "JPEG"));
  bytes[size / 2] ^= 0x55; /* a PNG with a damaged middle */
  img = glimpse_image_from_encoded(bytes, size / 2);
  CHECK(glimpse_caption(session, &img, NULL, &r) == GLIMPSE_ERROR_IMAGE);
  img = glimpse_image_from_pixels(rgb, W, H, 10, GLIMPSE_PIXELS_RGB8);
  CHECK(glimpse_caption(session, &img, NULL, &r) == GLIMPSE_ERROR_IMAGE && strstr(glimpse_last_error(), "stride"));
  CHECK(glimpse_caption(session, NULL, NULL, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT);
  CHECK(glimpse_answer(session, &img, "what?", NULL, &r) == GLIMPSE_ERROR_WRONG_MODEL);
  /* the caller's mistakes in a request are invalid arguments, never internal errors */
  img = glimpse_image_from_path(path_of("blip/pattern.png"));
  gp = glimpse_generate_default_params();
  gp.num_beams = 3;
  gp.do_sample = 1;
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT &&
        strstr(glimpse_last_error(), "beam search with sampling"));
  gp = glimpse_generate_default_params();
  gp.prompt = "bad \xff utf-8";
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT && strstr(glimpse_last_error(), "UTF-8"));
  static char long_prompt[4001];
  for (int i = 0; i < 4000; ++i) long_prompt[i] = i % 2 ? ' ' : 'a';
  gp.prompt = long_prompt;
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT && strstr(glimpse_last_error(), "prompt is"));
  /* beams past the limit are refused with the value given, however large */
  gp = glimpse_generate_default_params();
  gp.num_beams = 4294967295u;
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT &&
        strstr(glimpse_last_error(), "num_beams 4294967295"));
  gp.num_beams = 100000;
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT &&
        strstr(glimpse_last_error(), "num_beams 100000"));
  /* a max_length past the decoder's 512 positions stops there, as at a length limit */
  gp = glimpse_generate_default_params();
  gp.max_length = 100000;
  CHECK(glimpse_caption(session, &img, &gp, &r) == GLIMPSE_OK && r.token_count <= 512);
  glimpse_result_free(&r);
  glimpse_model* broken = (glimpse_model*)1;
  CHECK(glimpse_model_load(path_of("images"), NULL, &broken) != GLIMPSE_OK && broken == NULL &&
        strstr(glimpse_last_error(), "config.json"));
  CHECK(glimpse_model_load("/nonexistent/model", NULL, &broken) == GLIMPSE_ERROR_IO);
  progress_state cancel = {0, 0, 1, 5};
  mp.progress_user_data = &cancel;
  CHECK(glimpse_model_load(path_of("blip/tiny-base"), &mp, &broken) == GLIMPSE_ERROR_CANCELLED && broken == NULL);
  free(bytes);
  glimpse_session_free(session);
  glimpse_model_free(model);

  /* VQA */
  CHECK(glimpse_model_load(path_of("blip/tiny-vqa"), NULL, &model) == GLIMPSE_OK);
  CHECK(glimpse_session_create(model, &session) == GLIMPSE_OK);
  img = glimpse_image_from_path(path_of("blip/pattern.png"));
  const uint32_t answer[] = {202, 19, 171, 0, 102};
  CHECK(glimpse_answer(session, &img, "how many cats are there?", NULL, &r) == GLIMPSE_OK && same_ids(&r, answer, 5) &&
        strcmp(r.text, "[unused18] is") == 0);
  glimpse_result_free(&r);
  CHECK(glimpse_answer(session, &img, "   ", NULL, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT &&
        strstr(glimpse_session_last_error(session), "question is empty"));
  CHECK(glimpse_caption(session, &img, NULL, &r) == GLIMPSE_ERROR_WRONG_MODEL);
  glimpse_session_free(session);
  glimpse_model_free(model);
  glimpse_result_free(NULL);

  /* Florence-2: a task and its text in, the answer as JSON out (0.7); a task in the prompt too */
  CHECK(glimpse_model_load(path_of("florence2/tiny"), NULL, &model) == GLIMPSE_OK);
  CHECK(glimpse_session_create(model, &session) == GLIMPSE_OK);
  img = glimpse_image_from_path(path_of("blip/pattern.png"));
  glimpse_generate_params fp = glimpse_generate_default_params();
  fp.max_new_tokens = 20;
  fp.task = "<OD>";
  CHECK(glimpse_caption(session, &img, &fp, &r) == GLIMPSE_OK && r.token_count == 21 && r.token_ids[0] == 2 &&
        r.token_ids[1] == 0);
  const char* json = glimpse_session_result_json(session);
  CHECK(strncmp(json, "{\"task\":\"<OD>\",\"generated_text\":\"</s><s>", 38) == 0 &&
        strstr(json, "\"result\":{\"<OD>\":{\"bboxes\":[[") != NULL && strstr(json, "\"labels\":[") != NULL);
  glimpse_result_free(&r);
  fp.task = NULL;
  fp.prompt = "<CAPTION_TO_PHRASE_GROUNDING>a green car";
  CHECK(glimpse_caption(session, &img, &fp, &r) == GLIMPSE_OK &&
        strstr(glimpse_session_result_json(session), "{\"<CAPTION_TO_PHRASE_GROUNDING>\":{\"bboxes\"") != NULL);
  glimpse_result_free(&r);
  fp.prompt = NULL;
  fp.task = "<OPEN_VOCABULARY_DETECTION>";  /* needs a text */
  CHECK(glimpse_caption(session, &img, &fp, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT &&
        strstr(glimpse_session_last_error(session), "needs a text") && glimpse_session_result_json(session)[0] == 0);
  fp.task = "<CAPTION>";  /* a 0.6-sized struct: the task fields are not read (the default task runs) */
  fp.task_text = "ignored";
  fp.struct_size = (uint32_t)offsetof(glimpse_generate_params, task);
  CHECK(glimpse_caption(session, &img, &fp, &r) == GLIMPSE_OK &&
        strstr(glimpse_session_result_json(session), "\"task\":\"<CAPTION>\"") != NULL);
  glimpse_result_free(&r);
  CHECK(glimpse_answer(session, &img, "what is this?", NULL, &r) == GLIMPSE_ERROR_WRONG_MODEL &&
        strstr(glimpse_session_last_error(session), "does not answer free questions"));
  glimpse_session_free(session);
  glimpse_model_free(model);
  /* other models refuse a task */
  CHECK(glimpse_model_load(path_of("blip/tiny-base"), NULL, &model) == GLIMPSE_OK);
  CHECK(glimpse_session_create(model, &session) == GLIMPSE_OK);
  fp = glimpse_generate_default_params();
  fp.task = "<OD>";
  CHECK(glimpse_caption(session, &img, &fp, &r) == GLIMPSE_ERROR_INVALID_ARGUMENT &&
        strstr(glimpse_session_last_error(session), "takes no task"));
  glimpse_session_free(session);
  glimpse_model_free(model);

  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
