// glimpse-server: an OpenAI-compatible HTTP server over one loaded model (samples/server/README.md).
//   POST /v1/chat/completions  the user message's image and text: a caption (the text is the
//                              prompt) or an answer (the text is the question); stream: true
//                              answers with server-sent events
//   GET  /v1/models            the one model, with its input modalities
//   GET  /health               503 while the model loads, 200 with the slots' load when ready
// Built on the public C API (glimpse.hpp), as an application embedding glimpse would be.
#include "glimpse.hpp"
#include "api.hpp"
#include "media.hpp"
#include "slots.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>

namespace {

using namespace glimpse::server;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* const kUsage =
    "usage: glimpse-server --model DIR [--host 127.0.0.1] [--port 8080] [--model-id NAME]\n"
    "                      [--parallel N] [--queue N] [--timeout SECONDS] [--max-body-mb N]\n"
    "                      [--media-path DIR] [--allow-remote-urls] [--device INDEX|NAME] [--f16]\n"
    "                      [--allow-host NAME]... [--allow-origin ORIGIN]...\n"
    "  --parallel N     sessions serving requests at once (default 1)\n"
    "  --queue N        requests that may wait for a session; more are answered 503 (default 16)\n"
    "  --timeout S      per-request limit, queueing included; past it: 504 (default 120)\n"
    "  --max-body-mb N  request body limit; larger bodies are answered 413 (default 20)\n"
    "  --media-path DIR allow file:// image URLs under DIR (refused otherwise)\n"
    "  --allow-remote-urls  fetch http(s):// image URLs (refused otherwise)\n"
    "  --allow-host NAME    also accept requests whose Host header names NAME ('*': any). On a loopback\n"
    "                   address only localhost, 127.0.0.1 and [::1] are accepted (DNS rebinding)\n"
    "  --allow-origin ORIGIN  also accept browser requests from ORIGIN, e.g. https://app.example ('*': any);\n"
    "                   pages on this machine (http://localhost:*) are always accepted\n"
    "  --port 0 picks a free port; the chosen one is printed as 'listening on http://HOST:PORT'\n";

struct Options {
  std::string model_dir, model_id, host = "127.0.0.1", device, media_path;
  int port = 8080, parallel = 1, queue = 16;
  double timeout_s = 120, max_body_mb = 20;
  bool allow_remote = false, f16 = false;
  std::vector<std::string> allow_hosts, allow_origins;
};

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "glimpse-server: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

double number_arg(const std::string& flag, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !(x >= lo && x <= hi))
    usage_error(flag + " needs a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", found '" + v + "'");
  return x;
}

Options options_parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") o.model_dir = value();
    else if (a == "--model-id") o.model_id = value();
    else if (a == "--host") o.host = value();
    else if (a == "--port") o.port = int(number_arg(a, value(), 0, 65535));
    else if (a == "--parallel") o.parallel = int(number_arg(a, value(), 1, 256));
    else if (a == "--queue") o.queue = int(number_arg(a, value(), 0, 1024));
    else if (a == "--timeout") o.timeout_s = number_arg(a, value(), 0.001, 86400);
    else if (a == "--max-body-mb") o.max_body_mb = number_arg(a, value(), 0.001, 4096);
    else if (a == "--media-path") o.media_path = value();
    else if (a == "--allow-host") o.allow_hosts.push_back(lower(value()));
    else if (a == "--allow-origin") o.allow_origins.push_back(lower(value()));
    else if (a == "--allow-remote-urls") o.allow_remote = true;
    else if (a == "--device") o.device = value();
    else if (a == "--f16") o.f16 = true;
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else usage_error("unknown argument '" + a + "'");
  }
  if (o.model_dir.empty()) usage_error("--model DIR is required");
  if (o.model_id.empty()) o.model_id = std::filesystem::path(o.model_dir).lexically_normal().filename().string();
  if (o.model_id.empty()) o.model_id = std::filesystem::absolute(o.model_dir).parent_path().filename().string();
  return o;
}

// What the running server shares between its HTTP threads.
struct Server {
  Options opt;
  MediaPolicy media;
  std::atomic<bool> ready{false};
  std::unique_ptr<glimpse::embed::Model> model;
  std::unique_ptr<SlotPool> slots;
  glimpse_model_info info{};
  int64_t created = 0;
  std::atomic<uint64_t> next_id{0};
};

