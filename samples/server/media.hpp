// Where a request's image comes from: a data: URI (base64), a file:// URL inside the directory
// given by --media-path, or, only with --allow-remote-urls, an http(s):// URL fetched here.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace glimpse::server {

struct MediaPolicy {
  std::string media_root;       // canonical --media-path; "" refuses file:// URLs
  bool allow_remote = false;    // --allow-remote-urls
  bool allow_private = false;   // --allow-private-urls: remote URLs on the local network too
  size_t max_bytes = 0;         // the largest image accepted from any source
  // A remote fetch ends by the earlier of this (the request's deadline) and remote_timeout_s.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  double remote_timeout_s = 10;
};

struct ImageSource {
  std::string path;   // a file to read (file://), or
  std::string bytes;  // encoded image bytes (data:, http(s)://)
};

// Throws ApiError: 400 for a malformed or refused URL, 403 for a path outside the media root,
// 413 for an image over max_bytes, 502 when a remote fetch fails, 504 past the deadline
// (fetch.hpp says how remote URLs are checked).
ImageSource image_source_resolve(const std::string& url, const MediaPolicy& policy);

// Standard base64 (RFC 4648), padding optional; false on any other character.
bool base64_decode(const std::string& in, std::string& out);

}  // namespace glimpse::server
