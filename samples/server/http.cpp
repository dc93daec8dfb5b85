#include "http.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

namespace glimpse::server::http {

using Clock = std::chrono::steady_clock;

namespace {

const std::string kEmpty;

bool is_tchar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u)) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value lists `token` (case-insensitive).
bool lists_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (ascii_lower(trim(value.substr(0, comma))) == token) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

Request without_body(const Request& r) {
  Request h;
  h.method = r.method, h.target = r.target, h.path = r.path, h.query = r.query;
  h.minor_version = r.minor_version, h.keep_alive = r.keep_alive, h.remote = r.remote;
  return h;
}

Clock::duration seconds(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }

}  // namespace

const std::string& Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return kEmpty;
}

bool Request::has_header(std::string_view name) const {
  for (const auto& kv : headers)
    if (kv.first == name) return true;
  return false;
}

// ---- parsing -------------------------------------------------------------------------------

void RequestParser::reset() {
  req_ = Request{};
  stage_ = Stage::Head;
  pos_ = scan_ = 0;
  body_left_ = 0;
  chunked_ = false;
  trailer_bytes_ = 0;
  status_ = 0;
  message_.clear();
}

RequestParser::Progress RequestParser::fail(int status, std::string message) {
  stage_ = Stage::Failed;
  status_ = status;
  message_ = std::move(message);
  return Progress::Failed;
}

RequestParser::Progress RequestParser::parse_head(const std::string& buf, size_t end) {
  // RFC 9112 2.2: an empty line or two before the request line is ignored.
  size_t at = pos_;
  while (end > at && buf.compare(at, 2, "\r\n") == 0) at += 2;
  std::vector<std::string_view> lines;
  const std::string_view head(buf.data() + at, end - at);
  for (size_t i = 0; i <= head.size();) {
    const size_t eol = head.find("\r\n", i);
    const size_t stop = eol == std::string_view::npos ? head.size() : eol;
    lines.push_back(head.substr(i, stop - i));
    i = stop + 2;
  }
  for (std::string_view line : lines)
    for (char c : line)
      if (c == '\r' || c == '\n' || c == '\0') return fail(400, "a header line holds a bare CR, LF or NUL");

  // METHOD SP request-target SP HTTP/1.x
  const std::string_view line = lines[0];
  const size_t sp1 = line.find(' '), sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar)) return fail(400, "malformed method");
  if (target.empty() || target[0] != '/') return fail(400, "the request target must be a path starting with '/'");
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return fail(400, "the request target holds a character that must be percent-encoded");
  if (version.size() != 8 || version.compare(0, 5, "HTTP/") != 0 || !std::isdigit(static_cast<unsigned char>(version[5])) ||
      version[6] != '.' || !std::isdigit(static_cast<unsigned char>(version[7])))
    return fail(400, "malformed HTTP version");
  if (version[5] != '1') return fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
  req_.method = std::string(method);
  req_.target = std::string(target);
  const size_t q = target.find('?');
  req_.path = std::string(target.substr(0, q));
  req_.query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  req_.minor_version = version[7] - '0';

  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view h = lines[i];
    if (h.empty()) continue;
    if (h[0] == ' ' || h[0] == '\t') return fail(400, "folded header lines are not accepted");
    const size_t colon = h.find(':');
    if (colon == 0 || colon == std::string_view::npos || !std::all_of(h.begin(), h.begin() + long(colon), is_tchar))
      return fail(400, "malformed header line");
    const std::string_view value = trim(h.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return fail(400, "a header value holds a control character");
    if (req_.headers.size() >= limits_.max_headers)
      return fail(431, "more than " + std::to_string(limits_.max_headers) + " header lines");
    req_.headers.emplace_back(ascii_lower(h.substr(0, colon)), std::string(value));
  }

  int hosts = 0, lengths = 0, encodings = 0;
  std::string length;
  for (const auto& [name, value] : req_.headers) {
    if (name == "host") ++hosts;
    else if (name == "content-length") {
      if (lengths++ && value != length) return fail(400, "conflicting Content-Length headers");
      length = value;
    } else if (name == "transfer-encoding") ++encodings;
  }
  if (req_.minor_version == 1 && hosts != 1) return fail(400, "an HTTP/1.1 request needs exactly one Host header");
  if (encodings && lengths) return fail(400, "a request may not have both Transfer-Encoding and Content-Length");
  if (encodings) {
    if (encodings > 1 || ascii_lower(req_.header("transfer-encoding")) != "chunked" || req_.minor_version == 0)
      return fail(501, "only the chunked transfer coding is accepted (HTTP/1.1)");
    chunked_ = true;
  }
  if (lengths) {
    if (length.empty() || length.size() > 18 || !std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail(400, "malformed Content-Length");
    body_left_ = std::stoull(length);
    if (body_left_ > limits_.max_body_bytes)
      return fail(413, "the request body is " + length + " bytes, over the limit of " + std::to_string(limits_.max_body_bytes));
  }
  const std::string& connection = req_.header("connection");
  req_.keep_alive = req_.minor_version == 1 ? !lists_token(connection, "close") : lists_token(connection, "keep-alive");
  if (req_.has_header("expect")) {
    if (ascii_lower(req_.header("expect")) != "100-continue") return fail(417, "only 'Expect: 100-continue' is understood");
    req_.expect_continue = true;
  }
  pos_ = end + 4;
  stage_ = chunked_ ? Stage::ChunkSize : body_left_ ? Stage::Body : Stage::Done;
  return Progress::HeadReady;
}