// Replies are JSON even when a string in them is not valid UTF-8 (a message echoing a client's
// bytes): such bytes become U+FFFD, as Python's errors="replace" would.
std::string json_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(json_text(body), "application/json");
}

void reply_error(httplib::Response& res, const ApiError& e) { reply_json(res, e.status, error_body(e)); }

ApiError api_error_from(const glimpse::embed::Error& e, bool timed_out) {
  switch (e.status()) {
    case GLIMPSE_ERROR_INVALID_ARGUMENT:
    case GLIMPSE_ERROR_WRONG_MODEL:
    case GLIMPSE_ERROR_IO: return bad_request(e.what(), "messages");
    case GLIMPSE_ERROR_IMAGE: return ApiError(400, "invalid_request_error", e.what(), "invalid_image", "messages");
    case GLIMPSE_ERROR_CANCELLED:
      if (timed_out) return ApiError(504, "timeout_error", "the request ran past the server's --timeout", "timeout");
      return ApiError(499, "cancelled", "the client went away", "cancelled");
    case GLIMPSE_ERROR_OUT_OF_MEMORY: return ApiError(503, "server_error", e.what(), "out_of_memory");
    default: return ApiError(500, "server_error", e.what());
  }
}

// One request's generation: the image and text in, the reply and its token counts out.
struct Generation {
  std::string content;  // the generated text (a continuation of any prompt)
  uint32_t generated = 0, total = 0;
  bool stopped_at_eos = false;
};

struct TokenSink {
  std::function<bool(const std::string&)> on_text;  // false: stop (the client went away)
  Clock::time_point deadline;
  bool cancelled = false, timed_out = false;
  std::string text;
  uint32_t count = 0, last = 0;
};

Generation generate(Server& s, glimpse::embed::Session& session, const ChatRequest& rq, const ImageSource& src,
                    TokenSink& sink) {
  glimpse_generate_params p = glimpse_generate_default_params();
  if (rq.max_tokens) p.max_new_tokens = *rq.max_tokens;
  // Greedy, as transformers' generate() for these models, unless the client asks for sampling.
  const bool sample = (rq.temperature && *rq.temperature > 0) || (rq.top_p && *rq.top_p < 1) || rq.top_k;
  if (sample) {
    p.do_sample = 1;
    p.temperature = rq.temperature && *rq.temperature > 0 ? *rq.temperature : 1.0f;
    p.top_p = rq.top_p ? *rq.top_p : 1.0f;
    p.top_k = rq.top_k ? *rq.top_k : 0;
    p.seed = rq.seed ? *rq.seed : std::random_device{}();
  }
  p.on_token = [](void* ud, uint32_t token, const char* text_so_far) {
    auto* t = static_cast<TokenSink*>(ud);
    ++t->count;
    t->last = token;
    t->text = text_so_far;
    if (t->on_text && !t->cancelled && !t->on_text(t->text)) t->cancelled = true;
  };
  p.token_user_data = &sink;
  p.abort = [](void* ud) -> int {
    auto* t = static_cast<TokenSink*>(ud);
    if (Clock::now() > t->deadline) t->timed_out = true;
    return t->cancelled || t->timed_out;
  };
  p.abort_user_data = &sink;
  const glimpse_image image = src.path.empty() ? glimpse_image_from_encoded(src.bytes.data(), src.bytes.size())
                                               : glimpse_image_from_path(src.path.c_str());
  glimpse::embed::Result r;
  try {
    if (s.info.task == GLIMPSE_TASK_ANSWER) {
      if (rq.text.empty()) throw bad_request("a visual question answering model needs a question in the text part", "messages");
      r = session.answer(image, rq.text, p);
    } else {
      p.prompt = rq.text.empty() ? nullptr : rq.text.c_str();
      r = session.caption(image, p);
    }
  } catch (const glimpse::embed::Error& e) {
    throw api_error_from(e, sink.timed_out);
  }
  Generation g;
  g.content = sink.text;
  g.generated = sink.count;
  g.total = uint32_t(r.token_ids.size());
  g.stopped_at_eos = sink.count > 0 && sink.last == s.info.eos_token_id;
  return g;
}

