#include "window.hpp"

#include <QClipboard>
#include <QComboBox>
#include <QGuiApplication>
#include <QShortcut>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QImageReader>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPainter>
#include <QLineEdit>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QStatusBar>
#include <QVBoxLayout>

#include <vector>

Window::Window(QWidget* parent) : QMainWindow(parent), worker_(new Worker) {
  setWindowTitle(QStringLiteral("glimpse"));
  setAcceptDrops(true);
  build_ui();
  connect(new QShortcut(QKeySequence::Paste, this), &QShortcut::activated, this, &Window::paste);
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  connect_worker();
  thread_.start();
}

Window::~Window() {
  worker_->cancel = true;  // a running generation stops at its next device submission
  thread_.quit();
  thread_.wait();
}

void Window::build_ui() {
  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);

  auto* bar = new QHBoxLayout;
  auto* open = new QPushButton(tr("Open image…"), central);
  connect(open, &QPushButton::clicked, this, &Window::choose_image);
  bar->addWidget(open);
  bar->addWidget(new QLabel(tr("Model:"), central));
  models_ = new QComboBox(central);
  models_->setMinimumContentsLength(24);
  models_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  models_->addItem(tr("Open model folder…"));
  // Picking an entry loads that folder; the last entry asks for a new one.
  connect(models_, qOverload<int>(&QComboBox::activated), this, [this](int i) {
    if (i == models_->count() - 1) {
      choose_model();
    } else {
      open_model(models_->itemData(i).toString());
    }
  });
  bar->addWidget(models_, 1);
  bar->addWidget(new QLabel(tr("Device:"), central));
  devices_ = new QComboBox(central);
  devices_->addItem(tr("default"), QString());
  uint32_t count = 0;
  if (glimpse_devices(nullptr, &count) == GLIMPSE_OK && count > 0) {
    std::vector<glimpse_device_info> list(count);
    for (auto& d : list) d.struct_size = sizeof d;
    if (glimpse_devices(list.data(), &count) == GLIMPSE_OK) {
      for (uint32_t i = 0; i < count; ++i) {
        devices_->addItem(QStringLiteral("%1 (%2)").arg(QString::fromUtf8(list[i].name), QString::fromUtf8(list[i].type)),
                          QString::number(list[i].index));
      }
    }
  }
  // A new device reloads every loaded model there.
  connect(devices_, qOverload<int>(&QComboBox::activated), this, [this](int) {
    for (int i = 0; i + 1 < models_->count(); ++i) {
      if (models_->itemData(i, Qt::UserRole + 1).toBool()) open_model(models_->itemData(i).toString());
    }
  });
  bar->addWidget(devices_);
  cancel_ = new QPushButton(tr("Cancel"), central);
  cancel_->setEnabled(false);
  connect(cancel_, &QPushButton::clicked, this, [this] {
    queue_.clear();
    worker_->cancel = true;
  });
  bar->addWidget(cancel_);
  layout->addLayout(bar);

  // Florence-2's tasks: the task token, and the text of those that take one
  auto* task_bar = new QHBoxLayout;
  task_bar->addWidget(new QLabel(tr("Task (Florence-2):"), central));
  tasks_ = new QComboBox(central);
  tasks_->addItem(tr("model default"), QString());
  for (const char* t : {"<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>", "<OCR>", "<OCR_WITH_REGION>", "<OD>",
                        "<DENSE_REGION_CAPTION>", "<REGION_PROPOSAL>", "<CAPTION_TO_PHRASE_GROUNDING>",
                        "<REFERRING_EXPRESSION_SEGMENTATION>", "<REGION_TO_SEGMENTATION>", "<OPEN_VOCABULARY_DETECTION>",
                        "<REGION_TO_CATEGORY>", "<REGION_TO_DESCRIPTION>", "<REGION_TO_OCR>"})
    tasks_->addItem(QString::fromUtf8(t), QString::fromUtf8(t));
  task_bar->addWidget(tasks_);
  task_text_ = new QLineEdit(central);
  task_text_->setPlaceholderText(tr("text for the task (a caption to ground, what to locate, a region <loc_…>×4)"));
  task_bar->addWidget(task_text_, 1);
  const auto apply_task = [this] { set_task(tasks_->currentData().toString(), task_text_->text()); };
  connect(tasks_, qOverload<int>(&QComboBox::activated), this, apply_task);
  connect(task_text_, &QLineEdit::returnPressed, this, apply_task);
  layout->addLayout(task_bar);

  image_ = new QLabel(tr("Open or drop an image"), central);
  image_->setAlignment(Qt::AlignCenter);
  image_->setMinimumSize(384, 288);
  image_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
  layout->addWidget(image_, 1);

  caption_ = new QLabel(central);
  caption_->setWordWrap(true);
  caption_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  QFont big = caption_->font();
  big.setPointSizeF(big.pointSizeF() * 1.4);
  caption_->setFont(big);
  layout->addWidget(caption_);

  auto* qa = new QHBoxLayout;
  question_ = new QLineEdit(central);
  question_->setPlaceholderText(tr("Ask a question about the image"));
  ask_ = new QPushButton(tr("Ask"), central);
  connect(ask_, &QPushButton::clicked, this, [this] { ask(question_->text()); });
  connect(question_, &QLineEdit::returnPressed, this, [this] { ask(question_->text()); });
  qa->addWidget(question_, 1);
  qa->addWidget(ask_);
  layout->addLayout(qa);
  answers_ = new QPlainTextEdit(central);
  answers_->setReadOnly(true);
  answers_->setMaximumBlockCount(1000);
  answers_->setFixedHeight(96);
  layout->addWidget(answers_);
  setCentralWidget(central);

  progress_ = new QProgressBar(this);
  progress_->setRange(0, 100);
  progress_->setMaximumWidth(160);
  progress_->hide();
  status_ = new QLabel(this);
  statusBar()->addWidget(status_, 1);
  statusBar()->addPermanentWidget(progress_);
  resize(640, 600);
}