RequestParser::Progress RequestParser::advance(std::string& buf) {
  for (;;) {
    switch (stage_) {
      case Stage::Failed: return Progress::Failed;
      case Stage::Done: return Progress::Complete;
      case Stage::Head: {
        const size_t end = buf.find("\r\n\r\n", std::max(scan_, pos_));
        if (end == std::string::npos) {
          if (buf.size() - pos_ > limits_.max_head_bytes)
            return fail(431, "the request line and headers are over " + std::to_string(limits_.max_head_bytes) + " bytes");
          scan_ = buf.size() >= 3 ? buf.size() - 3 : 0;
          return Progress::NeedMore;
        }
        if (end + 4 - pos_ > limits_.max_head_bytes)
          return fail(431, "the request line and headers are over " + std::to_string(limits_.max_head_bytes) + " bytes");
        return parse_head(buf, end);  // HeadReady or Failed; the next call goes on with the body
      }
      case Stage::Body: {
        if (buf.size() - pos_ < body_left_) return Progress::NeedMore;
        req_.body.assign(buf, pos_, size_t(body_left_));
        pos_ += size_t(body_left_);
        body_left_ = 0;
        stage_ = Stage::Done;
        break;
      }
      case Stage::ChunkSize: {
        const size_t eol = buf.find("\r\n", pos_);
        if (eol == std::string::npos) {
          if (buf.size() - pos_ > limits_.max_chunk_line) return fail(400, "malformed chunk size line");
          return Progress::NeedMore;
        }
        if (eol - pos_ > limits_.max_chunk_line) return fail(400, "malformed chunk size line");
        uint64_t size = 0;
        size_t i = pos_, digits = 0;
        for (; i < eol && std::isxdigit(static_cast<unsigned char>(buf[i])); ++i, ++digits) {
          if (digits >= 15) return fail(413, "a chunk over the body limit");
          const char c = char(std::tolower(static_cast<unsigned char>(buf[i])));
          size = size * 16 + uint64_t(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        if (digits == 0) return fail(400, "malformed chunk size");
        while (i < eol && (buf[i] == ' ' || buf[i] == '\t')) ++i;
        if (i < eol && buf[i] != ';') return fail(400, "malformed chunk size");
        for (; i < eol; ++i)
          if (static_cast<unsigned char>(buf[i]) < 0x20 && buf[i] != '\t') return fail(400, "malformed chunk extension");
        pos_ = eol + 2;
        if (size == 0) {
          stage_ = Stage::Trailers;
          break;
        }
        if (req_.body.size() + size > limits_.max_body_bytes)
          return fail(413, "the chunked request body is over the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
        body_left_ = size;
        stage_ = Stage::ChunkData;
        break;
      }
      case Stage::ChunkData: {
        const size_t n = size_t(std::min<uint64_t>(body_left_, buf.size() - pos_));
        req_.body.append(buf, pos_, n);
        pos_ += n;
        body_left_ -= n;
        // What was consumed goes: a chunked body is held once (decoded), not twice.
        if (pos_ >= (64 << 10)) {
          buf.erase(0, pos_);
          pos_ = 0;
        }
        if (body_left_) return Progress::NeedMore;
        stage_ = Stage::ChunkDataEnd;
        break;
      }
      case Stage::ChunkDataEnd:
        if (buf.size() - pos_ < 2) return Progress::NeedMore;
        if (buf.compare(pos_, 2, "\r\n") != 0) return fail(400, "a chunk's data does not end with CRLF");
        pos_ += 2;
        stage_ = Stage::ChunkSize;
        break;
      case Stage::Trailers: {
        const size_t eol = buf.find("\r\n", pos_);
        if (eol == std::string::npos) {
          if (trailer_bytes_ + buf.size() - pos_ > limits_.max_head_bytes) return fail(431, "trailer fields too large");
          return Progress::NeedMore;
        }
        trailer_bytes_ += eol + 2 - pos_;
        if (trailer_bytes_ > limits_.max_head_bytes) return fail(431, "trailer fields too large");
        const bool last = eol == pos_;  // trailer fields are read past, not kept
        pos_ = eol + 2;
        if (last) stage_ = Stage::Done;
        break;
      }
    }
  }
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {

std::string response_head(int status, const std::string& content_type, const std::vector<std::pair<std::string, std::string>>& headers,
                          const std::string* length, bool close) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  if (!content_type.empty()) h += "Content-Type: " + content_type + "\r\n";
  if (length) h += "Content-Length: " + *length + "\r\n";
  else h += "Transfer-Encoding: chunked\r\n";
  for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
  h += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  return h;
}

// ---- connections -----------------------------------------------------------------------------

struct Conn {
  explicit Conn(const Limits& l) : parser(l) {}
  int fd = -1;
  std::string peer;
  enum class Phase { Reading, Busy, Lingering } phase = Phase::Reading;
  std::string in;
  RequestParser parser;
  Clock::time_point accepted, deadline, last_progress;
  bool request_open = false;  // bytes of a request have arrived

  // Shared with the worker serving it.
  std::mutex mu;
  std::string out;
  bool gone = false;           // the client closed or the connection failed
  bool response_done = false;  // the response is wholly in `out`
  bool close_after = false;
  Request served;  // the request being answered, without its body (for the log)
  bool log_when_sent = false;
  int status = 0;
};

}  // namespace

struct Server::Impl {
  struct Route {
    std::string method, path;
    Mode mode;
    InlineHandler on_inline;
    WorkerHandler on_worker;
  };
  struct Job {
    std::shared_ptr<Conn> conn;
    Request req;
    const Route* route;
  };

  Server* owner;
  int listen_fd = -1, wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::vector<Route> routes;
  std::map<int, std::shared_ptr<Conn>> conns;

  std::mutex jobs_mu;
  std::condition_variable jobs_cv;
  std::deque<Job> jobs;
  std::vector<std::thread> workers;

  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof one);
  }

  Response error(int status, const std::string& message, const std::string& code = {}) {
    if (owner->error_body_) return owner->error_body_(status, message, code);
    Response r;
    r.status = status;
    r.content_type = "text/plain";
    r.body = message + "\n";
    return r;
  }

  // Queues a whole response on a connection (any thread).
  void queue(Conn& c, Response r, const Request& req) {
    std::lock_guard<std::mutex> lock(c.mu);
    const bool close = r.close || !req.keep_alive;
    const std::string length = std::to_string(r.body.size());
    c.out += response_head(r.status, r.content_type, r.headers, &length, close);
    c.out += r.body;
    c.response_done = true;
    c.close_after = c.close_after || close;
    c.status = r.status;
  }

  void log(const Request& req, int status) {
    if (owner->logger_) owner->logger_(req, status);
  }

  // A response made on the I/O thread: logged and queued.
  void answer(Conn& c, Response r, const Request& req) {
    log(req, r.status);
    queue(c, std::move(r), req);
  }

  // ---- workers ----
  struct WorkerResponder : Responder {
    Impl* impl;
    std::shared_ptr<Conn> c;
    const Request* req;
    bool sent = false, stream_open = false;

    void send(Response r) override {
      if (sent) return;
      sent = true;
      impl->queue(*c, std::move(r), *req);
      impl->wake();
    }
    bool start_stream(int status, const std::string& content_type, std::vector<std::pair<std::string, std::string>> headers) override {
      if (sent) return false;
      sent = stream_open = true;
      std::lock_guard<std::mutex> lock(c->mu);
      c->out += response_head(status, content_type, headers, nullptr, !req->keep_alive);
      c->status = status;
      c->close_after = c->close_after || !req->keep_alive;
      impl->wake();
      return !c->gone;
    }
    bool write(std::string_view data) override {
      if (!stream_open || data.empty()) return stream_open && !client_gone();
      std::lock_guard<std::mutex> lock(c->mu);
      if (c->gone) return false;
      if (c->out.size() > (size_t(4) << 20)) {  // not reading: treat it as gone
        c->gone = true;
        impl->wake();
        return false;
      }
      char size[24];
      std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      c->out += size;
      c->out += data;
      c->out += "\r\n";
      impl->wake();
      return true;
    }
    void finish() override {
      if (!stream_open) return;
      stream_open = false;
      std::lock_guard<std::mutex> lock(c->mu);
      c->out += "0\r\n\r\n";
      c->response_done = true;
      impl->wake();
    }
    bool client_gone() const override {
      std::lock_guard<std::mutex> lock(c->mu);
      return c->gone;
    }
  };

  void worker_loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(jobs_mu);
        jobs_cv.wait(lock, [&] { return stopping || !jobs.empty(); });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      WorkerResponder r;
      r.impl = this;
      r.c = job.conn;
      r.req = &job.req;
      try {
        job.route->on_worker(job.req, r);
      } catch (const std::exception& e) {
        if (!r.sent) r.send(error(500, std::string("internal error: ") + e.what()));
      } catch (...) {
        if (!r.sent) r.send(error(500, "internal error"));
      }
      if (!r.sent) r.send(error(500, "internal error: the handler sent no response"));
      r.finish();
    }
  }

  // ---- the I/O thread ----
  void close_conn(int fd) {
    auto it = conns.find(fd);
    if (it == conns.end()) return;
    {
      std::lock_guard<std::mutex> lock(it->second->mu);
      it->second->gone = true;
    }
    ::close(fd);
    conns.erase(it);
  }

  // The response is queued and will be sent; the connection ends after it (body unread).
  void refuse(Conn& c, Response r) {
    r.close = true;
    Request& req = c.parser.request();
    answer(c, std::move(r), req);
    c.phase = Conn::Phase::Busy;
    c.served = without_body(req);
    c.log_when_sent = false;
    c.last_progress = Clock::now();
  }

  const Route* find_route(const Request& req, bool& path_known, std::string& allow) {
    path_known = false;
    for (const Route& r : routes) {
      if (r.path != req.path) continue;
      path_known = true;
      allow += (allow.empty() ? "" : ", ") + r.method;
      if (r.method == req.method) return &r;
    }
    return nullptr;
  }

  void dispatch(const std::shared_ptr<Conn>& cp, Request req) {
    Conn& c = *cp;
    c.phase = Conn::Phase::Busy;
    c.last_progress = Clock::now();
    c.served = without_body(req);
    c.log_when_sent = false;
    {
      std::lock_guard<std::mutex> lock(c.mu);
      c.response_done = false;
      c.status = 0;
    }
    bool path_known = false;
    std::string allow;
    const Route* route = find_route(req, path_known, allow);
    if (!route) {
      Response r = path_known ? error(405, "the method " + req.method + " is not allowed on " + req.path, "method_not_allowed")
                              : error(404, "no route " + req.method + " " + req.path, "not_found");
      if (path_known) r.headers.emplace_back("Allow", allow);
      answer(c, std::move(r), req);
      return;
    }
    if (route->mode == Mode::Inline) {
      Response r;
      try {
        r = route->on_inline(req);
      } catch (const std::exception& e) {
        r = error(500, std::string("internal error: ") + e.what());
      }
      answer(c, std::move(r), req);
      return;
    }
    // Requests wait here for a worker, as many as there are workers: a worker that has sent its
    // response is still finishing when that client's next request arrives, so refusing whenever
    // none is idle turned away requests that a moment's wait serves (server-load, under load).
    std::unique_lock<std::mutex> lock(jobs_mu);
    if (jobs.size() >= size_t(owner->opt_.workers)) {
      lock.unlock();
      answer(c, error(503, "the server is busy (every worker is serving a request and as many wait); retry later", "busy"), req);
      return;
    }
    c.log_when_sent = true;
    jobs.push_back(Job{cp, std::move(req), route});
    lock.unlock();
    jobs_cv.notify_one();
  }

  size_t buffered_bytes() const {
    size_t n = 0;
    for (const auto& [fd, c] : conns)
      if (c->phase == Conn::Phase::Reading) n += c->in.size() + c->parser.request().body.size();
    return n;
  }

  // Parses what a Reading connection holds; dispatches a complete request.
  void parse(const std::shared_ptr<Conn>& cp) {
    Conn& c = *cp;
    const ServerOptions& opt = owner->opt_;
    for (;;) {
      const RequestParser::Progress p = c.parser.advance(c.in);
      if (p == RequestParser::Progress::NeedMore) {
        if (!c.request_open && !c.in.empty()) {
          c.request_open = true;
          c.deadline = Clock::now() + seconds(opt.request_timeout_s);
        }
        return;
      }
      if (p == RequestParser::Progress::Failed) {
        refuse(c, error(c.parser.error_status(), c.parser.error_message(), "bad_request"));
        return;
      }
      if (p == RequestParser::Progress::HeadReady) {
        Request& req = c.parser.request();
        req.remote = c.peer;
        if (owner->head_check_) {
          std::optional<Response> refused;
          try {
            refused = owner->head_check_(req);
          } catch (const std::exception& e) {
            refused = error(500, std::string("internal error: ") + e.what());
          }
          if (refused) {
            refuse(c, std::move(*refused));
            return;
          }
        }
        if (req.expect_continue) {
          std::lock_guard<std::mutex> lock(c.mu);
          c.out += "HTTP/1.1 100 Continue\r\n\r\n";
        }
        continue;
      }
      // Complete.
      c.in.erase(0, c.parser.consumed());
      Request req = std::move(c.parser.request());
      req.remote = c.peer;
      c.parser.reset();
      c.request_open = false;
      dispatch(cp, std::move(req));
      return;
    }
  }

  void on_readable(const std::shared_ptr<Conn>& cp) {
    Conn& c = *cp;
    char buf[64 << 10];
    size_t total = 0;
    while (total < (size_t(1) << 20)) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {  // closed or failed
        close_conn(c.fd);
        return;
      }
      total += size_t(n);
      if (c.phase == Conn::Phase::Lingering) continue;  // discarded
      if (buffered_bytes() + size_t(n) > owner->opt_.max_buffered_bytes) {
        refuse(c, error(503, "the server holds too many request bytes at once; retry later", "busy"));
        return;
      }
      c.in.append(buf, size_t(n));
    }
    if (c.phase == Conn::Phase::Reading && total) parse(cp);
  }

  // Sends what is queued; moves a finished response's connection on.
  void on_writable(const std::shared_ptr<Conn>& cp) {
    Conn& c = *cp;
    std::unique_lock<std::mutex> lock(c.mu);
    while (!c.out.empty()) {
      const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {
        lock.unlock();
        close_conn(c.fd);
        return;
      }
      c.out.erase(0, size_t(n));
      c.last_progress = Clock::now();
    }
    if (!c.out.empty() || !c.response_done || c.phase != Conn::Phase::Busy) return;
    const bool close = c.close_after;
    const int status = c.status;
    lock.unlock();
    if (c.log_when_sent) log(c.served, status);
    c.log_when_sent = false;
    if (close) {
      // Lingering close: stop sending, read and drop what the client still sends for a moment,
      // so that the response is not lost to a reset caused by unread bytes.
      ::shutdown(c.fd, SHUT_WR);
      c.phase = Conn::Phase::Lingering;
      c.deadline = Clock::now() + std::chrono::seconds(2);
      return;
    }
    c.phase = Conn::Phase::Reading;
    c.request_open = false;
    c.deadline = Clock::now() + seconds(owner->opt_.idle_timeout_s);
    if (!c.in.empty()) parse(cp);  // a pipelined request
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or out of descriptors: the next poll retries
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (conns.size() >= owner->opt_.max_connections && !evict_one()) {
        const Response r = error(503, "the server has too many connections open; retry later", "busy");
        const std::string length = std::to_string(r.body.size());
        const std::string bytes = response_head(r.status, r.content_type, r.headers, &length, true) + r.body;
        [[maybe_unused]] const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ::close(fd);
        continue;
      }
      auto c = std::make_shared<Conn>(owner->opt_.limits);
      c->fd = fd;
      char host[INET6_ADDRSTRLEN] = "?";
      if (addr.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, host, sizeof host);
      else if (addr.ss_family == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, host, sizeof host);
      c->peer = host;
      c->accepted = c->last_progress = Clock::now();
      c->deadline = c->accepted + seconds(owner->opt_.request_timeout_s);
      conns.emplace(fd, std::move(c));
    }
  }

  // At the connection cap: the connection that has spent longest on a request it has not
  // finished sending (or idle longest) makes room. Connections being answered are never dropped.
  bool evict_one() {
    int victim = -1;
    Clock::time_point oldest = Clock::time_point::max();
    for (const auto& [fd, c] : conns) {
      if (c->phase == Conn::Phase::Busy) continue;
      const Clock::time_point since = c->phase == Conn::Phase::Lingering ? Clock::time_point::min() : c->accepted;
      if (since < oldest) oldest = since, victim = fd;
    }
    if (victim < 0) return false;
    close_conn(victim);
    return true;
  }

  void expire(Clock::time_point now) {
    std::vector<int> ended;
    for (auto& [fd, c] : conns) {
      if (c->phase == Conn::Phase::Busy) {
        std::lock_guard<std::mutex> lock(c->mu);
        if (!c->out.empty() && now - c->last_progress > seconds(owner->opt_.write_timeout_s)) ended.push_back(fd);
        continue;
      }
      if (now < c->deadline) continue;
      if (c->phase == Conn::Phase::Reading && c->request_open) {
        // Most of a request, too slowly: say so, then close.
        refuse(*c, error(408, "the request was not received within " + std::to_string(int(owner->opt_.request_timeout_s)) +
                                  " s", "request_timeout"));
        continue;
      }
      ended.push_back(fd);
    }
    for (int fd : ended) close_conn(fd);
  }

  void loop() {
    std::vector<pollfd> fds;
    std::vector<std::shared_ptr<Conn>> order;
    while (!stopping) {
      fds.clear();
      order.clear();
      fds.push_back({listen_fd, POLLIN, 0});
      fds.push_back({wake_fd, POLLIN, 0});
      Clock::time_point next = Clock::now() + std::chrono::seconds(1);
      for (auto& [fd, c] : conns) {
        short events = POLLRDHUP;
        if (c->phase != Conn::Phase::Busy) events |= POLLIN;
        {
          std::lock_guard<std::mutex> lock(c->mu);
          if (!c->out.empty()) events |= POLLOUT;
          if (c->phase == Conn::Phase::Busy && c->response_done && c->out.empty()) events |= POLLOUT;  // to move on
        }
        fds.push_back({fd, events, 0});
        order.push_back(c);
        if (c->phase != Conn::Phase::Busy) next = std::min(next, c->deadline);
      }
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
      const int ready = ::poll(fds.data(), fds.size(), int(std::clamp<long long>(wait + 1, 0, 1000)));
      if (ready < 0 && errno != EINTR) break;
      if (fds[1].revents & POLLIN) {
        uint64_t v;
        [[maybe_unused]] const ssize_t n = ::read(wake_fd, &v, sizeof v);
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        const std::shared_ptr<Conn>& c = order[i - 2];
        if (conns.find(c->fd) == conns.end() || conns.at(c->fd) != c) continue;  // closed meanwhile
        const short ev = fds[i].revents;
        if (c->phase == Conn::Phase::Busy && (ev & (POLLRDHUP | POLLHUP | POLLERR))) {
          close_conn(c->fd);  // the client left: its worker sees client_gone()
          continue;
        }
        if (ev & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) on_readable(c);
        if (conns.find(c->fd) == conns.end() || conns.at(c->fd) != c) continue;
        // Whatever was queued (a response, a 100 Continue) goes out now if the socket takes it.
        bool pending;
        {
          std::lock_guard<std::mutex> lock(c->mu);
          pending = !c->out.empty() || (c->phase == Conn::Phase::Busy && c->response_done);
        }
        if (pending) on_writable(c);
      }
      // Responses that workers completed while poll() waited are picked up on the next pass via
      // POLLOUT; new connections last, so a full table can evict.
      if (fds[0].revents & POLLIN) accept_all();
      expire(Clock::now());
    }
  }
};

