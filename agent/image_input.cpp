#include "agent/image_input.hpp"

#include <glib.h>
#include <vips/vips.h>

#include <algorithm>
#include <array>
#include <mutex>

namespace hm::agent {

namespace {

/// One reference to a libvips object, given back when it goes out of scope.
class vips_ref {
public:
  vips_ref() = default;
  vips_ref(const vips_ref&) = delete;
  vips_ref& operator=(const vips_ref&) = delete;
  ~vips_ref() {
    if (image_ != nullptr)
      g_object_unref(image_);
  }
  /// For libvips' out-parameters; whatever was held is given back first.
  VipsImage** out() {
    if (image_ != nullptr)
      g_object_unref(image_);
    image_ = nullptr;
    return &image_;
  }
  [[nodiscard]] VipsImage* get() const { return image_; }

private:
  VipsImage* image_ = nullptr;
};

/// A buffer libvips allocated with g_malloc.
struct glib_buffer {
  void* data = nullptr;
  std::size_t size = 0;
  glib_buffer() = default;
  glib_buffer(const glib_buffer&) = delete;
  glib_buffer& operator=(const glib_buffer&) = delete;
  ~glib_buffer() { g_free(data); }
};

/// libvips' error buffer, taken and cleared: its first line, printable ASCII only and
/// short (a loader may quote bytes of the file; nothing binary reaches a room).
std::string take_vips_error() {
  char* raw = vips_error_buffer_copy(); // copies and clears, under libvips' lock
  std::string line;
  for (const char* p = raw; p != nullptr && *p != '\0' && *p != '\n' && line.size() < 160; ++p)
    if (*p >= 0x20 && *p < 0x7f)
      line.push_back(*p);
  g_free(raw);
  while (!line.empty() && (line.back() == ' ' || line.back() == '.'))
    line.pop_back();
  return line.empty() ? "no reason given" : line;
}

struct vips_start {
  bool ok = false;
  std::string error;
};

/// libvips once per process. One worker thread per operation and no operation cache:
/// the service converts an image now and then, and must not keep what it converted.
const vips_start& start_vips() {
  static std::once_flag once;
  static vips_start state;
  std::call_once(once, [] {
    if (VIPS_INIT("hermes-matrix") != 0) {
      state.error = take_vips_error();
      return;
    }
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    state.ok = true;
  });
  return state;
}

struct format {
  std::string_view mimetype;
  std::string_view magic;
  std::size_t at = 0; // where the magic stands
};

/// What models take as they are, told by the first bytes.
std::string_view model_format(std::string_view bytes) {
  static constexpr std::array<format, 5> formats{{{"image/png", "\x89PNG\r\n\x1a\n", 0},
                                                   {"image/jpeg", "\xff\xd8\xff", 0},
                                                   {"image/gif", "GIF87a", 0},
                                                   {"image/gif", "GIF89a", 0},
                                                   {"image/webp", "WEBP", 8}}};
  for (const auto& f : formats)
    if (bytes.size() >= f.at + f.magic.size() && bytes.substr(f.at, f.magic.size()) == f.magic
        && (f.at == 0 || bytes.starts_with("RIFF")))
      return f.mimetype;
  return {};
}

std::string data_url(std::string_view mimetype, const void* data, std::size_t size) {
  gchar* encoded = g_base64_encode(static_cast<const guchar*>(data), size);
  std::string url = "data:";
  url += mimetype;
  url += ";base64,";
  url += encoded;
  g_free(encoded);
  return url;
}

/// The loader libvips would use, when it is one libvips trusts with hostile input
/// (its own UNTRUSTED flag: SVG, PDF, ImageMagick's, JPEG 2000, ... are not). "" with
/// `error` set otherwise.
std::string trusted_loader(std::string_view bytes, std::string& error) {
  const char* name = vips_foreign_find_load_buffer(bytes.data(), bytes.size());
  if (name == nullptr) {
    vips_error_clear();
    error = "this is not an image I can read (send PNG, JPEG, GIF, WebP, TIFF or HEIF)";
    return {};
  }
  const GType type = g_type_from_name(name);
  auto* cls = static_cast<VipsOperationClass*>(g_type_class_ref(type));
  const bool untrusted = (cls->flags & VIPS_OPERATION_UNTRUSTED) != 0;
  std::string kind = cls->parent_class.nickname;
  g_type_class_unref(cls);
  if (untrusted) {
    kind = kind.substr(0, kind.find("load"));
    error = "images of this kind (" + kind + ") are not taken; send PNG, JPEG, GIF or WebP";
    return {};
  }
  return name;
}

int orientation_of(VipsImage* image) {
  if (vips_image_get_typeof(image, VIPS_META_ORIENTATION) == 0)
    return 1;
  int o = 1;
  if (vips_image_get_int(image, VIPS_META_ORIENTATION, &o) != 0) {
    vips_error_clear();
    return 1;
  }
  return o >= 1 && o <= 8 ? o : 1; // out of range: libvips' autorot ignores it too
}

std::string damaged(const char* what) {
  return std::string{"the image could not be "} + what + " (it may be damaged): "
         + take_vips_error();
}

/// Decoded, upright, at most `max_side` on the long side, encoded as JPEG or PNG.
image_preparation convert(std::string_view bytes, int max_side) {
  vips_ref thumb;
  // Shrink-on-load where the format allows it, EXIF orientation applied (vips_autorot),
  // never enlarged (size=down). The bytes decoded cleanly once already (prepare_image).
  if (vips_thumbnail_buffer(const_cast<char*>(bytes.data()), bytes.size(), thumb.out(),
                            max_side, "height", max_side, "size", VIPS_SIZE_DOWN, "fail_on",
                            VIPS_FAIL_ON_ERROR, nullptr)
      != 0)
    return fail(error_code::invalid_input, damaged("read"));

  // Eight-bit sRGB (or grey): what JPEG and PNG carry and every model reads; CMYK,
  // 16-bit and Lab come out as ordinary colours.
  const auto space = vips_image_get_interpretation(thumb.get());
  const bool grey = space == VIPS_INTERPRETATION_B_W || space == VIPS_INTERPRETATION_GREY16;
  vips_ref rgb;
  if (vips_colourspace(thumb.get(), rgb.out(),
                       grey ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB, nullptr)
      != 0)
    return fail(error_code::invalid_input, damaged("converted"));

  glib_buffer out;
  const bool alpha = vips_image_hasalpha(rgb.get()) != 0;
  const int saved =
    alpha ? vips_pngsave_buffer(rgb.get(), &out.data, &out.size, "strip", TRUE, nullptr)
          : vips_jpegsave_buffer(rgb.get(), &out.data, &out.size, "Q", 85, "strip", TRUE,
                                 "optimize_coding", TRUE, nullptr);
  if (saved != 0)
    return fail(error_code::invalid_input, damaged("encoded"));

  const std::string_view mimetype = alpha ? "image/png" : "image/jpeg";
  return prepared_image{data_url(mimetype, out.data, out.size), std::string{mimetype},
                        vips_image_get_width(rgb.get()), vips_image_get_height(rgb.get()),
                        false};
}

/// The header of a trusted image within max_image_pixels; an empty ref otherwise.
void open_header(std::string_view bytes, vips_ref& header) {
  std::string error;
  if (bytes.empty() || !start_vips().ok || trusted_loader(bytes, error).empty())
    return;
  *header.out() = vips_image_new_from_buffer(bytes.data(), bytes.size(), "", "access",
                                             VIPS_ACCESS_SEQUENTIAL, nullptr);
  if (header.get() == nullptr) {
    vips_error_clear();
    return;
  }
  if (static_cast<long long>(vips_image_get_width(header.get()))
        * vips_image_get_height(header.get())
      > max_image_pixels)
    *header.out() = nullptr;
}

} // namespace

std::optional<std::pair<int, int>> image_dimensions(std::string_view bytes) {
  vips_ref header;
  open_header(bytes, header);
  if (header.get() == nullptr)
    return std::nullopt;
  int w = vips_image_get_width(header.get());
  int h = vips_image_get_height(header.get());
  if (orientation_of(header.get()) >= 5) // 5..8 turn the picture by 90°
    std::swap(w, h);
  return std::pair{w, h};
}

std::optional<thumbnail> make_thumbnail(std::string_view bytes, int max_width, int max_height) {
  auto size = image_dimensions(bytes);
  if (!size || (size->first <= max_width && size->second <= max_height))
    return std::nullopt;
  vips_ref small;
  if (vips_thumbnail_buffer(const_cast<char*>(bytes.data()), bytes.size(), small.out(),
                            max_width, "height", max_height, "size", VIPS_SIZE_DOWN, nullptr)
      != 0) {
    vips_error_clear();
    return std::nullopt;
  }
  vips_ref rgb;
  if (vips_colourspace(small.get(), rgb.out(), VIPS_INTERPRETATION_sRGB, nullptr) != 0) {
    vips_error_clear();
    return std::nullopt;
  }
  vips_ref flat;
  VipsImage* opaque = rgb.get();
  if (vips_image_hasalpha(rgb.get()) != 0) {
    VipsArrayDouble* white = vips_array_double_newv(3, 255.0, 255.0, 255.0);
    int failed = vips_flatten(rgb.get(), flat.out(), "background", white, nullptr);
    vips_area_unref(VIPS_AREA(white));
    if (failed != 0) {
      vips_error_clear();
      return std::nullopt;
    }
    opaque = flat.get();
  }
  glib_buffer out;
  if (vips_jpegsave_buffer(opaque, &out.data, &out.size, "Q", 80, "strip", TRUE, nullptr) != 0) {
    vips_error_clear();
    return std::nullopt;
  }
  thumbnail t;
  t.bytes.assign(static_cast<const char*>(out.data), out.size);
  t.width = vips_image_get_width(opaque);
  t.height = vips_image_get_height(opaque);
  return t;
}

image_preparation prepare_image(std::string_view bytes, int max_side) {
  max_side = std::max(max_side, 1);
  if (bytes.empty())
    return fail(error_code::invalid_input, "the image is empty");
  if (const auto& vips = start_vips(); !vips.ok)
    return fail(error_code::unsupported,
                "images cannot be read here: libvips did not start (" + vips.error + ")");

  std::string error;
  if (trusted_loader(bytes, error).empty())
    return fail(error_code::invalid_input, error);

  // The header only: libvips reads pixels when they are asked for. Sequential, so that
  // the check below streams instead of holding the whole image.
  vips_ref header;
  *header.out() = vips_image_new_from_buffer(bytes.data(), bytes.size(), "", "access",
                                             VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                             VIPS_FAIL_ON_ERROR, nullptr);
  if (header.get() == nullptr)
    return fail(error_code::invalid_input, damaged("read"));
  const int width = vips_image_get_width(header.get());
  const int height = vips_image_get_height(header.get());
  if (static_cast<long long>(width) * height > max_image_pixels)
    return fail(error_code::invalid_input,
                "the image is too large to read (" + std::to_string(width) + "×"
                  + std::to_string(height) + " pixels; at most "
                  + std::to_string(max_image_pixels / 1'000'000) + " megapixels)");

  // Every pixel once, streamed, before anything is sent or converted: a damaged file
  // is refused here with a reason (rather than by the model with none), and
  // vips_thumbnail does not honour fail_on where it shrinks JPEG on load (8.14 turns a
  // truncated JPEG into grey rows there).
  double mean = 0;
  if (vips_avg(header.get(), &mean, nullptr) != 0)
    return fail(error_code::invalid_input, damaged("read"));
  vips_error_clear(); // warnings of a file that decoded: not the next caller's

  const auto mimetype = model_format(bytes);
  if (!mimetype.empty() && width <= max_side && height <= max_side
      && orientation_of(header.get()) == 1)
    return prepared_image{data_url(mimetype, bytes.data(), bytes.size()), std::string{mimetype},
                          width, height, true};
  auto converted = convert(bytes, max_side);
  vips_error_clear();
  return converted;
}

} // namespace hm::agent
