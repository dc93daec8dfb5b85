#include "fetch.hpp"

#include "api.hpp"
#include "http.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace glimpse::server {

using Clock = std::chrono::steady_clock;

namespace {

ApiError cannot_fetch(const std::string& url) {
  return ApiError(502, "upstream_error", "cannot fetch " + url.substr(0, 200) + ": no answer from it", {}, "messages");
}
ApiError timed_out() {
  return ApiError(504, "timeout_error", "fetching the image URL ran past the server's --timeout", "timeout", "messages");
}
ApiError too_large(size_t max_bytes) {
  return ApiError(413, "invalid_request_error",
                  "the image is larger than the server's limit of " + std::to_string(max_bytes) + " bytes", {}, "messages");
}

bool v4_is_public(uint32_t a) {  // host byte order
  auto in = [a](uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
  return !(in(0x00000000, 8) ||     // "this network"
           in(0x0A000000, 8) ||     // 10/8 private
           in(0x64400000, 10) ||    // 100.64/10 shared (carrier NAT)
           in(0x7F000000, 8) ||     // loopback
           in(0xA9FE0000, 16) ||    // 169.254/16 link-local (cloud metadata)
           in(0xAC100000, 12) ||    // 172.16/12 private
           in(0xC0000000, 24) ||    // 192.0.0/24 protocol assignments
           in(0xC0000200, 24) ||    // TEST-NET-1
           in(0xC0A80000, 16) ||    // 192.168/16 private
           in(0xC6120000, 15) ||    // 198.18/15 benchmarking
           in(0xC6336400, 24) ||    // TEST-NET-2
           in(0xCB007100, 24) ||    // TEST-NET-3
           in(0xE0000000, 4) ||     // multicast
           in(0xF0000000, 4));      // reserved, broadcast
}

int remaining_ms(Clock::time_point deadline) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return int(std::clamp<long long>(ms, 0, 1 << 30));
}

// Waits for `events` on fd until the deadline; false past it.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const int ms = remaining_ms(deadline);
    if (ms <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // the next call reports the error
  }
}

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

struct Answer {
  int status = 0;
  std::string location, body;
};

