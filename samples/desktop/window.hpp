// glimpse-desktop's main window: the image, its caption streaming in token by token, a question
// box with the answers below it, and the device and model pickers. Every model call is queued
// to the Worker's thread; the window only reacts to its signals.
#ifndef GLIMPSE_DESKTOP_WINDOW_HPP
#define GLIMPSE_DESKTOP_WINDOW_HPP

#include "worker.hpp"

#include <QMainWindow>
#include <QThread>

#include <deque>
#include <functional>

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;

class Window : public QMainWindow {
  Q_OBJECT

 public:
  explicit Window(QWidget* parent = nullptr);
  ~Window() override;

  // Shows and captions an image file; false (and the reason in the status bar) if unreadable.
  // as_pixels hands the library the decoded QImage instead of the file, as a pasted image is.
  bool open_image(const QString& path, bool as_pixels = false);
  void open_pixels(const QImage& image, const QString& title);  // e.g. from the clipboard
  QString status() const;
  void open_model(const QString& folder);
  void select_device(const QString& device);  // an index or a name substring, as --device takes
  void ask(const QString& question);
  // Florence-2's task and its text for the captions from now on (the open image is captioned
  // again); an empty task is the model's default.
  void set_task(const QString& task, const QString& text);
  QString caption_shown() const;

 signals:
  void caption_finished(const QString& caption);  // the text shown, once a caption completes
  void answer_finished(const QString& answer);
  void request_failed(const QString& message);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  void build_ui();
  void connect_worker();
  // Requests run one at a time, in order; a busy worker makes later ones wait here.
  enum class Kind { load, caption, answer };
  void enqueue(Kind kind, const QString& label, std::function<void()> start);
  bool queued(Kind kind) const;
  void next();
  void finished();
  void set_busy(const QString& what);
  void caption_image();
  void show_picture(Picture picture, const QImage& shown, const QString& title);
  void show_pixmap();
  // A task's answer: its text, or its boxes, quads and polygons drawn on the image with their labels.
  QString show_result(const QString& result_json, const QString& text);
  void choose_image();
  void choose_model();
  void paste();

  QThread thread_;
  Worker* worker_;  // owned by thread_ (deleteLater on finish)
  struct Request {
    Kind kind;
    QString label;
    std::function<void()> start;
  };
  std::deque<Request> queue_;
  bool busy_ = false;

  Picture picture_;
  QImage shown_;   // the image as opened (EXIF applied): what a task's coordinates refer to
  QPixmap pixmap_;  // shown_, with a task's shapes drawn on it
  bool has_captioner_ = false;  // once one has loaded, an opened image is captioned

  QComboBox* devices_;
  QComboBox* models_;
  QComboBox* tasks_;
  QLineEdit* task_text_;
  QPushButton* cancel_;
  QLabel* image_;
  QLabel* caption_;
  QLineEdit* question_;
  QPushButton* ask_;
  QPlainTextEdit* answers_;
  QProgressBar* progress_;
  QLabel* status_;
};

#endif
