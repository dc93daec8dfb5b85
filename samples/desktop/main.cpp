// glimpse-desktop: the Qt 6 Widgets sample. Open or drop an image and it is captioned with the
// tokens streaming into the window; type questions for a VQA model; pick the device and models.
// It links only libglimpse.so and its public headers, like any desktop application would.
//
//   glimpse-desktop [--model FOLDER]... [--device D] [--image FILE] [--question TEXT]...
//                   [--pixels] [--task TASK [--task-text TEXT]] [--quit-after-caption] [--screenshot FILE.png]
//
// --quit-after-caption prints "caption: TEXT" (the text the window shows) and exits once the
// first caption completes; with --screenshot it saves the window first. CI runs it so under Xvfb.
#include "window.hpp"

#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

#include <cstdio>
#include <memory>

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("glimpse-desktop"));
  QApplication::setApplicationVersion(QStringLiteral("%1.%2.%3")
                                          .arg(GLIMPSE_VERSION_MAJOR)
                                          .arg(GLIMPSE_VERSION_MINOR)
                                          .arg(GLIMPSE_VERSION_PATCH));
  QCommandLineParser cli;
  cli.setApplicationDescription(QStringLiteral("Caption images and answer questions about them with glimpse."));
  cli.addHelpOption();
  cli.addVersionOption();
  const QCommandLineOption model({QStringLiteral("m"), QStringLiteral("model")},
                                 QStringLiteral("Model folder to load (repeat for a caption and a VQA model)."),
                                 QStringLiteral("folder"));
  const QCommandLineOption device(QStringLiteral("device"), QStringLiteral("Device index or name substring."),
                                  QStringLiteral("device"));
  const QCommandLineOption image(QStringLiteral("image"), QStringLiteral("Image to open."), QStringLiteral("file"));
  const QCommandLineOption question(QStringLiteral("question"),
                                    QStringLiteral("Question to ask about the image (repeatable)."),
                                    QStringLiteral("text"));
  const QCommandLineOption quit(QStringLiteral("quit-after-caption"),
                                QStringLiteral("Print the first caption shown and exit (after the questions)."));
  const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                      QStringLiteral("With --quit-after-caption: save the window as this PNG."),
                                      QStringLiteral("file"));
  const QCommandLineOption pixels(QStringLiteral("pixels"),
                                  QStringLiteral("Hand --image to the library as decoded pixels (as a paste is), not as a file."));
  const QCommandLineOption task(QStringLiteral("task"), QStringLiteral("Florence-2: the task token (e.g. <OD>)."),
                                QStringLiteral("task"));
  const QCommandLineOption task_text(QStringLiteral("task-text"),
                                     QStringLiteral("Florence-2: the text of a task that takes one."), QStringLiteral("text"));
  cli.addOptions({model, device, image, pixels, question, quit, screenshot, task, task_text});
  cli.process(app);

  Window window;
  window.show();
  if (cli.isSet(device)) window.select_device(cli.value(device));
  for (const QString& folder : cli.values(model)) window.open_model(folder);
  if (cli.isSet(task) || cli.isSet(task_text)) window.set_task(cli.value(task), cli.value(task_text));
  if (cli.isSet(image) && !window.open_image(cli.value(image), cli.isSet(pixels)) && cli.isSet(quit)) {
    std::fprintf(stderr, "glimpse-desktop: %s\n", window.status().toUtf8().constData());
    return 1;
  }
  const QStringList questions = cli.values(question);
  for (const QString& q : questions) window.ask(q);

  if (cli.isSet(quit)) {
    if (!cli.isSet(image)) {
      std::fprintf(stderr, "glimpse-desktop: --quit-after-caption needs --image\n");
      return 2;
    }
    // Exit once the caption and every question are done: the requests run in order, so that is
    // the last answer if there are questions, else the caption.
    auto remaining = std::make_shared<int>(static_cast<int>(questions.size()) + 1);
    auto done = [&window, &cli, &screenshot, remaining] {
      if (--*remaining > 0) return;
      // Let the layout settle with the final text before the window is grabbed.
      QTimer::singleShot(50, &window, [&window, &cli, &screenshot] {
        std::printf("caption: %s\n", window.caption_shown().toUtf8().constData());
        std::fflush(stdout);
        int status = 0;
        if (cli.isSet(screenshot) && !window.grab().save(cli.value(screenshot), "PNG")) {
          std::fprintf(stderr, "glimpse-desktop: cannot write %s\n", cli.value(screenshot).toUtf8().constData());
          status = 1;
        }
        QApplication::exit(status);
      });
    };
    QObject::connect(&window, &Window::caption_finished, &window, done);
    QObject::connect(&window, &Window::answer_finished, &window, [done](const QString& answer) {
      std::printf("answer: %s\n", answer.toUtf8().constData());
      done();
    });
    QObject::connect(&window, &Window::request_failed, &window, [](const QString& message) {
      std::fprintf(stderr, "glimpse-desktop: %s\n", message.toUtf8().constData());
      QApplication::exit(1);
    });
  }
  return QApplication::exec();
}