// One GET over a fresh connection to a checked address.
Answer get_once(const HttpUrl& u, const std::string& url, const sockaddr* addr, socklen_t addr_len, const FetchPolicy& policy) {
  Socket s;
  s.fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) throw cannot_fetch(url);
  if (::connect(s.fd, addr, addr_len) != 0 && errno != EINPROGRESS) throw cannot_fetch(url);
  if (!wait_for(s.fd, POLLOUT, policy.deadline)) throw timed_out();
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) throw cannot_fetch(url);

  const bool v6 = u.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + u.host + "]" : u.host;
  if (u.port != 80) host += ":" + std::to_string(u.port);
  const std::string request = "GET " + u.path + " HTTP/1.1\r\nHost: " + host +
                              "\r\nUser-Agent: glimpse-server\r\nAccept: image/*\r\nConnection: close\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(s.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) sent += size_t(n);
    else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(s.fd, POLLOUT, policy.deadline)) throw timed_out();
    } else throw cannot_fetch(url);
  }

  // The answer, read until the server closes (we asked it to), within the caps.
  const size_t head_cap = 32 << 10, raw_cap = policy.max_bytes * 2 + head_cap;
  std::string raw;
  char buf[64 << 10];
  size_t head_end = std::string::npos;
  uint64_t content_length = UINT64_MAX;
  bool chunked = false;
  Answer a;
  for (;;) {
    if (!wait_for(s.fd, POLLIN, policy.deadline)) throw timed_out();
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) throw cannot_fetch(url);
    if (n == 0) break;
    raw.append(buf, size_t(n));
    if (head_end == std::string::npos) {
      head_end = raw.find("\r\n\r\n");
      if (head_end == std::string::npos) {
        if (raw.size() > head_cap) throw cannot_fetch(url);
        continue;
      }
      // Status line and the headers this needs.
      const std::string head = raw.substr(0, head_end);
      if (head.size() < 12 || head.compare(0, 7, "HTTP/1.") != 0 || !std::isdigit(static_cast<unsigned char>(head[9])))
        throw cannot_fetch(url);
      a.status = std::atoi(head.c_str() + 9);
      for (size_t at = head.find("\r\n"); at != std::string::npos;) {
        const size_t next = head.find("\r\n", at + 2);
        const std::string line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
        at = next;
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string name = http::ascii_lower(line.substr(0, colon));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
        if (name == "location") a.location = value;
        else if (name == "transfer-encoding") chunked = http::ascii_lower(value).find("chunked") != std::string::npos;
        else if (name == "content-length" && !value.empty() && value.size() < 19 &&
                 std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
          content_length = std::stoull(value);
      }
      if (a.status != 200) return a;  // a redirect or an error: its body is not needed
      if (content_length != UINT64_MAX && content_length > policy.max_bytes) throw too_large(policy.max_bytes);
    }
    if (raw.size() > raw_cap) throw too_large(policy.max_bytes);
    if (!chunked && content_length != UINT64_MAX && raw.size() - head_end - 4 >= content_length) break;
  }
  if (head_end == std::string::npos) throw cannot_fetch(url);
  std::string body = raw.substr(head_end + 4);
  if (chunked) {
    std::string decoded;
    size_t at = 0;
    for (;;) {
      const size_t eol = body.find("\r\n", at);
      if (eol == std::string::npos) throw cannot_fetch(url);
      const unsigned long long n = std::strtoull(body.c_str() + at, nullptr, 16);
      if (n == 0) break;
      if (n > policy.max_bytes || decoded.size() + n > policy.max_bytes) throw too_large(policy.max_bytes);
      if (eol + 2 + n > body.size()) throw cannot_fetch(url);
      decoded.append(body, eol + 2, size_t(n));
      at = eol + 2 + size_t(n) + 2;
    }
    body.swap(decoded);
  } else if (content_length != UINT64_MAX) {
    if (body.size() < content_length) throw cannot_fetch(url);  // cut short
    body.resize(size_t(content_length));
  }
  if (body.size() > policy.max_bytes) throw too_large(policy.max_bytes);
  a.body = std::move(body);
  return a;
}

}  // namespace

bool address_is_public(const sockaddr* address) {
  if (address->sa_family == AF_INET)
    return v4_is_public(ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr));
  if (address->sa_family != AF_INET6) return false;
  const uint8_t* b = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr;
  auto v4_at = [b](int i) { return uint32_t(b[i]) << 24 | uint32_t(b[i + 1]) << 16 | uint32_t(b[i + 2]) << 8 | b[i + 3]; };
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, mapped, 12) == 0 || std::memcmp(b, nat64, 12) == 0) return v4_is_public(v4_at(12));
  if (b[0] == 0x20 && b[1] == 0x02) return v4_is_public(v4_at(2));  // 6to4
  bool zero_head = true;
  for (int i = 0; i < 15; ++i) zero_head = zero_head && b[i] == 0;
  if (zero_head) return false;                                  // :: and ::1 (and IPv4-compatible)
  if ((b[0] & 0xfe) == 0xfc) return false;                      // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;      // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;      // fec0::/10 site-local
  if (b[0] == 0xff) return false;                               // multicast
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;  // documentation
  if (b[0] == 0x01 && b[1] == 0x00 && !b[2] && !b[3] && !b[4] && !b[5] && !b[6] && !b[7]) return false;  // discard
  return true;
}

