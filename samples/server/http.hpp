// glimpse-server's HTTP/1.1 layer: a request parser and a poll()-driven server.
//
// Why not Debian's cpp-httplib (0.11.4), which the server used before: it reads chunked request
// bodies without applying its payload limit (a published advisory, fixed upstream in 0.20.1), it
// gives every connection a thread from a fixed pool for as long as the client takes to send a
// request (21 clients sending a byte a second starved /health), and it offers no hook for a
// whole-request deadline or a connection cap. Here one thread reads every connection without
// blocking, with a deadline for each whole request, and hands complete requests to workers:
// - bodies are capped however they are framed (Content-Length is refused from the header;
//   chunked bodies are counted as they arrive), and all buffered request bytes together are
//   capped;
// - a connection that has not sent its whole request by its deadline is answered 408 and closed;
//   at the connection cap the oldest connection still sending a request is dropped for the new
//   one, so slow clients cannot keep others out;
// - cheap routes (/health) answer on the I/O thread, never queued behind work;
// - a client that disconnects is seen at once (POLLRDHUP), so its work can stop.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace glimpse::server::http {

struct Limits {
  size_t max_head_bytes = 16 << 10;  // the request line and headers together
  size_t max_headers = 64;
  size_t max_body_bytes = 1 << 20;
  size_t max_chunk_line = 1024;  // a chunk-size line with its extensions, or a trailer line
};

struct Request {
  std::string method, target, path, query;  // path: target before '?'
  int minor_version = 1;                    // HTTP/1.x
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string body;
  bool keep_alive = true;
  bool expect_continue = false;
  std::string remote;  // peer address, for logs

  // The first value of header `name` (lower case), or "".
  const std::string& header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

// Incremental request parser. The connection's buffer grows; advance() goes on from where it
// stopped, so a body arriving in many reads is scanned once.
class RequestParser {
 public:
  enum class Progress {
    NeedMore,     // feed more bytes
    HeadReady,    // the head just parsed (returned once per request): check it before the body comes
    Complete,     // request() is whole; consumed() bytes of the buffer belong to it
    Failed        // error_status() / error_message(): answer it and close
  };

  explicit RequestParser(const Limits& limits) : limits_(limits) {}
  // May erase the consumed front of `buf` while a chunked body streams in (consumed() follows).
  Progress advance(std::string& buf);
  // Back to the start, for the next request on the connection (after erasing consumed()).
  void reset();

  Request& request() { return req_; }
  size_t consumed() const { return pos_; }
  int error_status() const { return status_; }
  const std::string& error_message() const { return message_; }

 private:
  enum class Stage { Head, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailers, Done, Failed };
  Progress fail(int status, std::string message);
  Progress parse_head(const std::string& buf, size_t end);

  Limits limits_;
  Request req_;
  Stage stage_ = Stage::Head;
  size_t pos_ = 0;            // bytes of the buffer consumed so far
  size_t scan_ = 0;           // where the search for the head's end resumes
  uint64_t body_left_ = 0;    // Content-Length bytes, or the current chunk's, still to come
  bool chunked_ = false;
  size_t trailer_bytes_ = 0;
  int status_ = 0;
  std::string message_;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // end the connection after this response
};

std::string_view reason_phrase(int status);

// ASCII lower case (header names, tokens, host names and URL schemes compare this way).
std::string ascii_lower(std::string_view s);

// A worker's handle on its request's connection. Thread-safe against the I/O thread.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void send(Response r) = 0;
  // A chunked response (server-sent events); then write() pieces and finish().
  virtual bool start_stream(int status, const std::string& content_type,
                            std::vector<std::pair<std::string, std::string>> headers) = 0;
  // False once the client has gone or stopped reading (more than a few MiB unread).
  virtual bool write(std::string_view data) = 0;
  virtual void finish() = 0;
  // The client closed its end or the connection failed: work for it may stop.
  virtual bool client_gone() const = 0;
};

struct ServerOptions {
  Limits limits;
  size_t max_connections = 128;
  size_t max_buffered_bytes = 256 << 20;  // request bytes held across all connections
  double request_timeout_s = 30;          // to send one whole request, from its first byte
  double idle_timeout_s = 5;              // a kept-alive connection with no request started
  double write_timeout_s = 30;            // without any progress writing a response
  int workers = 4;                        // threads for Worker routes
};

class Server {
 public:
  enum class Mode { Inline, Worker };
  using InlineHandler = std::function<Response(const Request&)>;
  using WorkerHandler = std::function<void(const Request&, Responder&)>;
  // Called on the I/O thread once a request's head is read, before its body: a response refuses
  // the request (it is sent and the connection closed, the body never read).
  using HeadCheck = std::function<std::optional<Response>(const Request&)>;
  // The body of every response the layer makes itself (400, 404, 405, 408, 413, 431, 503...).
  using ErrorBody = std::function<Response(int status, const std::string& message, const std::string& code)>;
  using Logger = std::function<void(const Request&, int status)>;

  explicit Server(ServerOptions opt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void route_inline(const std::string& method, const std::string& path, InlineHandler h);
  void route_worker(const std::string& method, const std::string& path, WorkerHandler h);
  void on_head(HeadCheck f) { head_check_ = std::move(f); }
  void on_error(ErrorBody f) { error_body_ = std::move(f); }
  void on_log(Logger f) { logger_ = std::move(f); }

  // Binds host:port (port 0: any free one); the port bound, or -1 with `error` set.
  int bind(const std::string& host, int port, std::string& error);
  // Serves until stop(); returns after every worker has ended.
  void run();
  // From any thread (a signal handler's thread included): run() returns soon after.
  void stop();

  struct Impl;

 private:
  ServerOptions opt_;
  HeadCheck head_check_;
  ErrorBody error_body_;
  Logger logger_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace glimpse::server::http
