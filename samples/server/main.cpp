// glimpse-server: an OpenAI-compatible HTTP server over one loaded model (samples/server/README.md).
//   POST /v1/chat/completions  the user message's image and text: a caption (the text is the
//                              prompt) or an answer (the text is the question); Florence-2: a task
//                              token and its text ("<OD>"; none: <CAPTION>), answered with the
//                              task's text or its result as JSON text; stream: true answers with
//                              server-sent events
//   GET  /v1/models            the one model, with its input modalities
//   GET  /health               503 while the model loads, 200 with the slots' load when ready
// Built on the public C API (glimpse.hpp), as an application embedding glimpse would be.
#include "glimpse.hpp"
#include "api.hpp"
#include "media.hpp"
#include "slots.hpp"
#include "http.hpp"

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
    "                      [--media-path DIR] [--allow-remote-urls] [--allow-private-urls]\n"
    "                      [--max-image-pixels N] [--max-connections N] [--read-timeout SECONDS]\n"
    "                      [--device INDEX|NAME] [--f16] [--allow-host NAME]... [--allow-origin ORIGIN]...\n"
    "  --parallel N     sessions serving requests at once (default 1)\n"
    "  --queue N        requests that may wait for a session; more are answered 503 (default 16)\n"
    "  --timeout S      per-request limit, queueing included; past it: 504 (default 120)\n"
    "  --max-body-mb N  request body limit; larger bodies are answered 413 (default 20)\n"
    "  --media-path DIR allow file:// image URLs under DIR (refused otherwise)\n"
    "  --allow-remote-urls  fetch http:// image URLs from public addresses (refused otherwise)\n"
    "  --allow-private-urls also fetch them from loopback, private and link-local addresses\n"
    "  --max-image-pixels N images decoding to more pixels are refused from their header (default 50000000)\n"
    "  --max-connections N  open connections; past it the oldest one still sending a request is dropped (default 128)\n"
    "  --read-timeout S     to send a whole request, from its first byte; past it: 408 (default 30)\n"
    "  --allow-host NAME    also accept requests whose Host header names NAME ('*': any). On a loopback\n"
    "                   address only localhost, 127.0.0.1 and [::1] are accepted (DNS rebinding)\n"
    "  --allow-origin ORIGIN  also accept browser requests from ORIGIN, e.g. https://app.example ('*': any);\n"
    "                   pages on this machine (http://localhost:*) are always accepted\n"
    "  --port 0 picks a free port; the chosen one is printed as 'listening on http://HOST:PORT'\n";

struct Options {
  std::string model_dir, model_id, host = "127.0.0.1", device, media_path;
  int port = 8080, parallel = 1, queue = 16;
  double timeout_s = 120, max_body_mb = 20, read_timeout_s = 30;
  uint64_t max_image_pixels = 50000000;
  size_t max_connections = 128;
  bool allow_remote = false, allow_private = false, f16 = false;
  std::vector<std::string> allow_hosts, allow_origins;
};

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
    else if (a == "--allow-host") o.allow_hosts.push_back(http::ascii_lower(value()));
    else if (a == "--allow-origin") o.allow_origins.push_back(http::ascii_lower(value()));
    else if (a == "--allow-remote-urls") o.allow_remote = true;
    else if (a == "--allow-private-urls") o.allow_private = true;
    else if (a == "--max-image-pixels") o.max_image_pixels = uint64_t(number_arg(a, value(), 1, 1e12));
    else if (a == "--max-connections") o.max_connections = size_t(number_arg(a, value(), 1, 100000));
    else if (a == "--read-timeout") o.read_timeout_s = number_arg(a, value(), 0.001, 86400);
    else if (a == "--device") o.device = value();
    else if (a == "--f16") o.f16 = true;
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else usage_error("unknown argument '" + a + "'");
  }
  if (o.model_dir.empty()) usage_error("--model DIR is required");
  if (o.allow_private && !o.allow_remote) usage_error("--allow-private-urls needs --allow-remote-urls");
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

http::Response json_response(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.body = json_text(body);
  return r;
}

