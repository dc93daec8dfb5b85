#include "media.hpp"

#include "api.hpp"
#include "fetch.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>

namespace glimpse::server {

namespace fs = std::filesystem;

bool base64_decode(const std::string& in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  size_t end = in.size();
  while (end > 0 && in[end - 1] == '=' && in.size() - end < 2) --end;
  if (end % 4 == 1) return false;
  out.clear();
  out.reserve(end / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < end; ++i) {
    const int v = value(in[i]);
    if (v < 0) return false;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  return true;
}

namespace {

ApiError too_large(size_t max_bytes) {
  return ApiError(413, "invalid_request_error",
                  "the image is larger than the server's limit of " + std::to_string(max_bytes) + " bytes", {},
                  "messages");
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !std::isxdigit(uint8_t(s[i + 1])) || !std::isxdigit(uint8_t(s[i + 2])))
        throw bad_request("malformed percent-escape in a file:// URL", "messages");
      out.push_back(char(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  if (out.find('\0') != std::string::npos) throw bad_request("a file:// URL may not contain NUL", "messages");
  return out;
}

ImageSource from_data_uri(const std::string& url, const MediaPolicy& policy) {
  // data:[<mediatype>][;base64],<data>
  const size_t comma = url.find(',');
  if (comma == std::string::npos) throw bad_request("a data: URI needs a ',' before its data", "messages");
  const std::string meta = url.substr(5, comma - 5);
  if (meta.size() < 7 || meta.compare(meta.size() - 7, 7, ";base64") != 0)
    throw bad_request("data: URIs must be base64 (data:image/png;base64,...)", "messages");
  if ((url.size() - comma - 1) / 4 * 3 > policy.max_bytes + 3) throw too_large(policy.max_bytes);
  ImageSource src;
  if (!base64_decode(url.substr(comma + 1), src.bytes)) throw bad_request("the data: URI is not valid base64", "messages");
  if (src.bytes.empty()) throw bad_request("the data: URI holds no bytes", "messages");
  if (src.bytes.size() > policy.max_bytes) throw too_large(policy.max_bytes);
  return src;
}

ImageSource from_file_url(const std::string& url, const MediaPolicy& policy) {
  if (policy.media_root.empty())
    throw bad_request("file:// URLs are disabled; start glimpse-server with --media-path DIR to allow files under DIR",
                      "messages");
  std::string rest = url.substr(7);
  if (rest.rfind("localhost/", 0) == 0) rest = rest.substr(9);  // file://localhost/path
  if (rest.empty() || rest[0] != '/') throw bad_request("a file:// URL needs an absolute path (file:///...)", "messages");
  // Under the root as written ('..' folded), so nothing outside it is even looked up, and again
  // once symlinks are resolved.
  auto inside = [&](const std::string& p) {
    return p.size() > policy.media_root.size() && p.compare(0, policy.media_root.size(), policy.media_root) == 0 &&
           p[policy.media_root.size()] == '/';
  };
  const auto outside = [&] { return ApiError(403, "permission_error", url + " is outside the --media-path directory", {}, "messages"); };
  const fs::path written = fs::path(percent_decode(rest)).lexically_normal();
  if (!inside(written.string())) throw outside();
  std::error_code ec;
  const fs::path path = fs::canonical(written, ec);
  if (ec) throw bad_request("cannot open " + url + ": " + ec.message(), "messages");
  const std::string p = path.string();
  if (!inside(p)) throw outside();
  if (!fs::is_regular_file(path, ec)) throw bad_request(url + " is not a regular file", "messages");
  const auto size = fs::file_size(path, ec);
  if (ec) throw bad_request("cannot read " + url + ": " + ec.message(), "messages");
  if (size > policy.max_bytes) throw too_large(policy.max_bytes);
  return {p, {}};
}

ImageSource from_remote(const std::string& url, const MediaPolicy& policy) {
  if (!policy.allow_remote)
    throw bad_request("remote image URLs are disabled; send the image as a data: URI, or start glimpse-server with "
                      "--allow-remote-urls",
                      "messages");
  FetchPolicy fetch;
  fetch.max_bytes = policy.max_bytes;
  fetch.allow_private = policy.allow_private;
  const auto own = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(policy.remote_timeout_s));
  fetch.deadline = std::min(own, policy.deadline);
  ImageSource src;
  src.bytes = http_fetch(url, fetch);
  if (src.bytes.empty()) throw bad_request("the image URL answered with no bytes", "messages");
  return src;
}

}  // namespace

ImageSource image_source_resolve(const std::string& url, const MediaPolicy& policy) {
  if (url.rfind("data:", 0) == 0) return from_data_uri(url, policy);
  if (url.rfind("file://", 0) == 0) return from_file_url(url, policy);
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return from_remote(url, policy);
  throw bad_request("unsupported image URL (data:, file:// and http(s):// are): " + url.substr(0, 64), "messages");
}

}  // namespace glimpse::server