Completion completion_for(Server& s, const Generation& g) {
  Completion c;
  c.id = "chatcmpl-glimpse-" + std::to_string(s.next_id++);
  c.model = s.opt.model_id;
  c.created = int64_t(std::time(nullptr));
  c.content = g.content;
  c.finish_reason = g.stopped_at_eos ? "stop" : "length";
  c.completion_tokens = g.generated;
  c.prompt_tokens = g.total - g.generated;
  return c;
}

std::string sse(const json& j) { return "data: " + json_text(j) + "\n\n"; }

void chat_completions(Server& s, const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.opt.timeout_s));
  if (!s.ready) throw ApiError(503, "server_error", "the model is still loading; retry when GET /health answers 200", "loading");
  const ChatRequest rq = chat_request_parse(req.body);
  if (!rq.model.empty() && rq.model != s.opt.model_id)
    throw ApiError(404, "invalid_request_error", "the model '" + rq.model + "' does not exist; this server has '" + s.opt.model_id + "'",
                   "model_not_found", "model");
  const ImageSource src = image_source_resolve(rq.image_url, s.media);

  std::unique_ptr<SlotPool::Lease> lease;
  switch (s.slots->acquire(deadline, lease)) {
    case SlotPool::Wait::QueueFull:
      throw ApiError(503, "server_error", "the server is busy (all sessions serving and the queue full); retry later", "queue_full");
    case SlotPool::Wait::TimedOut:
      throw ApiError(504, "timeout_error", "the request waited past the server's --timeout for a session", "timeout");
    case SlotPool::Wait::Granted: break;
  }

  if (!rq.stream) {
    TokenSink sink;
    sink.deadline = deadline;
    const Generation g = generate(s, lease->session(), rq, src, sink);
    reply_json(res, 200, completion_json(completion_for(s, g)));
    return;
  }

  // Streaming: the lease travels into the content provider, which httplib runs after this
  // handler returns; the releaser ends it whether or not the provider ran.
  auto held = std::make_shared<std::unique_ptr<SlotPool::Lease>>(std::move(lease));
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [&s, held, rq, src, deadline](size_t, httplib::DataSink& out) {
        Completion c;
        c.id = "chatcmpl-glimpse-" + std::to_string(s.next_id++);
        c.model = s.opt.model_id;
        c.created = int64_t(std::time(nullptr));
        auto write = [&](const std::string& data) { return out.is_writable() && out.write(data.data(), data.size()); };
        std::string sent;
        TokenSink sink;
        sink.deadline = deadline;
        // A delta only when the text grows at its end; a decoder that rewrites earlier text
        // (rare: byte-level pieces completing a character) waits for the next clean extension.
        sink.on_text = [&](const std::string& text) {
          const std::string whole = text.substr(0, stream_stable_prefix(text));
          if (whole.size() <= sent.size() || whole.compare(0, sent.size(), sent) != 0) return true;
          const bool ok = write(sse(chunk_json(c, whole.substr(sent.size()), false, false)));
          sent = whole;
          return ok;
        };
        if (!write(sse(chunk_json(c, std::string(), true, false)))) return false;
        try {
          const Generation g = generate(s, (*held)->session(), rq, src, sink);
          const Completion done = completion_for(s, g);
          c.finish_reason = done.finish_reason;
          c.prompt_tokens = done.prompt_tokens;
          c.completion_tokens = done.completion_tokens;
          std::optional<std::string> rest;
          if (g.content.size() > sent.size() && g.content.compare(0, sent.size(), sent) == 0)
            rest = g.content.substr(sent.size());
          write(sse(chunk_json(c, rest, false, true)));
          if (rq.include_usage) write(sse(usage_chunk_json(c)));
        } catch (const ApiError& e) {
          write(sse(error_body(e)));
        }
        write("data: [DONE]\n\n");
        held->reset();
        out.done();
        return true;
      },
      [held](bool) { held->reset(); });
}

// ---- requests a web page could send (DNS rebinding, cross-site requests) ------------------------

bool loopback_name(const std::string& host) {
  return host == "localhost" || host == "127.0.0.1" || host == "::1" || host == "[::1]" ||
         (host.size() > 10 && host.compare(host.size() - 10, 10, ".localhost") == 0);
}

// The host part of a Host header or an origin's authority: "[::1]:8080" -> "[::1]", "a.b:80" -> "a.b".
std::string authority_host(const std::string& authority) {
  const std::string a = lower(authority);
  if (!a.empty() && a[0] == '[') {
    const size_t close = a.find(']');
    return close == std::string::npos ? a : a.substr(0, close + 1);
  }
  const size_t colon = a.find(':');
  return colon == std::string::npos ? a : a.substr(0, colon);
}