http::Response error_response(const ApiError& e) { return json_response(e.status, error_body(e)); }

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
    // A lost GPU (reset, driver crash): this request is lost with it; the next one recreates the
    // device and reloads the model, so the client may retry.
    case GLIMPSE_ERROR_DEVICE: return ApiError(503, "server_error", e.what(), "device_error");
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
  const http::Responder* client = nullptr;          // its connection, watched for the client leaving
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
    if (t->client && t->client->client_gone()) t->cancelled = true;
    return t->cancelled || t->timed_out;
  };
  p.abort_user_data = &sink;
  glimpse_image image = src.path.empty() ? glimpse_image_from_encoded(src.bytes.data(), src.bytes.size())
                                         : glimpse_image_from_path(src.path.c_str());
  image.max_pixels = s.opt.max_image_pixels;
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
  if (!r.result_json.empty()) {
    // A model with tasks (Florence-2): a text task's answer as text, a region task's result
    // ({task: {bboxes, labels, ...}}) as JSON text.
    const nlohmann::ordered_json task = nlohmann::ordered_json::parse(r.result_json);
    const nlohmann::ordered_json& answer = task["result"].begin().value();
    g.content = answer.is_string() ? answer.get<std::string>()
                                   : task["result"].dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
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

void chat_completions(Server& s, const http::Request& req, http::Responder& out) {
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.opt.timeout_s));
  if (!s.ready) throw ApiError(503, "server_error", "the model is still loading; retry when GET /health answers 200", "loading");
  const ChatRequest rq = chat_request_parse(req.body);
  if (!rq.model.empty() && rq.model != s.opt.model_id)
    throw ApiError(404, "invalid_request_error", "the model '" + rq.model + "' does not exist; this server has '" + s.opt.model_id + "'",
                   "model_not_found", "model");
  MediaPolicy media = s.media;
  media.deadline = deadline;
  const ImageSource src = image_source_resolve(rq.image_url, media);

  std::unique_ptr<SlotPool::Lease> lease;
  switch (s.slots->acquire(deadline, lease)) {
    case SlotPool::Wait::QueueFull:
      throw ApiError(503, "server_error", "the server is busy (all sessions serving and the queue full); retry later", "queue_full");
    case SlotPool::Wait::TimedOut:
      throw ApiError(504, "timeout_error", "the request waited past the server's --timeout for a session", "timeout");
    case SlotPool::Wait::Granted: break;
  }

  TokenSink sink;
  sink.deadline = deadline;
  sink.client = &out;
  if (!rq.stream) {
    const Generation g = generate(s, lease->session(), rq, src, sink);
    lease.reset();  // the session is free before the client can see the reply (and ask /health)
    out.send(json_response(200, completion_json(completion_for(s, g))));
    return;
  }

  // Streaming: server-sent events, a delta per token.
  Completion c;
  c.id = "chatcmpl-glimpse-" + std::to_string(s.next_id++);
  c.model = s.opt.model_id;
  c.created = int64_t(std::time(nullptr));
  if (!out.start_stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}})) return;
  std::string sent;
  // A delta only when the text grows at its end; a decoder that rewrites earlier text (rare:
  // byte-level pieces completing a character) waits for the next clean extension.
  // A model with tasks answers only when it is done (its answer is post-processed, not the
  // generated text): one delta at the end.
  const bool tasks = std::string(s.info.architecture) == "Florence2ForConditionalGeneration";
  if (!tasks) sink.on_text = [&](const std::string& text) {
    const std::string whole = text.substr(0, stream_stable_prefix(text));
    if (whole.size() <= sent.size() || whole.compare(0, sent.size(), sent) != 0) return true;
    const bool ok = out.write(sse(chunk_json(c, whole.substr(sent.size()), false, false)));
    sent = whole;
    return ok;
  };
  if (!out.write(sse(chunk_json(c, std::string(), true, false)))) return;
  try {
    const Generation g = generate(s, lease->session(), rq, src, sink);
    lease.reset();
    const Completion done = completion_for(s, g);
    c.finish_reason = done.finish_reason;
    c.prompt_tokens = done.prompt_tokens;
    c.completion_tokens = done.completion_tokens;
    std::optional<std::string> rest;
    if (g.content.size() > sent.size() && g.content.compare(0, sent.size(), sent) == 0) rest = g.content.substr(sent.size());
    out.write(sse(chunk_json(c, rest, false, true)));
    if (rq.include_usage) out.write(sse(usage_chunk_json(c)));
  } catch (const ApiError& e) {
    lease.reset();
    out.write(sse(error_body(e)));
  }
  out.write("data: [DONE]\n\n");
  out.finish();
}

// ---- requests a web page could send (DNS rebinding, cross-site requests) ------------------------

bool loopback_name(const std::string& host) {
  return host == "localhost" || host == "127.0.0.1" || host == "::1" || host == "[::1]" ||
         (host.size() > 10 && host.compare(host.size() - 10, 10, ".localhost") == 0);
}

