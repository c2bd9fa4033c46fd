// Images a person sent, made fit for the model: the test images are made here with
// libvips itself, so that every case says exactly what it feeds in.
#define CAF_SUITE image_input
#include "caf/test/unit_test.hpp"

#include "agent/image_input.hpp"

#include <glib.h>
#include <vips/vips.h>

#include <cstdint>
#include <string>
#include <string_view>

using namespace hm::agent;

namespace {

/// One reference to an image, given back at the end of the scope.
struct image {
  VipsImage* p = nullptr;
  image() = default;
  image(const image&) = delete;
  image& operator=(const image&) = delete;
  ~image() {
    if (p != nullptr)
      g_object_unref(p);
  }
};

std::string take(void* data, std::size_t size) {
  std::string bytes(static_cast<const char*>(data), size);
  g_free(data);
  return bytes;
}

/// A width×height picture with something in it (x and y as red and green, so that a
/// turned or scaled image differs from the original), `bands` 3 (RGB) or 4 (RGBA),
/// saved by `saver`, with an EXIF orientation when `orientation` is not 0.
enum class saver { png, jpeg, tiff, webp };
std::string make_image(int width, int height, saver how, int bands = 3, int orientation = 0) {
  CAF_REQUIRE_EQUAL(prepare_image("").has_value(), false); // starts libvips for the test too
  image xy;
  image pixels;
  image tagged;
  CAF_REQUIRE_EQUAL(vips_xyz(&xy.p, width, height, nullptr), 0); // 2 bands: x, y
  image three;
  CAF_REQUIRE_EQUAL(vips_bandjoin_const1(xy.p, &three.p, 128.0, nullptr), 0);
  image four;
  CAF_REQUIRE_EQUAL(vips_bandjoin_const1(three.p, &four.p, 200.0, nullptr), 0); // alpha
  image chosen;
  CAF_REQUIRE_EQUAL(vips_extract_band(four.p, &chosen.p, 0, "n", bands, nullptr), 0);
  CAF_REQUIRE_EQUAL(vips_cast_uchar(chosen.p, &pixels.p, nullptr), 0);
  CAF_REQUIRE_EQUAL(vips_copy(pixels.p, &tagged.p, "interpretation", VIPS_INTERPRETATION_sRGB,
                              nullptr),
                    0);
  if (orientation != 0)
    vips_image_set_int(tagged.p, VIPS_META_ORIENTATION, orientation);
  void* data = nullptr;
  std::size_t size = 0;
  int rc = -1;
  switch (how) {
    case saver::png: rc = vips_pngsave_buffer(tagged.p, &data, &size, nullptr); break;
    case saver::jpeg: rc = vips_jpegsave_buffer(tagged.p, &data, &size, nullptr); break;
    case saver::tiff: rc = vips_tiffsave_buffer(tagged.p, &data, &size, nullptr); break;
    case saver::webp: rc = vips_webpsave_buffer(tagged.p, &data, &size, nullptr); break;
  }
  CAF_REQUIRE_EQUAL(rc, 0);
  return take(data, size);
}

/// The bytes inside a data URL of the given type.
std::string bytes_of(const std::string& url, std::string_view mimetype) {
  const std::string head = "data:" + std::string{mimetype} + ";base64,";
  if (!url.starts_with(head))
    return "not a " + head + " URL";
  gsize size = 0;
  guchar* data = g_base64_decode(url.c_str() + head.size(), &size);
  return take(data, size);
}

/// Loads bytes back, for checking what the model gets.
struct loaded {
  int width = 0;
  int height = 0;
  int bands = 0;
  bool has_orientation = false;
  bool has_exif = false;
};
loaded load(const std::string& bytes) {
  image img;
  img.p = vips_image_new_from_buffer(bytes.data(), bytes.size(), "", nullptr);
  CAF_REQUIRE(img.p != nullptr);
  return {vips_image_get_width(img.p), vips_image_get_height(img.p), vips_image_get_bands(img.p),
          vips_image_get_typeof(img.p, VIPS_META_ORIENTATION) != 0,
          vips_image_get_typeof(img.p, VIPS_META_EXIF_NAME) != 0};
}

/// What came out, as text: "as sent image/png 100x100", "converted image/jpeg 2048x512"
/// (with what the data URL's bytes really measure where that differs), or "refused: why".
std::string outcome(const image_preparation& r) {
  if (!r.has_value())
    return "refused: " + r.error().message;
  const auto& img = *r;
  auto size = [](int w, int h) { return std::to_string(w) + "x" + std::to_string(h); };
  std::string s = (img.unchanged ? "as sent " : "converted ") + img.mimetype + " "
                  + size(img.width, img.height);
  if (const auto real = load(bytes_of(img.data_url, img.mimetype));
      real.width != img.width || real.height != img.height)
    s += " but the bytes are " + size(real.width, real.height);
  return s;
}

std::uint32_t crc32(std::string_view bytes) {
  std::uint32_t crc = 0xffffffffU;
  for (const unsigned char b : bytes) {
    crc ^= b;
    for (int i = 0; i < 8; ++i)
      crc = (crc >> 1) ^ (0xedb88320U & (0U - (crc & 1U)));
  }
  return ~crc;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string png_chunk(std::string_view type, std::string_view data) {
  const std::string body = std::string{type} + std::string{data};
  return be32(static_cast<std::uint32_t>(data.size())) + body + be32(crc32(body));
}

} // namespace

CAF_TEST(a small upright PNG passes through byte for byte) {
  const auto png = make_image(100, 100, saver::png);
  const auto r = prepare_image(png);
  CAF_CHECK_EQUAL(outcome(r), "as sent image/png 100x100");
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(r.error().message, "");
  CAF_CHECK(bytes_of(r->data_url, "image/png") == png);
  gchar* expected = g_base64_encode(reinterpret_cast<const guchar*>(png.data()), png.size());
  CAF_CHECK_EQUAL(r->data_url, "data:image/png;base64," + std::string{expected});
  g_free(expected);
}

CAF_TEST(a small JPEG and a WebP pass through) {
  const auto jpeg = make_image(640, 480, saver::jpeg);
  const auto j = prepare_image(jpeg);
  CAF_CHECK_EQUAL(outcome(j), "as sent image/jpeg 640x480");
  CAF_REQUIRE(j.has_value());
  CAF_CHECK(bytes_of(j->data_url, "image/jpeg") == jpeg);
  const auto webp = make_image(64, 32, saver::webp);
  const auto w = prepare_image(webp);
  CAF_CHECK_EQUAL(outcome(w), "as sent image/webp 64x32");
  CAF_REQUIRE(w.has_value());
  CAF_CHECK(bytes_of(w->data_url, "image/webp") == webp);
}

CAF_TEST(a wide image is scaled to 2048 on the long side keeping aspect) {
  CAF_CHECK_EQUAL(outcome(prepare_image(make_image(4000, 1000, saver::jpeg))),
                  "converted image/jpeg 2048x512");
  // PNG without alpha becomes JPEG (smaller for a model), tall ones scale by height.
  CAF_CHECK_EQUAL(outcome(prepare_image(make_image(1000, 4096, saver::png))),
                  "converted image/jpeg 500x2048");
}

CAF_TEST(EXIF orientation 6 is applied and stripped) {
  const auto jpeg = make_image(200, 100, saver::jpeg, 3, 6);
  CAF_REQUIRE(load(jpeg).has_orientation); // the tag really is in the file
  const auto r = prepare_image(jpeg);
  CAF_CHECK_EQUAL(outcome(r), "converted image/jpeg 100x200"); // turned a quarter: upright
  CAF_REQUIRE(r.has_value());
  const auto out = load(bytes_of(r->data_url, "image/jpeg"));
  CAF_CHECK(!out.has_orientation); // a viewer must not turn it again
  CAF_CHECK(!out.has_exif);
}

CAF_TEST(alpha stays PNG and max_side is honoured) {
  const auto r = prepare_image(make_image(300, 150, saver::png, 4), 100);
  CAF_CHECK_EQUAL(outcome(r), "converted image/png 100x50");
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(load(bytes_of(r->data_url, "image/png")).bands, 4);
}

CAF_TEST(TIFF is converted never enlarged) {
  CAF_CHECK_EQUAL(outcome(prepare_image(make_image(50, 40, saver::tiff))),
                  "converted image/jpeg 50x40");
}

CAF_TEST(bytes that are no image are refused) {
  const auto r = prepare_image("this is a PDF, honest: \x01\x02\xff\xfe garbage garbage");
  CAF_CHECK(!r.has_value());
  CAF_CHECK_EQUAL(r.error().message,
                  "this is not an image I can read (send PNG, JPEG, GIF, WebP, TIFF or HEIF)");
  const auto empty = prepare_image(""); // kept: CAF_CHECK_EQUAL binds references
  CAF_CHECK_EQUAL(empty.error().message, "the image is empty");
}

CAF_TEST(formats libvips does not trust are refused) {
  const auto r = prepare_image(R"(<svg xmlns="http://www.w3.org/2000/svg" width="10" )"
                               R"(height="10"><rect width="10" height="10"/></svg>)");
  CAF_CHECK(!r.has_value());
  CAF_CHECK_EQUAL(r.error().message, "images of this kind (svg) are not taken; send PNG, JPEG, GIF or WebP");
}

CAF_TEST(a header claiming 50000 by 50000 is refused without decoding) {
  // A PNG of a few dozen bytes whose header claims 2.5 gigapixels; its pixel data is
  // missing altogether, so any decoding would fail with another message.
  std::string ihdr = be32(50'000) + be32(50'000) + std::string{"\x08\x02\x00\x00\x00", 5};
  const std::string bomb = std::string{"\x89PNG\r\n\x1a\n", 8} + png_chunk("IHDR", ihdr)
                           + png_chunk("IDAT", std::string{"\x78\x9c\x03\x00\x00\x00\x00\x01", 8})
                           + png_chunk("IEND", "");
  const auto r = prepare_image(bomb);
  CAF_CHECK(!r.has_value());
  CAF_CHECK_EQUAL(r.error().message,
                  "the image is too large to read (50000×50000 pixels; at most 100 megapixels)");
}

CAF_TEST(a damaged image is refused with a readable reason) {
  const auto png = make_image(100, 100, saver::png);
  const auto r = prepare_image(std::string_view{png}.substr(0, png.size() / 2));
  CAF_CHECK(!r.has_value());
  CAF_CHECK(r.error().message.starts_with("the image could not be read (it may be damaged): "));
  for (const char c : r.error().message) // printable, one line
    CAF_CHECK(static_cast<unsigned char>(c) >= 0x20);
  const auto jpeg = make_image(3000, 100, saver::jpeg); // the converting path
  const auto j = prepare_image(std::string_view{jpeg}.substr(0, jpeg.size() / 2));
  CAF_CHECK(!j.has_value());
  CAF_CHECK(j.error().message.starts_with("the image could not be read (it may be damaged): "));
  // Nothing is left in libvips' error buffer for the next caller.
  CAF_CHECK_EQUAL(std::string{vips_error_buffer()}, "");
}

CAF_TEST(dimensions as clients show them) {
  const auto wide = make_image(300, 100, saver::png);
  CAF_CHECK(image_dimensions(wide) == (std::pair{300, 100}));
  // Orientation 6 turns the picture by 90 degrees: clients show it 100 wide.
  const auto turned = make_image(300, 100, saver::jpeg, 3, 6);
  CAF_CHECK(image_dimensions(turned) == (std::pair{100, 300}));
  CAF_CHECK(!image_dimensions("not an image").has_value());
  CAF_CHECK(!image_dimensions("").has_value());
}

CAF_TEST(a thumbnail is a JPEG within 800 by 600 and only for larger images) {
  const auto big = make_image(1600, 1000, saver::png, 4); // with alpha: flattened
  const auto t = make_thumbnail(big);
  CAF_REQUIRE(t.has_value());
  CAF_CHECK_EQUAL(t->mimetype, "image/jpeg");
  CAF_CHECK_EQUAL(t->width, 800);
  CAF_CHECK_EQUAL(t->height, 500);
  const auto back = load(t->bytes);
  CAF_CHECK_EQUAL(back.width, 800);
  CAF_CHECK_EQUAL(back.bands, 3);
  CAF_CHECK(!back.has_exif);
  CAF_CHECK(!make_thumbnail(make_image(640, 480, saver::png)).has_value());
  CAF_CHECK(!make_thumbnail("garbage").has_value());
  CAF_CHECK_EQUAL(std::string{vips_error_buffer()}, "");
}