// Refuses, before the body is read, what only a browser tricked by a web page sends:
// - a Host header that names another site (DNS rebinding: a page on attacker.example whose name
//   now resolves to 127.0.0.1 reaches the loopback server with "Host: attacker.example");
// - an Origin that is neither this machine's nor allowed (a page POSTing across sites);
// - a POST whose body is not declared application/json (the "simple" text/plain and form
//   requests browsers send cross-site without asking first).
// Clients that are not browsers send no Origin and the Host they connected to.
std::optional<ApiError> request_refusal(const Options& opt, const httplib::Request& req) {
  const bool any_host = std::find(opt.allow_hosts.begin(), opt.allow_hosts.end(), "*") != opt.allow_hosts.end();
  if (req.has_header("Host") && !any_host) {
    const std::string host = authority_host(req.get_header_value("Host"));
    const bool bound_loopback = loopback_name(lower(opt.host));
    const bool listed = std::find(opt.allow_hosts.begin(), opt.allow_hosts.end(), host) != opt.allow_hosts.end();
    const bool fine = loopback_name(host) || host == lower(opt.host) || listed || (!bound_loopback && opt.allow_hosts.empty());
    if (!fine)
      return ApiError(403, "invalid_request_error",
                      "the Host header names '" + host + "', not this server; start it with --allow-host " + host +
                          " to accept that name",
                      "forbidden_host");
  }
  if (req.has_header("Origin")) {
    const std::string origin = lower(req.get_header_value("Origin"));
    const size_t scheme = origin.find("://");
    const std::string host = scheme == std::string::npos ? std::string() : authority_host(origin.substr(scheme + 3));
    const auto& allowed = opt.allow_origins;
    const bool fine = loopback_name(host) || std::find(allowed.begin(), allowed.end(), "*") != allowed.end() ||
                      std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
    if (!fine)
      return ApiError(403, "invalid_request_error",
                      "requests from the web page origin '" + origin + "' are refused; start the server with "
                      "--allow-origin " + origin + " to accept them",
                      "forbidden_origin");
  }
  if (req.method == "POST") {
    const std::string type = req.get_header_value("Content-Type");
    std::string media = lower(type.substr(0, type.find(';')));
    while (!media.empty() && media.back() == ' ') media.pop_back();
    if (media != "application/json")
      return ApiError(415, "invalid_request_error",
                      "the body is declared as '" + (type.empty() ? std::string("nothing") : type) +
                          "'; send it as application/json (curl: -H 'Content-Type: application/json')",
                      "unsupported_media_type");
  }
  return std::nullopt;
}