void Window::connect_worker() {
  connect(worker_, &Worker::progress, this, [this](int percent) {
    progress_->show();
    progress_->setValue(percent);
  });
  connect(worker_, &Worker::loaded, this, [this](const QString& folder, bool answers, const QString& description) {
    if (!answers) has_captioner_ = true;
    const int i = models_->findData(folder);
    models_->setItemData(i, true, Qt::UserRole + 1);
    status_->setText(tr("Loaded %1: %2").arg(QFileInfo(folder).fileName(), description));
    // A captioning model that arrives while an image is open captions it.
    if (!answers && !picture_.empty() && !queued(Kind::caption)) caption_image();
    finished();
  });
  connect(worker_, &Worker::caption_token, this, [this](const QString& text) { caption_->setText(text); });
  connect(worker_, &Worker::answer_token, this, [this](const QString& text) { status_->setText(tr("A: %1").arg(text)); });
  connect(worker_, &Worker::captioned, this,
          [this](const QString& text, double encode_ms, double decode_ms, const QString& result_json) {
    caption_->setText(result_json.isEmpty() ? text : show_result(result_json, text));
    status_->setText(tr("Captioned in %1 ms (encode %2 ms, decode %3 ms)")
                         .arg(encode_ms + decode_ms, 0, 'f', 0)
                         .arg(encode_ms, 0, 'f', 0)
                         .arg(decode_ms, 0, 'f', 0));
    finished();
    emit caption_finished(caption_->text());
  });
  connect(worker_, &Worker::answered,
          this, [this](const QString& question, const QString& text, double encode_ms, double decode_ms) {
            answers_->appendPlainText(QStringLiteral("Q: %1\nA: %2").arg(question, text));
            status_->setText(tr("Answered in %1 ms").arg(encode_ms + decode_ms, 0, 'f', 0));
            finished();
            emit answer_finished(text);
          });
  connect(worker_, &Worker::task_set, this, [this] { finished(); });
  connect(worker_, &Worker::cancelled, this, [this] {
    status_->setText(tr("Cancelled"));
    finished();
  });
  connect(worker_, &Worker::failed, this, [this](const QString& message) {
    status_->setText(tr("Error: %1").arg(message));
    finished();
    emit request_failed(message);
  });
}

void Window::enqueue(Kind kind, const QString& label, std::function<void()> start) {
  queue_.push_back({kind, label, std::move(start)});
  if (!busy_) next();
}

bool Window::queued(Kind kind) const {
  for (const Request& r : queue_) {
    if (r.kind == kind) return true;
  }
  return false;
}

void Window::next() {
  if (queue_.empty()) return;
  Request r = std::move(queue_.front());
  queue_.pop_front();
  set_busy(r.label);
  worker_->cancel = false;  // here, not on the worker: a Cancel pressed from now on is kept
  QMetaObject::invokeMethod(worker_, std::move(r.start), Qt::QueuedConnection);
}

void Window::finished() {
  busy_ = false;
  cancel_->setEnabled(false);
  progress_->hide();
  next();
}