HttpUrl http_url_parse(const std::string& url) {
  const std::string l = http::ascii_lower(url.substr(0, 8));
  if (l.rfind("https://", 0) == 0)
    throw bad_request("https:// image URLs cannot be fetched by this build (no TLS); send the image as a data: URI", "messages");
  if (l.rfind("http://", 0) != 0) throw bad_request("not an http:// URL", "messages");
  const size_t start = 7, end = url.find_first_of("/?#", start);
  const std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (authority.find('@') != std::string::npos) throw bad_request("image URLs with user names or passwords are refused", "messages");
  HttpUrl u;
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) throw bad_request("malformed IPv6 host in the image URL", "messages");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw bad_request("malformed host in the image URL", "messages");
      port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw bad_request("the image URL has no host", "messages");
  for (char c : u.host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' && c != '_')
      throw bad_request("the image URL's host holds a character hosts do not have", "messages");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(port) < 1 || std::stoi(port) > 65535)
      throw bad_request("malformed port in the image URL", "messages");
    u.port = std::stoi(port);
  }
  std::string path = end == std::string::npos ? "/" : url.substr(end);
  if (const size_t hash = path.find('#'); hash != std::string::npos) path.resize(hash);
  if (path.empty() || path[0] != '/') path = "/" + path;
  for (char c : path)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      throw bad_request("the image URL's path holds a character that must be percent-encoded", "messages");
  u.path = path;
  return u;
}

std::string http_fetch(const std::string& url_in, const FetchPolicy& policy) {
  std::string url = url_in;
  for (int hop = 0;; ++hop) {
    const HttpUrl u = http_url_parse(url);
    if (Clock::now() >= policy.deadline) throw timed_out();
    // getaddrinfo cannot be given a deadline; the host name was checked above, and lookups
    // that hang are bounded by the resolver's own timeouts.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (::getaddrinfo(u.host.c_str(), std::to_string(u.port).c_str(), &hints, &found) != 0 || !found)
      throw ApiError(502, "upstream_error", "cannot fetch " + url.substr(0, 200) + ": its host name does not resolve", {}, "messages");
    std::vector<sockaddr_storage> addrs;
    std::vector<socklen_t> lens;
    bool refused = false;
    for (addrinfo* a = found; a; a = a->ai_next) {
      if (!policy.allow_private && !address_is_public(a->ai_addr)) refused = true;
      sockaddr_storage ss{};
      std::memcpy(&ss, a->ai_addr, std::min<size_t>(a->ai_addrlen, sizeof ss));
      addrs.push_back(ss);
      lens.push_back(a->ai_addrlen);
    }
    ::freeaddrinfo(found);
    if (refused)
      throw bad_request("the image URL's host " + u.host.substr(0, 100) +
                            " is on a loopback, private, link-local or reserved address; the server fetches only from "
                            "public addresses (start it with --allow-private-urls to include the local network)",
                        "messages");
    const Answer a = get_once(u, url, reinterpret_cast<const sockaddr*>(&addrs[0]), lens[0], policy);
    if (a.status == 200) return a.body;
    const bool redirect = a.status == 301 || a.status == 302 || a.status == 303 || a.status == 307 || a.status == 308;
    if (!redirect) throw ApiError(502, "upstream_error", "fetching " + url.substr(0, 200) + " answered HTTP " + std::to_string(a.status), {}, "messages");
    if (hop >= policy.max_redirects)
      throw ApiError(502, "upstream_error", "fetching " + url_in.substr(0, 200) + ": more than " + std::to_string(policy.max_redirects) + " redirects", {}, "messages");
    if (a.location.empty()) throw cannot_fetch(url);
    // The next hop: absolute, scheme-relative, absolute-path or relative to this one.
    const std::string loc = a.location, ll = http::ascii_lower(loc.substr(0, 8));
    if (ll.rfind("http://", 0) == 0 || ll.rfind("https://", 0) == 0) url = loc;
    else if (loc.rfind("//", 0) == 0) url = "http:" + loc;
    else {
      const bool v6 = u.host.find(':') != std::string::npos;
      const std::string origin = "http://" + (v6 ? "[" + u.host + "]" : u.host) + ":" + std::to_string(u.port);
      if (loc[0] == '/') url = origin + loc;
      else url = origin + u.path.substr(0, u.path.find_last_of('/') + 1) + loc;
    }
  }
}

}  // namespace glimpse::server
