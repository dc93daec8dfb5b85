#include "worker.hpp"

#include <cmath>

void Worker::load(const QString& folder, const QString& device) {
  const QByteArray device_utf8 = device.toUtf8();
  glimpse_model_params mp = glimpse_model_default_params();
  mp.device = device.isEmpty() ? nullptr : device_utf8.constData();
  mp.progress_user_data = this;
  mp.progress = [](void* self, float fraction) -> int {
    auto* w = static_cast<Worker*>(self);
    emit w->progress(static_cast<int>(std::lround(fraction * 100.0f)));
    return w->cancel ? 0 : 1;
  };
  try {
    Loaded l;
    l.model = std::make_unique<glimpse::embed::Model>(folder.toStdString(), mp);
    l.session = std::make_unique<glimpse::embed::Session>(*l.model);
    const glimpse_model_info info = l.model->info();
    const bool answers = info.task == GLIMPSE_TASK_ANSWER;
    const QString description = QStringLiteral("%1, %2 weights on %3")
                                    .arg(QString::fromUtf8(info.architecture), QString::fromUtf8(info.weights_dtype),
                                         QString::fromUtf8(info.device));
    (answers ? answerer_ : captioner_) = std::move(l);
    emit loaded(folder, answers, description);
  } catch (const glimpse::embed::Error& e) {
    run_failed(e);
  }
}

glimpse_generate_params Worker::params(bool answering) {
  glimpse_generate_params p = glimpse_generate_default_params();
  p.token_user_data = this;
  if (answering) {
    p.on_token = [](void* self, uint32_t, const char* text_so_far) {
      emit static_cast<Worker*>(self)->answer_token(QString::fromUtf8(text_so_far));
    };
  } else {
    p.on_token = [](void* self, uint32_t, const char* text_so_far) {
      emit static_cast<Worker*>(self)->caption_token(QString::fromUtf8(text_so_far));
    };
  }
  p.abort_user_data = this;
  p.abort = [](void* self) -> int { return static_cast<Worker*>(self)->cancel ? 1 : 0; };
  return p;
}

void Worker::run_failed(const glimpse::embed::Error& e) {
  if (e.status() == GLIMPSE_ERROR_CANCELLED) {
    emit cancelled();
  } else {
    emit failed(QString::fromUtf8(e.what()));
  }
}

static glimpse_image to_glimpse(const Picture& p, const QByteArray& path_utf8) {
  if (!p.path.isEmpty()) return glimpse_image_from_path(path_utf8.constData());
  return glimpse_image_from_pixels(p.pixels.constBits(), static_cast<uint32_t>(p.pixels.width()),
                                   static_cast<uint32_t>(p.pixels.height()),
                                   static_cast<uint32_t>(p.pixels.bytesPerLine()), GLIMPSE_PIXELS_RGBA8);
}

void Worker::caption(const Picture& picture) {
  if (!captioner_.session) {
    emit failed(QStringLiteral("no captioning model is loaded"));
    return;
  }
  try {
    const QByteArray path = picture.path.toUtf8();
    glimpse_generate_params p = params(false);
    if (!task_.empty()) p.task = task_.c_str();
    if (!task_text_.empty()) p.task_text = task_text_.c_str();
    const glimpse::embed::Result r = captioner_.session->caption(to_glimpse(picture, path), p);
    emit captioned(QString::fromStdString(r.text), r.encode_ms, r.decode_ms, QString::fromStdString(r.result_json));
  } catch (const glimpse::embed::Error& e) {
    run_failed(e);
  }
}

void Worker::set_task(const QString& task, const QString& text) {
  task_ = task.toStdString();
  task_text_ = text.toStdString();
}

void Worker::answer(const Picture& picture, const QString& question) {
  if (!answerer_.session) {
    emit failed(QStringLiteral("no question-answering model is loaded (open a BLIP VQA folder)"));
    return;
  }
  try {
    const glimpse::embed::Result r =
        answerer_.session->answer(to_glimpse(picture, picture.path.toUtf8()), question.toStdString(), params(true));
    emit answered(question, QString::fromStdString(r.text), r.encode_ms, r.decode_ms);
  } catch (const glimpse::embed::Error& e) {
    run_failed(e);
  }
}