void Window::set_busy(const QString& what) {
  busy_ = true;
  cancel_->setEnabled(true);
  status_->setText(what);
}

void Window::open_model(const QString& folder) {
  int i = models_->findData(folder);
  if (i < 0) {
    i = models_->count() - 1;
    models_->insertItem(i, QFileInfo(folder).fileName(), folder);
    models_->setItemData(i, folder, Qt::ToolTipRole);
  }
  models_->setCurrentIndex(i);
  const QString device = devices_->currentData().toString();
  enqueue(Kind::load, tr("Loading %1…").arg(QFileInfo(folder).fileName()),
          [w = worker_, folder, device] { w->load(folder, device); });
}

void Window::select_device(const QString& device) {
  for (int i = 1; i < devices_->count(); ++i) {
    if (devices_->itemData(i).toString() == device || devices_->itemText(i).contains(device, Qt::CaseInsensitive)) {
      devices_->setCurrentIndex(i);
      return;
    }
  }
  // Not listed: the library resolves it (and names the problem if it cannot) on the next load.
  devices_->addItem(device, device);
  devices_->setCurrentIndex(devices_->count() - 1);
}

bool Window::open_image(const QString& path, bool as_pixels) {
  QImageReader reader(path);
  reader.setAutoTransform(true);  // EXIF orientation, as glimpse applies it (docs/images.md)
  const QImage image = reader.read();
  if (image.isNull()) {
    status_->setText(tr("Error: cannot read %1: %2").arg(path, reader.errorString()));
    return false;
  }
  if (as_pixels) {
    open_pixels(image, QFileInfo(path).fileName());
  } else {
    show_picture({path, QImage()}, image, QFileInfo(path).fileName());
  }
  return true;
}

void Window::open_pixels(const QImage& image, const QString& title) {
  show_picture({QString(), image.convertToFormat(QImage::Format_RGBA8888)}, image, title);
}

void Window::show_picture(Picture picture, const QImage& shown, const QString& title) {
  picture_ = std::move(picture);
  shown_ = shown;
  pixmap_ = QPixmap::fromImage(shown);
  show_pixmap();
  caption_->clear();
  answers_->clear();
  setWindowTitle(QStringLiteral("glimpse — %1").arg(title));
  if (has_captioner_ || queued(Kind::load) || busy_) {
    caption_image();
  } else {
    status_->setText(tr("Open a captioning model (BLIP, ViT-GPT2, TrOCR or Florence-2 folder) to caption this image"));
  }
}

void Window::paste() {
  const QImage image = QGuiApplication::clipboard()->image();
  if (image.isNull()) {
    status_->setText(tr("The clipboard holds no image"));
    return;
  }
  open_pixels(image, tr("pasted image"));
}

void Window::caption_image() {
  enqueue(Kind::caption, tr("Captioning…"), [w = worker_, p = picture_] { w->caption(p); });
}

void Window::ask(const QString& question) {
  if (question.trimmed().isEmpty()) return;
  if (picture_.empty()) {
    status_->setText(tr("Open an image first"));
    return;
  }
  question_->clear();
  enqueue(Kind::answer, tr("Answering…"), [w = worker_, p = picture_, question] { w->answer(p, question); });
}

QString Window::caption_shown() const { return caption_->text(); }

void Window::set_task(const QString& task, const QString& text) {
  const int i = tasks_->findData(task);
  if (i >= 0) tasks_->setCurrentIndex(i);
  task_text_->setText(text);
  const bool recaption = !picture_.empty() && has_captioner_;
  enqueue(Kind::caption, recaption ? tr("Captioning…") : tr("Setting the task…"),
          [w = worker_, task, text, p = picture_, recaption] {
            w->set_task(task, text);
            if (recaption) w->caption(p);
            else emit w->task_set();
          });
}

