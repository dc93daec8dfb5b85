// Fetching a remote image URL for glimpse-server (--allow-remote-urls), so that the server cannot
// be turned against the network it sits in:
// - only http:// (this build has no TLS);
// - every address the host resolves to must be public: loopback, private, shared, link-local,
//   multicast, documentation and reserved ranges are refused (IPv4-mapped and NAT64 IPv6 forms
//   by the IPv4 address inside), unless the operator allows the local network;
// - the connection goes to the address that was checked (no second lookup to rebind);
// - redirects are followed by hand, each target checked the same way, at most 5;
// - one deadline covers the lookup, connecting, the redirects and every byte, and the body is
//   capped as it arrives;
// - every network failure reads the same ("cannot fetch ..."), so replies do not tell an open
//   port from a closed one.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <string>

namespace glimpse::server {

struct FetchPolicy {
  size_t max_bytes = 0;
  std::chrono::steady_clock::time_point deadline;
  bool allow_private = false;  // --allow-private-urls: the local network too
  int max_redirects = 5;
};

struct HttpUrl {
  std::string host;  // without brackets for IPv6
  int port = 80;
  std::string path;  // with the query; "/" at least
};

// Parses an http:// URL; throws ApiError (400) naming what is wrong (https: not in this build).
HttpUrl http_url_parse(const std::string& url);

// Whether an address may be fetched without --allow-private-urls.
bool address_is_public(const sockaddr* address);

// The body of a 200 answer to GET url, following redirects. Throws ApiError: 400 for a refused
// URL or address, 413 past max_bytes, 502 when the fetch fails, 504 past the deadline.
std::string http_fetch(const std::string& url, const FetchPolicy& policy);

}  // namespace glimpse::server
