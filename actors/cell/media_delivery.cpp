#include "actors/cell/media_delivery.hpp"

#include "agent/image_input.hpp"
#include "matrix/content.hpp"
#include "matrix/crypto/attachment.hpp"
#include "matrix/media.hpp"
#include "matrix/txn_id.hpp"
#include "profiles/sha256.hpp"
#include "store/outgoing_file.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/local_actor.hpp>
#include <spdlog/logger.h>

#include <memory>

namespace hm {

namespace {

/// The msgtype for a file of `mimetype`: images models and clients show inline, audio,
/// video, and everything else (an SVG too: clients do not show it inline) as m.file.
std::string msgtype_for(const std::string& mimetype) {
  if (mimetype == "image/png" || mimetype == "image/jpeg" || mimetype == "image/gif"
      || mimetype == "image/webp")
    return "m.image";
  if (mimetype.rfind("audio/", 0) == 0)
    return "m.audio";
  if (mimetype.rfind("video/", 0) == 0)
    return "m.video";
  return "m.file";
}

/// One file on its way: what was read, and what has been uploaded of it.
struct parcel {
  std::string path; ///< as the agent wrote it
  std::string txn;  ///< its message's txn id
  std::string sha256; ///< of the file, hex: a record of an earlier upload must match it
  store::outgoing_file file;
  matrix::outgoing_media media;
  std::optional<agent::thumbnail> thumb;
};

struct delivery {
  cell_context ctx;
  delivery_job job;
  caf::event_based_actor* self = nullptr;
  std::vector<std::string> notes;
  std::size_t next = 0;       ///< index into job.paths
  std::optional<bool> encrypted;
  uint64_t next_call = 1;

  void finish() {
    self->send(job.session, media_delivered{job.event_id, std::move(notes)});
    self->quit();
  }

  void count(std::string_view result) {
    if (ctx.metrics)
      ctx.metrics->media_out(result);
  }

  void skip(const std::string& path, const std::string& why) {
    ctx.log->warn("not sending {}: {}", path, why);
    count("refused");
    notes.push_back("(" + path + " was not sent: " + why + ")");
    ++next;
    send_next();
  }

  void start() {
    if (static_cast<int>(job.paths.size()) > job.max_files) {
      for (auto i = static_cast<std::size_t>(job.max_files); i < job.paths.size(); ++i) {
        notes.push_back("(" + job.paths[i] + " was not sent: at most "
                        + std::to_string(job.max_files) + " files go with one reply)");
        count("refused");
      }
      job.paths.resize(static_cast<std::size_t>(job.max_files));
    }
    if (!job.crypto) {
      encrypted = false;
      send_next();
      return;
    }
    self->request(*job.crypto, caf::infinite, atom::encrypted_v, job.room_id)
      .then([this](bool is_encrypted) {
        encrypted = is_encrypted;
        send_next();
      },
      [this](caf::error&) {
        // Not knowing means not sending: a file is never uploaded in the clear for a
        // room that may be encrypted.
        for (; next < job.paths.size(); ++next) {
          notes.push_back("(" + job.paths[next]
                          + " was not sent: the room's encryption could not be read)");
          count("refused");
        }
        finish();
      });
  }

  void send_next() {
    if (next >= job.paths.size()) {
      finish();
      return;
    }
    auto p = std::make_shared<parcel>();
    p->path = job.paths[next];
    auto read = store::read_outgoing_file(p->path, job.hermes_home, job.extra_roots,
                                          job.max_bytes);
    if (!read) {
      skip(p->path, read.error().message);
      return;
    }
    p->file = std::move(*read);
    auto& m = p->media;
    m.msgtype = msgtype_for(p->file.mimetype);
    if (job.as_document && m.msgtype == "m.image")
      m.msgtype = "m.file";
    m.filename = p->file.filename;
    m.mimetype = p->file.mimetype;
    m.size = p->file.bytes.size();
    m.voice = m.msgtype == "m.audio" && job.as_voice;
    p->txn = matrix::derive_txn_id(job.event_id, static_cast<unsigned>(next), "media");
    p->sha256 = profiles::sha256_hex(p->file.bytes);
    // Redone after a crash: the message may be queued already, or its upload done.
    self->request(ctx.cell, caf::infinite, atom::uploaded_v, p->txn)
      .then([this, p](const std::string& known) {
        if (known == "queued") {
          ctx.log->info("{} was queued for {} before the last stop", p->media.filename,
                        job.room_id);
          count("sent");
          ++next;
          send_next();
          return;
        }
        auto record = nlohmann::json::parse(known, nullptr, false);
        if (record.is_object() && record.value("sha256", "") == p->sha256
            && record.contains("content") && record["content"].is_object()) {
          ctx.log->info("{} was uploaded before the last stop; not uploading it again",
                        p->media.filename);
          queue_content(p, std::move(record["content"]));
          return;
        }
        prepare_and_upload(p);
      },
      [this, p](caf::error& err) { skip(p->path, "the store could not be asked (" + to_string(err) + ")"); });
  }

  void prepare_and_upload(const std::shared_ptr<parcel>& p) {
    auto& m = p->media;
    if (m.msgtype == "m.image") {
      if (auto facts = agent::image_dimensions(p->file.bytes)) {
        m.width = facts->first;
        m.height = facts->second;
      }
      p->thumb = agent::make_thumbnail(p->file.bytes);
    }
    upload_thumbnail(p);
  }