QString Window::show_result(const QString& result_json, const QString& text) {
  const QJsonObject task = QJsonDocument::fromJson(result_json.toUtf8()).object();
  const QJsonObject result = task.value(QStringLiteral("result")).toObject();
  const QString name = task.value(QStringLiteral("task")).toString();
  const QJsonValue answer = result.value(name);
  pixmap_ = QPixmap::fromImage(shown_);
  if (!answer.isObject() || shown_.isNull()) {
    show_pixmap();
    return answer.isString() ? answer.toString() : text;
  }
  // The shapes in the image's pixels, each outlined in its colour and labelled (as glimpse
  // caption --draw does).
  const QJsonObject a = answer.toObject();
  static const QColor palette[] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200}, {245, 130, 48},
                                   {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {0, 128, 128}};
  QImage canvas = shown_.convertToFormat(QImage::Format_RGB32);
  QPainter painter(&canvas);
  painter.setRenderHint(QPainter::Antialiasing);
  const int thick = std::max(2, std::min(canvas.width(), canvas.height()) / 200);
  QFont font = painter.font();
  font.setPixelSize(std::max(10, std::min(canvas.width(), canvas.height()) / 30));
  painter.setFont(font);
  QStringList labels;
  int shapes = 0;
  const auto draw = [&](const QPolygonF& poly, const QString& label) {
    const QColor c = palette[shapes++ % 10];
    painter.setPen(QPen(c, thick));
    painter.setBrush(Qt::NoBrush);
    painter.drawPolygon(poly);
    if (label.isEmpty()) return;
    labels << label;
    const QRectF r = painter.fontMetrics().boundingRect(label).adjusted(-3, -2, 3, 2);
    const QPointF at = poly.boundingRect().topLeft() - QPointF(0, r.height());
    painter.fillRect(QRectF(at, r.size()), c);
    painter.setPen(Qt::white);
    painter.drawText(QRectF(at, r.size()), Qt::AlignCenter, label);
  };
  const auto points = [](const QJsonArray& flat) {
    QPolygonF poly;
    for (int k = 0; k + 1 < flat.size(); k += 2) poly << QPointF(flat[k].toDouble(), flat[k + 1].toDouble());
    return poly;
  };
  for (const QString& key : {QStringLiteral("labels"), QStringLiteral("bboxes_labels")}) {
    const QJsonArray boxes = a.value(QStringLiteral("bboxes")).toArray(), names = a.value(key).toArray();
    if (!a.contains(key) || boxes.isEmpty()) continue;
    for (int i = 0; i < boxes.size(); ++i) {
      const QJsonArray b = boxes[i].toArray();
      if (b.size() == 4) draw(QPolygonF(QRectF(QPointF(b[0].toDouble(), b[1].toDouble()), QPointF(b[2].toDouble(), b[3].toDouble()))),
                              names.at(i).toString());
    }
    break;
  }
  const QJsonArray quads = a.value(QStringLiteral("quad_boxes")).toArray();
  for (int i = 0; i < quads.size(); ++i) draw(points(quads[i].toArray()), a.value(QStringLiteral("labels")).toArray().at(i).toString());
  for (const QString& key : {QStringLiteral("labels"), QStringLiteral("polygons_labels")}) {
    const QJsonArray polys = a.value(QStringLiteral("polygons")).toArray();
    if (!a.contains(key) || polys.isEmpty()) continue;
    for (int i = 0; i < polys.size(); ++i) {
      const QString label = a.value(key).toArray().at(i).toString();
      const QJsonArray rings = polys[i].toArray();
      for (int r = 0; r < rings.size(); ++r) draw(points(rings[r].toArray()), r == 0 ? label : QString());
    }
    break;
  }
  painter.end();
  pixmap_ = QPixmap::fromImage(canvas);
  show_pixmap();
  return QStringLiteral("%1: %2 region%3%4").arg(name).arg(shapes).arg(shapes == 1 ? "" : "s")
      .arg(labels.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(labels.join(QStringLiteral(", "))));
}

QString Window::status() const { return status_->text(); }

void Window::show_pixmap() {
  if (pixmap_.isNull()) return;
  image_->setPixmap(pixmap_.scaled(image_->size(), Qt::KeepAspectRatio, Qt::SmoothTransformation));
}

void Window::resizeEvent(QResizeEvent* event) {
  QMainWindow::resizeEvent(event);
  show_pixmap();
}

void Window::choose_image() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Open image"), QString(),
                                                    tr("Images (*.jpg *.jpeg *.png *.bmp *.gif);;All files (*)"));
  if (!path.isEmpty()) open_image(path);
}

void Window::choose_model() {
  const QString folder = QFileDialog::getExistingDirectory(this, tr("Open a model folder (config.json, model.safetensors, …)"));
  if (!folder.isEmpty()) open_model(folder);
}

void Window::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls() && event->mimeData()->urls().first().isLocalFile()) event->acceptProposedAction();
}

void Window::dropEvent(QDropEvent* event) {
  const QString path = event->mimeData()->urls().first().toLocalFile();
  // A dropped folder is a model; a dropped file an image.
  if (QFileInfo(path).isDir()) {
    open_model(path);
  } else {
    open_image(path);
  }
  event->acceptProposedAction();
}
