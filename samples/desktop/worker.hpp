// The inference side of glimpse-desktop: one QObject living on its own QThread, so the window's
// event loop never waits on the GPU. It uses only the public library (glimpse.hpp), as an
// embedding application would. Results come back as queued signals.
#ifndef GLIMPSE_DESKTOP_WORKER_HPP
#define GLIMPSE_DESKTOP_WORKER_HPP

#include "glimpse.hpp"

#include <QImage>
#include <QObject>
#include <QString>

#include <atomic>
#include <memory>
#include <string>

// What is captioned: a file (handed to the library as it is, so the caption equals
// `glimpse caption`'s for it) or pixels with no file behind them (a pasted image), handed over
// as RGBA rows with the QImage's stride.
struct Picture {
  QString path;
  QImage pixels;  // Format_RGBA8888 when path is empty
  bool empty() const { return path.isEmpty() && pixels.isNull(); }
};

class Worker : public QObject {
  Q_OBJECT

 public:
  // Set from the window's thread (cleared there before each request); polled by the library before every device submission
  // (glimpse_generate_params.abort) and between tensors of a load (the progress callback).
  std::atomic<bool> cancel{false};

 public slots:
  // Loads a checkpoint folder on a device ("" = glimpse's preferred one). A captioning model and
  // a question-answering model can be loaded side by side; a new one replaces the same task's.
  void load(const QString& folder, const QString& device);
  void caption(const Picture& picture);
  // The task and text captions run with (Florence-2); empty: the model's default.
  void set_task(const QString& task, const QString& text);
  void answer(const Picture& picture, const QString& question);

 signals:
  void progress(int percent);
  void loaded(const QString& folder, bool answers, const QString& description);
  void caption_token(const QString& text_so_far);
  void answer_token(const QString& text_so_far);
  // result_json: a model with tasks (Florence-2): glimpse_session_result_json; else empty
  void captioned(const QString& text, double encode_ms, double decode_ms, const QString& result_json);
  void answered(const QString& question, const QString& text, double encode_ms, double decode_ms);
  void cancelled();
  void task_set();  // set_task without an image to caption
  void failed(const QString& message);

 private:
  struct Loaded {
    std::unique_ptr<glimpse::embed::Model> model;
    std::unique_ptr<glimpse::embed::Session> session;
  };
  glimpse_generate_params params(bool answering);
  void run_failed(const glimpse::embed::Error& e);

  Loaded captioner_, answerer_;
  std::string task_, task_text_;
};

#endif
