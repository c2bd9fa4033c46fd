#pragma once

// An image a person sent, made fit for the model (issue 15, "In"): bytes in, a data URL
// out, or a reason the person can act on. Sans-I/O in the design's sense: no socket, no
// file; libvips decodes in memory. CPU-bound (a large photo takes tens of milliseconds
// or more): call it where blocking is allowed, never on a scheduler thread.

#include "errors/error.hpp"

#include <optional>
#include <utility>
#include <string>
#include <string_view>

namespace hm::agent {

/// The formats models take as they are, and what a conversion produces.
struct prepared_image {
  std::string data_url; ///< `data:<mimetype>;base64,<bytes>`
  std::string mimetype; ///< image/png, image/jpeg, image/gif or image/webp
  int width = 0;        ///< of the image the model gets (upright)
  int height = 0;
  bool unchanged = false; ///< the data URL holds the bytes as sent
};

/// What prepare_image made of the bytes: the image, or why not in one line for the
/// person who sent it, e.g. "the image is too large to read (30000×20000 pixels, ...)"
/// (invalid_input: not an image, damaged, too large; unsupported: a kind not taken, or
/// libvips did not start).
using image_preparation = hm::expected<prepared_image>;

/// Images larger than this many pixels (by their header) are refused before anything
/// is decoded: a small file can claim a huge canvas (a decompression bomb).
inline constexpr long long max_image_pixels = 100'000'000;

/// Prepares an image for the model:
/// - PNG, JPEG, GIF or WebP within `max_side` on both sides and upright (no EXIF
///   orientation, or 1) pass through with the same bytes, once they decode cleanly;
/// - anything else libvips reads (those, TIFF, HEIF where libvips has it) is decoded,
///   turned upright by its EXIF orientation, scaled so that its long side is at most
///   `max_side` (never up; aspect kept) and encoded again, metadata stripped: JPEG
///   (quality 85) without alpha, PNG with alpha;
/// - formats libvips itself marks untrusted (SVG, PDF, ImageMagick's, ...) are refused,
///   as are bytes that are no image, damaged images and decompression bombs.
/// Thread-safe; libvips is initialised on the first call (one worker thread, no
/// operation cache: a long-running service must not grow).
[[nodiscard]] image_preparation prepare_image(std::string_view bytes, int max_side = 2048);

// -- images the agent sends ----------------------------------------------------------

/// The width and height of an image as clients show it (EXIF orientation applied), from
/// its header; nullopt when it is no image libvips trusts or is larger than
/// max_image_pixels.
[[nodiscard]] std::optional<std::pair<int, int>> image_dimensions(std::string_view bytes);

/// A preview for the room (the `thumbnail_*` of an m.image).
struct thumbnail {
  std::string bytes; ///< JPEG
  std::string mimetype = "image/jpeg";
  int width = 0;
  int height = 0;
};

/// A JPEG of at most `max_width`×`max_height` (aspect kept, upright, alpha flattened on
/// white), as Element makes them; nullopt when the image fits that box already (clients
/// show it as it is) or cannot be read (the file then goes without a preview).
[[nodiscard]] std::optional<thumbnail> make_thumbnail(std::string_view bytes,
                                                      int max_width = 800,
                                                      int max_height = 600);

} // namespace hm::agent
