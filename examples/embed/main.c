/* caption-one MODEL IMAGE: the smallest application embedding glimpse through its C API. */
#include <glimpse.h>

#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: caption-one MODEL_FOLDER IMAGE\n");
    return 2;
  }
  glimpse_model* model = NULL;
  glimpse_session* session = NULL;
  glimpse_result result = {0};
  if (glimpse_model_load(argv[1], NULL, &model) != GLIMPSE_OK || glimpse_session_create(model, &session) != GLIMPSE_OK) {
    fprintf(stderr, "caption-one: %s\n", glimpse_last_error());
    glimpse_model_free(model);
    return 1;
  }
  glimpse_image image = glimpse_image_from_path(argv[2]);
  const glimpse_status status = glimpse_caption(session, &image, NULL, &result);
  if (status == GLIMPSE_OK) printf("%s\n", result.text);
  else fprintf(stderr, "caption-one: %s: %s\n", glimpse_status_name(status), glimpse_session_last_error(session));
  glimpse_result_free(&result);
  glimpse_session_free(session);
  glimpse_model_free(model);
  return status == GLIMPSE_OK ? 0 : 1;
}