  /// Uploads `bytes` (encrypted first in an encrypted room); `then` gets the mxc URI
  /// and, encrypted, the EncryptedFile.
  template <class Then>
  void upload(const std::shared_ptr<parcel>& p, std::string bytes, const std::string& mimetype,
              const std::string& filename, Then then) {
    std::optional<matrix::encrypted_file> file;
    std::string type = mimetype;
    if (*encrypted) {
      auto sealed = matrix::crypto::encrypt_attachment(bytes);
      if (!sealed) {
        skip(p->path, "it could not be encrypted (" + sealed.error().error + ")");
        return;
      }
      bytes = std::move(sealed->ciphertext);
      file = std::move(sealed->file);
      type = "application/octet-stream"; // the spec: what the server sees says nothing
    }
    auto request = matrix::upload_request(std::move(bytes), type, *encrypted ? "" : filename);
    auto call = to_http_call(ctx.link, request, next_call++);
    call.timeout = std::chrono::seconds{300};
    self->request(ctx.link.engine, caf::infinite, std::move(call))
      .then([this, p, file, then](http_result& r) mutable {
        auto uri = succeeded(r) ? matrix::parse_upload_response(to_matrix_response(r))
                                : matrix::result<matrix::mxc_uri>{hm::unexpected{to_matrix_error(r)}};
        if (!uri) {
          skip(p->path, "the homeserver did not take it (" + matrix::to_string(uri.error()) + ")");
          return;
        }
        if (file)
          file->url = uri.value();
        then(uri.value(), std::move(file));
      });
  }

  void upload_thumbnail(const std::shared_ptr<parcel>& p) {
    if (!p->thumb) {
      upload_file(p);
      return;
    }
    auto bytes = p->thumb->bytes;
    upload(p, std::move(bytes), p->thumb->mimetype, "thumbnail.jpg",
           [this, p](const matrix::mxc_uri& uri, std::optional<matrix::encrypted_file> file) {
             matrix::outgoing_thumbnail t;
             if (file)
               t.file = std::move(file);
             else
               t.url = uri;
             t.mimetype = p->thumb->mimetype;
             t.size = p->thumb->bytes.size();
             t.width = p->thumb->width;
             t.height = p->thumb->height;
             p->media.thumbnail = std::move(t);
             upload_file(p);
           });
  }

  void upload_file(const std::shared_ptr<parcel>& p) {
    auto bytes = std::move(p->file.bytes);
    upload(p, std::move(bytes), p->media.mimetype, p->media.filename,
           [this, p](const matrix::mxc_uri& uri, std::optional<matrix::encrypted_file> file) {
             if (file)
               p->media.file = std::move(file);
             else
               p->media.url = uri;
             queue_message(p);
           });
  }

  /// The uploads are done: their record is kept until the message is queued, so that
  /// a crash in between does not upload the file again.
  void queue_message(const std::shared_ptr<parcel>& p) {
    auto content = matrix::media_content(p->media);
    if (!content) {
      skip(p->path, content.error().error);
      return;
    }
    content.value()["m.relates_to"] = job.thread_root.empty()
                                   ? matrix::reply_relation(job.in_reply_to)
                                   : matrix::thread_relation(job.thread_root, job.in_reply_to);
    nlohmann::json record{{"sha256", p->sha256}, {"content", content.value()}};
    self->request(ctx.cell, caf::infinite, atom::uploaded_v, p->txn, record.dump())
      .then([this, p, c = std::move(content).value()](atom::ok) mutable {
        queue_content(p, std::move(c));
      },
      [this, p](caf::error& err) { skip(p->path, "the store could not keep it (" + to_string(err) + ")"); });
  }

  void queue_content(const std::shared_ptr<parcel>& p, nlohmann::json content) {
    self->request(job.outbox, caf::infinite,
                  outgoing_event{job.room_id, "m.room.message",
                                 content.dump(-1, ' ', false,
                                              nlohmann::json::error_handler_t::replace),
                                 p->txn, "", ""})
      .then([this, p](atom::ok) {
        ctx.log->info("{} queued for {} ({} {})", p->media.filename, job.room_id,
                      p->media.msgtype, p->media.mimetype);
        count("sent");
        // Queued (durably): the record has done its work.
        self->request(ctx.cell, caf::infinite, atom::uploaded_v, p->txn, std::string{})
          .then([](atom::ok) {}, [](caf::error&) {});
        ++next;
        send_next();
      },
      [this, p](caf::error& err) { skip(p->path, "it could not be queued (" + to_string(err) + ")"); });
  }
};

void media_delivery_actor(caf::event_based_actor* self, cell_context ctx, delivery_job job) {
  auto state = std::make_shared<delivery>();
  state->ctx = std::move(ctx);
  state->job = std::move(job);
  state->self = self;
  self->attach_functor([state] {}); // the callbacks hold `this` of it
  state->start();
}

} // namespace

void spawn_media_delivery(caf::local_actor* parent, const cell_context& ctx, delivery_job job) {
  parent->spawn<caf::detached + caf::linked>(media_delivery_actor, ctx, std::move(job));
}

} // namespace hm
