#pragma once

// Media on Matrix, sans-I/O: mxc:// URIs, the download and upload requests of the content
// repository (authenticated media of Matrix 1.11 and the older /_matrix/media/v3), the
// content of incoming m.image / m.audio / m.video / m.file / m.sticker events, and the
// content of the media messages the bot sends. Everything here is hostile input until
// parsed: an mxc URI ends up in a URL path, a media event's fields in file names and in
// what the agent is told, so parsing checks types and grammar and never throws.
//
// The metadata of an encrypted attachment (`encrypted_file`, the spec's EncryptedFile)
// lives here, not in matrix/crypto/, so that hm_matrix keeps building without libolm; the
// AES and SHA-256 work on the bytes is matrix/crypto/attachment.hpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "matrix/errors.hpp"
#include "matrix/request.hpp"

namespace hm::matrix {

/// Local errcodes ("HM_", see errors.hpp) for media content we cannot use.
inline constexpr std::string_view errcode_bad_media_content = "HM_BAD_MEDIA_CONTENT";
inline constexpr std::string_view errcode_bad_encrypted_file = "HM_BAD_ENCRYPTED_FILE";

// ---- mxc URIs -------------------------------------------------------------------------

/// mxc://<server_name>/<media_id> (spec "Matrix Content (mxc) URIs").
struct mxc_uri {
  std::string server_name;
  std::string media_id;