json models_json(const Server& s) {
  const bool vqa = s.info.task == GLIMPSE_TASK_ANSWER;
  return {{"object", "list"},
          {"data", json::array({{{"id", s.opt.model_id},
                                 {"object", "model"},
                                 {"created", s.created},
                                 {"owned_by", "glimpse"},
                                 {"task", vqa ? "visual-question-answering" : "image-to-text"},
                                 {"architecture", s.info.architecture},
                                 {"input_modalities", {"text", "image"}},
                                 {"output_modalities", {"text"}},
                                 {"image_size", s.info.image_size},
                                 {"max_length", s.info.max_length},
                                 {"weights_dtype", s.info.weights_dtype},
                                 {"device", s.info.device}}})}};
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = options_parse(argc, argv);
  Server s;
  s.opt = opt;
  s.media.allow_remote = opt.allow_remote;
  s.media.max_bytes = size_t(opt.max_body_mb * 1024 * 1024);
  if (!opt.media_path.empty()) {
    std::error_code ec;
    s.media.media_root = std::filesystem::canonical(opt.media_path, ec).string();
    if (ec || !std::filesystem::is_directory(s.media.media_root))
      usage_error("--media-path " + opt.media_path + " is not a directory");
  }

  // SIGINT / SIGTERM end the server cleanly: blocked here, taken by a thread that stops it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  httplib::Server http;
  const size_t threads = size_t(opt.parallel + opt.queue + 4);  // spare threads answer 503s and /health
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(size_t(opt.max_body_mb * 1024 * 1024 * 4 / 3 + 65536));  // base64 inflates by 4/3
  // Headers and body leave in separate writes: without TCP_NODELAY, Nagle holds the body until
  // the client's delayed ACK (one client on loopback: 46 ms mean per caption without, 31 ms with).
  http.set_tcp_nodelay(true);
  http.set_read_timeout(std::chrono::seconds(30));
  http.set_write_timeout(std::chrono::seconds(30));
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    std::fprintf(stderr, "glimpse-server: %s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const ApiError& e) {
      reply_error(res, e);
    } catch (const std::exception& e) {
      reply_error(res, ApiError(500, "server_error", std::string("internal error: ") + e.what()));
    } catch (...) {
      reply_error(res, ApiError(500, "server_error", "internal error"));
    }
  });
  // Statuses httplib sets itself (404 for an unknown path, 413 for a body over the limit, 400
  // for a malformed request line) get an OpenAI error body too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404) reply_error(res, ApiError(404, "invalid_request_error", "no route " + req.method + " " + req.path, "not_found"));
    else if (res.status == 413 && req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0)
      // httplib caps form bodies at 8 KiB; curl -d sends that type unless told otherwise.
      reply_error(res, ApiError(413, "invalid_request_error",
                                "the body was sent as application/x-www-form-urlencoded; send it as application/json "
                                "(curl: -H 'Content-Type: application/json')",
                                "request_too_large"));
    else if (res.status == 413)
      reply_error(res, ApiError(413, "invalid_request_error",
                                "the request body is over the server's limit (--max-body-mb " + json(opt.max_body_mb).dump() + ")",
                                "request_too_large"));
    else reply_error(res, ApiError(res.status, "invalid_request_error", "HTTP " + std::to_string(res.status)));
    return httplib::Server::HandlerResponse::Handled;
  }));

  http.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    const std::optional<ApiError> refused = request_refusal(opt, req);
    if (!refused) return httplib::Server::HandlerResponse::Unhandled;
    reply_error(res, *refused);
    res.set_header("Connection", "close");  // its body, if any, was not read
    return httplib::Server::HandlerResponse::Handled;
  });
  http.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    try {
      chat_completions(s, req, res);
    } catch (const ApiError& e) {
      reply_error(res, e);
    }
  });
  http.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    if (!s.ready) return reply_error(res, ApiError(503, "server_error", "the model is still loading", "loading"));
    reply_json(res, 200, models_json(s));
  });
  http.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    if (!s.ready) return reply_json(res, 503, {{"status", "loading"}});
    const SlotPool::Load l = s.slots->load();
    reply_json(res, 200, {{"status", "ok"}, {"model", opt.model_id}, {"slots_busy", l.busy}, {"slots_idle", l.idle}, {"queued", l.queued}});
  });

  const int port = opt.port == 0 ? http.bind_to_any_port(opt.host) : (http.bind_to_port(opt.host, opt.port) ? opt.port : -1);
  if (port < 0) {
    std::fprintf(stderr, "glimpse-server: cannot listen on %s:%d (in use, or not a local address)\n", opt.host.c_str(), opt.port);
    return 1;
  }
  std::printf("glimpse-server: listening on http://%s:%d\n", opt.host.c_str(), port);
  std::fflush(stdout);

  std::atomic<int> exit_code{0};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    http.stop();
  });
  signal_thread.detach();

  // The model loads while /health answers 503; a failed load ends the server.
  std::thread loader([&] {
    try {
      glimpse_model_params mp = glimpse_model_default_params();
      mp.fp16_weights = opt.f16;
      if (!opt.device.empty()) mp.device = opt.device.c_str();
      s.model = std::make_unique<glimpse::embed::Model>(opt.model_dir, mp);
      s.info = s.model->info();
      s.slots = std::make_unique<SlotPool>(*s.model, opt.parallel, opt.queue);
      s.created = int64_t(std::time(nullptr));
      s.ready = true;
      std::printf("glimpse-server: ready: %s (%s, %s weights on %s), %d session(s), queue %d\n", opt.model_id.c_str(),
                  s.info.architecture, s.info.weights_dtype, s.info.device, opt.parallel, opt.queue);
      std::fflush(stdout);
    } catch (const glimpse::embed::Error& e) {
      std::fprintf(stderr, "glimpse-server: cannot load %s: %s\n", opt.model_dir.c_str(), e.what());
      exit_code = 1;
      http.stop();
    }
  });
  http.listen_after_bind();
  loader.join();
  return exit_code;
}