// The host part of a Host header or an origin's authority: "[::1]:8080" -> "[::1]", "a.b:80" -> "a.b".
std::string authority_host(const std::string& authority) {
  const std::string a = http::ascii_lower(authority);
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
std::optional<ApiError> request_refusal(const Options& opt, const http::Request& req) {
  const bool any_host = std::find(opt.allow_hosts.begin(), opt.allow_hosts.end(), "*") != opt.allow_hosts.end();
  if (req.has_header("host") && !any_host) {
    const std::string host = authority_host(req.header("host"));
    const bool bound_loopback = loopback_name(http::ascii_lower(opt.host));
    const bool listed = std::find(opt.allow_hosts.begin(), opt.allow_hosts.end(), host) != opt.allow_hosts.end();
    const bool fine = loopback_name(host) || host == http::ascii_lower(opt.host) || listed || (!bound_loopback && opt.allow_hosts.empty());
    if (!fine)
      return ApiError(403, "invalid_request_error",
                      "the Host header names '" + host + "', not this server; start it with --allow-host " + host +
                          " to accept that name",
                      "forbidden_host");
  }
  if (req.has_header("origin")) {
    const std::string origin = http::ascii_lower(req.header("origin"));
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
    const std::string type = req.header("content-type");
    std::string media = http::ascii_lower(type.substr(0, type.find(';')));
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
  s.media.allow_private = opt.allow_private;
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

  http::ServerOptions hopt;
  hopt.limits.max_body_bytes = size_t(opt.max_body_mb * 1024 * 1024 * 4 / 3 + 65536);  // base64 inflates by 4/3
  hopt.max_connections = opt.max_connections;
  hopt.max_buffered_bytes = std::max<size_t>(size_t(256) << 20, hopt.limits.max_body_bytes * 4);
  hopt.request_timeout_s = opt.read_timeout_s;
  // Sessions, the queue waiting for them, and two spare: past that the queue is full anyway.
  hopt.workers = opt.parallel + opt.queue + 2;
  http::Server http(hopt);
  http.on_log([](const http::Request& req, int status) {
    std::fprintf(stderr, "glimpse-server: %s %s %d\n", req.method.c_str(), req.path.c_str(), status);
  });
  // The statuses the HTTP layer answers itself, as OpenAI error objects.
  http.on_error([&opt](int status, const std::string& message, const std::string& code) {
    std::string text = message;
    std::string c = code;
    if (status == 413) {
      text = "the request body is over the server's limit (--max-body-mb " + json(opt.max_body_mb).dump() + "): " + message;
      c = "request_too_large";
    } else if (status == 408) {
      c = "request_timeout";
    }
    const std::string type = status >= 500 && status != 501 && status != 505 ? "server_error" : "invalid_request_error";
    http::Response r = error_response(ApiError(status, type, text, c));
    if (status == 503) r.headers.emplace_back("Retry-After", "1");
    return r;
  });
  http.on_head([&opt](const http::Request& req) -> std::optional<http::Response> {
    const std::optional<ApiError> refused = request_refusal(opt, req);
    if (!refused) return std::nullopt;
    return error_response(*refused);
  });
  http.route_worker("POST", "/v1/chat/completions", [&](const http::Request& req, http::Responder& out) {
    try {
      chat_completions(s, req, out);
    } catch (const ApiError& e) {
      out.send(error_response(e));
    } catch (const std::exception& e) {
      out.send(error_response(ApiError(500, "server_error", std::string("internal error: ") + e.what())));
    }
  });
  http.route_inline("GET", "/v1/models", [&](const http::Request&) {
    if (!s.ready) return error_response(ApiError(503, "server_error", "the model is still loading", "loading"));
    return json_response(200, models_json(s));
  });
  http.route_inline("GET", "/health", [&](const http::Request&) {
    if (!s.ready) return json_response(503, {{"status", "loading"}});
    const SlotPool::Load l = s.slots->load();
    return json_response(200, {{"status", "ok"}, {"model", opt.model_id}, {"slots_busy", l.busy}, {"slots_idle", l.idle}, {"queued", l.queued}});
  });

  std::string bind_error;
  const int port = http.bind(opt.host, opt.port, bind_error);
  if (port < 0) {
    std::fprintf(stderr, "glimpse-server: cannot listen on %s:%d: %s\n", opt.host.c_str(), opt.port, bind_error.c_str());
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
      // For tests only: the load waits while the file $GLIMPSE_SERVER_HOLD_LOAD_WHILE names exists,
      // so that a test sees the loading state for exactly as long as it needs.
      if (const char* hold = std::getenv("GLIMPSE_SERVER_HOLD_LOAD_WHILE"); hold && *hold) {
        mp.progress = [](void* path, float) -> int {
          std::error_code ec;
          while (std::filesystem::exists(static_cast<const char*>(path), ec)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
          return 1;
        };
        mp.progress_user_data = const_cast<char*>(hold);
      }
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
  http.run();
  loader.join();
  return exit_code;
}