  friend bool operator==(const mxc_uri&, const mxc_uri&) = default;
};

/// The URI, or nullopt unless `text` is exactly "mxc://" + a server name of the spec's
/// grammar (DNS name or IPv4 of at most 255 characters, or "[" IPv6 "]"; then optionally
/// ":" and 1 to 5 digits) + "/" + a media id of [A-Za-z0-9_-]+ (at most 255 characters).
[[nodiscard]] std::optional<mxc_uri> parse_mxc(std::string_view text);

/// "mxc://server/id".
[[nodiscard]] std::string to_string(const mxc_uri& uri);

// ---- encrypted attachments ------------------------------------------------------------

/// An EncryptedFile (spec "Sending encrypted attachments"), with its base64 decoded.
struct encrypted_file {
  mxc_uri url;
  std::string key;    ///< 32 raw bytes of the AES-256 key. A secret: never log or print it.
  std::string iv;     ///< 16 raw bytes, the initial counter block
  std::string sha256; ///< 32 raw bytes, SHA-256 of the ciphertext
};

/// Reads an EncryptedFile: `v` "v2"; `url` an mxc URI; `key` a JWK with kty "oct", alg
/// "A256CTR", ext true, key_ops containing "encrypt" and "decrypt", and `k` 32 bytes of
/// unpadded URL-safe base64; `iv` 16 bytes and `hashes.sha256` 32 bytes of unpadded
/// base64. Anything else is HM_BAD_ENCRYPTED_FILE naming the field (never its value).
[[nodiscard]] result<encrypted_file> parse_encrypted_file(const nlohmann::json& j);

/// The EncryptedFile JSON the spec describes (key_ops ["encrypt", "decrypt"], unpadded
/// base64), as Element and matrix-nio write it.
[[nodiscard]] nlohmann::json to_json(const encrypted_file& f);

// ---- download and upload --------------------------------------------------------------

/// Which content repository API to download through.
enum class media_api {
  authenticated, ///< GET /_matrix/client/v1/media/download/... (Matrix 1.11)
  legacy,        ///< GET /_matrix/media/v3/download/... (homeservers without 1.11)
};

/// Media can be large and remote: the transport gets this long for one transfer.
inline constexpr std::chrono::milliseconds media_timeout{120'000};

/// The download of `uri`, answered with the file's bytes. Both APIs send the access
/// token (the legacy one ignores it; on our own homeserver it does no harm). No
/// `allow_redirect`: the authenticated endpoint may redirect anyway (307/308, the spec
/// allows it), the legacy one then serves the bytes itself, which is what a transport
/// that does not follow redirects needs. `max_bytes` (0: the engine's default) becomes the
/// request's max_response_bytes, so a larger answer fails instead of being buffered.
[[nodiscard]] http_request download_request(const mxc_uri& uri, media_api api,
                                            std::uint64_t max_bytes);

/// Whether an answer of the authenticated download endpoint means that the homeserver
/// does not have that endpoint (so the legacy one is to be tried), rather than an answer
/// about the media: 404 or 405 with M_UNRECOGNIZED (the spec's answer for an unknown
/// endpoint), or 404 without a Matrix error body (an old server's or a proxy's page).
/// A 404 M_NOT_FOUND is about the media: the legacy API would not find it either.
[[nodiscard]] bool media_api_missing(const http_response& r);

/// Whether a GET /_matrix/client/versions body says the server has authenticated media:
/// a version of v1.11 or later, or the unstable feature "org.matrix.msc3916.stable"
/// (what matrix-rust-sdk checks before choosing the API).
[[nodiscard]] bool supports_authenticated_media(const nlohmann::json& versions_body);

/// POST /_matrix/media/v3/upload?filename=... with `bytes` as the raw body. An empty or
/// unsafe `content_type` (control characters) is sent as application/octet-stream; an
/// empty `filename` leaves the query out.
[[nodiscard]] http_request upload_request(std::string bytes, std::string_view content_type,
                                          std::string_view filename);

/// The `content_uri` of an upload's answer, or the error (HM_BAD_RESPONSE when the
/// answer is 2xx but has no valid mxc URI).
[[nodiscard]] result<mxc_uri> parse_upload_response(const http_response& r);

// ---- incoming media events ------------------------------------------------------------

/// A thumbnail of an incoming image or video: `url` (plain room) or `file` (encrypted).
struct media_thumbnail {
  std::optional<mxc_uri> url;
  std::optional<encrypted_file> file;
  std::string mimetype; ///< "" unknown
  std::uint64_t size = 0;
  int width = 0;
  int height = 0;
};

/// What an incoming media event offers. Sizes, dimensions and the mimetype are the
/// sender's claims (0 or "" when not given); the bytes are the truth.
struct media_message {
  std::string msgtype;  ///< m.image, m.audio, m.video, m.file, or "m.sticker"
  std::string filename; ///< the file's name as the sender gave it (may be "")
  std::string caption;  ///< "" when the body is the file name
  std::string mimetype;
  std::uint64_t size = 0;
  int width = 0;
  int height = 0;
  std::uint64_t duration_ms = 0;
  std::optional<mxc_uri> url;         ///< plain room
  std::optional<encrypted_file> file; ///< encrypted room; wins over `url` when both came
  bool is_voice = false;              ///< "org.matrix.msc3245.voice" present (MSC3245)
  std::optional<media_thumbnail> thumbnail;
};

/// Reads the content of an `m.room.message` with msgtype m.image, m.audio, m.video or
/// m.file, or of an `m.sticker` event. Captions follow Matrix 1.10 ("Media captions"):
/// when `filename` is present and differs from `body`, `body` is the caption; otherwise
/// `body` is the file name. The duration comes from info.duration, else from
/// MSC1767's "org.matrix.msc1767.audio".duration. Errors (HM_BAD_MEDIA_CONTENT or
/// HM_BAD_ENCRYPTED_FILE) name what is wrong: another event type or msgtype, a field of
/// the wrong type, a negative size, neither `url` nor `file`, a bad mxc URI. A thumbnail
/// that cannot be read is left out instead (the media itself is still usable).
[[nodiscard]] result<media_message> parse_media_content(const nlohmann::json& content,
                                                        std::string_view event_type);

// ---- outgoing media messages ----------------------------------------------------------

/// A thumbnail for an outgoing image or video: exactly one of `url` and `file`.
struct outgoing_thumbnail {
  std::optional<mxc_uri> url;         ///< plain room
  std::optional<encrypted_file> file; ///< encrypted room
  std::string mimetype;
  std::uint64_t size = 0;
  int width = 0;
  int height = 0;
};

struct outgoing_media {
  std::string msgtype = "m.file"; ///< m.image, m.audio, m.video or m.file
  std::string filename;           ///< becomes both `body` and `filename`
  std::string mimetype;           ///< "" leaves it out
  std::uint64_t size = 0;
  int width = 0;                  ///< images and videos; 0 leaves w/h out
  int height = 0;
  std::uint64_t duration_ms = 0;  ///< audio and video; 0 leaves it out
  bool voice = false;             ///< m.audio only: a voice message (MSC3245)
  std::optional<mxc_uri> url;         ///< plain room
  std::optional<encrypted_file> file; ///< encrypted room (never together with `url`)
  std::optional<outgoing_thumbnail> thumbnail;
};

/// The content of a media message: msgtype, body = filename = the file name, info
/// {mimetype, size, w, h, duration, thumbnail_url or thumbnail_file, thumbnail_info},
/// `url` or `file`, "m.mentions" {} (a file pings nobody), and for voice
/// "org.matrix.msc3245.voice" {} with "org.matrix.msc1767.audio" {duration}. m.relates_to
/// is the caller's. HM_BAD_MEDIA_CONTENT when the msgtype is not a media one, or when not
/// exactly one of url and file (or, for the thumbnail, of its url and file) is given:
/// nothing is ever sent both in the clear and encrypted.
[[nodiscard]] result<nlohmann::json> media_content(const outgoing_media& m);

} // namespace hm::matrix
