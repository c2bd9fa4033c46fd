#pragma once

// A file the agent asked to send (`MEDIA:<path>` in its reply), read only when the
// profile may send it. The path is the agent's words, and anyone who can talk to the
// agent can steer those: it is resolved to where it really leads (`..` and symbolic
// links followed), must then lie inside HERMES_HOME or a folder the profile names, must
// be a regular file (a FIFO or a device is never opened for reading, so nothing
// blocks), must not be one of the profile's secrets, and is read with a bound. The file
// opened is checked to be the one that was resolved, so swapping it in between does not
// help.

#include "errors/error.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hm::store {

struct outgoing_file {
  std::string bytes;
  std::string filename; ///< the last part of the path the agent named
  std::string mimetype; ///< from the bytes (libmagic), a known extension breaking ties
};

/// Reads `requested` (`~/` is HERMES_HOME) when it resolves into `hermes_home` or one
/// of `extra_roots` and holds at most `max_bytes`. Otherwise a refused error: a
/// sentence for the room and the log that names the path, never holds what the file
/// contains.
[[nodiscard]] hm::expected<outgoing_file>
read_outgoing_file(const std::filesystem::path& requested,
                   const std::filesystem::path& hermes_home,
                   const std::vector<std::filesystem::path>& extra_roots,
                   std::uint64_t max_bytes);

/// The media type of `bytes` as libmagic sees it; where it only says
/// application/octet-stream or text/plain, the type of a known extension of `filename`
/// (.md text/markdown, .csv text/csv, .ogg/.opus audio/ogg, …).
[[nodiscard]] std::string sniff_mimetype(std::string_view bytes, std::string_view filename);

} // namespace hm::store