Server::Server(ServerOptions opt) : opt_(std::move(opt)), impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Server::~Server() {
  stop();
  for (auto& [fd, c] : impl_->conns) ::close(fd);
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
}

void Server::route_inline(const std::string& method, const std::string& path, InlineHandler h) {
  impl_->routes.push_back({method, path, Mode::Inline, std::move(h), {}});
}
void Server::route_worker(const std::string& method, const std::string& path, WorkerHandler h) {
  impl_->routes.push_back({method, path, Mode::Worker, {}, std::move(h)});
}

int Server::bind(const std::string& host, int port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  std::string name = host;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  if (const int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &found); rc != 0) {
    error = std::string("cannot resolve ") + host + ": " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  error = "no address to listen on";
  for (addrinfo* a = found; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 512) == 0) break;
    error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) return -1;
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  impl_->listen_fd = fd;
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void Server::run() {
  for (int i = 0; i < opt_.workers; ++i) impl_->workers.emplace_back([this] { impl_->worker_loop(); });
  impl_->loop();
  // Stopping: every client is gone as far as the workers can tell, so their work ends soon.
  for (auto& [fd, c] : impl_->conns) {
    std::lock_guard<std::mutex> lock(c->mu);
    c->gone = true;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->jobs_mu);
    impl_->stopping = true;
    impl_->jobs.clear();
  }
  impl_->jobs_cv.notify_all();
  for (std::thread& t : impl_->workers) t.join();
  impl_->workers.clear();
}

void Server::stop() {
  impl_->stopping = true;
  impl_->jobs_cv.notify_all();
  impl_->wake();
}

}  // namespace glimpse::server::http
