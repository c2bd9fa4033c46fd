#include "actors/cell/media_intake.hpp"

#include "actors/cell/agent_call.hpp"
#include "agent/image_input.hpp"
#include "agent/transcription.hpp"
#include "matrix/crypto/attachment.hpp"
#include "store/media_cache.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/local_actor.hpp>
#include <spdlog/logger.h>

#include <cstdio>
#include <memory>

namespace hm {

namespace {

/// One intake's state, shared by its callbacks.
struct intake {
  cell_context ctx;
  media_job job;
  caf::event_based_actor* self = nullptr;
  uint64_t next_call = 1;

  const matrix::media_message& media() const { return job.media; }

  void done(media_ready ready) {
    ready.event_id = job.event_id;
    if (ctx.metrics)
      ctx.metrics->media_in(!ready.refusal.empty()         ? "refused"
                            : !ready.image_urls.empty()    ? "image"
                            : !ready.transcript.empty()    ? "transcribed"
                            : media().msgtype == "m.audio" ? "untranscribed"
                                                           : "saved");
    self->send(ctx.cell, std::move(ready));
    self->quit();
  }

  /// The person is told `what`; the journal records `failure`.
  void refuse(std::string what, std::string failure) {
    media_ready r;
    r.refusal = std::move(what);
    r.failure = std::move(failure);
    done(std::move(r));
  }

  [[nodiscard]] std::string kind_word() const {
    auto& t = media().msgtype;
    if (t == "m.image")
      return "image";
    if (t == "m.sticker")
      return "sticker";
    if (t == "m.audio")
      return media().is_voice ? "voice message" : "audio file";
    if (t == "m.video")
      return "video";
    return "file";
  }

  void start() {
    auto limit = job.settings.max_bytes;
    if (media().size > limit) {
      refuse("That " + kind_word() + " is " + human_size(media().size) + "; I take files up to "
               + human_size(limit) + ".",
             "media_too_large");
      return;
    }
    download(matrix::media_api::authenticated);
  }

  const matrix::mxc_uri& source() const {
    return media().file ? media().file->url : *media().url;
  }

  void download(matrix::media_api api) {
    auto request = matrix::download_request(source(), api, job.settings.max_bytes);
    self->request(ctx.link.engine, caf::infinite, to_http_call(ctx.link, request, next_call++))
      .then([this, api](http_result& r) {
        if (succeeded(r)) {
          downloaded(std::move(r.body));
          return;
        }
        if (r.status != 0 && api == matrix::media_api::authenticated
            && matrix::media_api_missing(to_matrix_response(r))) {
          ctx.log->info("the homeserver has no authenticated media; downloading {} the older way",
                        matrix::to_string(source()));
          download(matrix::media_api::legacy);
          return;
        }
        if (r.body_too_large) {
          refuse("That " + kind_word() + " is larger than " + human_size(job.settings.max_bytes)
                   + ", the most I take.",
                 "media_too_large");
          return;
        }
        auto err = to_matrix_error(r);
        ctx.log->warn("cannot download {} of {}: {}", matrix::to_string(source()), job.event_id,
                      matrix::to_string(err));
        refuse("I could not download that " + kind_word() + " from the homeserver ("
                 + (r.status ? "HTTP " + std::to_string(r.status) : r.error) + ").",
               "media_download");
      });
  }

  void downloaded(std::string bytes) {
    if (media().file) {
      auto plain = matrix::crypto::decrypt_attachment(bytes, *media().file);
      if (!plain) {
        // A wrong hash means the file was changed or swapped on the way: never used.
        ctx.log->warn("refusing the attachment of {}: {}", job.event_id, plain.error().error);
        refuse("I could not decrypt that " + kind_word() + ": it is not the file that was sent.",
               "media_decrypt");
        return;
      }
      bytes = std::move(plain).value();
    }
    auto& t = media().msgtype;
    if (t == "m.image" || t == "m.sticker")
      take_image(bytes);
    else if (t == "m.audio")
      take_audio(bytes);
    else
      take_file(bytes);
  }

  void take_image(const std::string& bytes) {
    auto prepared = agent::prepare_image(bytes, job.settings.image_max_side);
    if (!prepared.has_value()) {
      ctx.log->warn("cannot use the image of {}: {}", job.event_id, prepared.error().message);
      refuse("I could not read that image: " + prepared.error().message + ".", "media_image");
      return;
    }
    auto& image = *prepared;
    ctx.log->info("image of {}: {}x{} {}{}", job.event_id, image.width, image.height,
                  image.mimetype, image.unchanged ? " (as sent)" : " (scaled)");
    media_ready r;
    if (media().msgtype == "m.sticker")
      r.text = "[The user sent a sticker]"; // its description is the caption
    r.image_urls.push_back(std::move(image.data_url));
    done(std::move(r));
  }

  /// Saves the file where Hermes keeps its kind; "" (and a refusal) when it cannot.
  std::string keep(store::media_kind kind, const std::string& bytes) {
    auto cached = store::cache_media(job.hermes_home, kind, media().filename, bytes);
    if (!cached) {
      ctx.log->error("cannot keep the {} of {}: {}", kind_word(), job.event_id,
                     cached.error().message);
      refuse("I could not save that " + kind_word() + " on my side.", "media_save");
      return {};
    }
    return cached->string();
  }

  void take_file(const std::string& bytes) {
    bool video = media().msgtype == "m.video";
    auto path = keep(video ? store::media_kind::video : store::media_kind::document, bytes);
    if (path.empty())
      return;
    auto type = media().mimetype.empty() ? std::string{"type not given"} : media().mimetype;
    media_ready r;
    r.text = "[The user sent a " + std::string{video ? "video" : "document"} + ": '"
             + store::safe_file_name(media().filename) + "' (" + type + ", " + human_size(bytes.size())
             + "). It is saved at: " + path + "]";
    ctx.log->info("{} of {} saved ({})", kind_word(), job.event_id, human_size(bytes.size()));
    done(std::move(r));
  }

  void take_audio(const std::string& bytes) {
    auto path = keep(store::media_kind::audio, bytes);
    if (path.empty())
      return;
    auto& stt = job.settings.stt;
    if (!stt.usable()) {
      media_ready r;
      r.text = "[The user sent a " + kind_word() + ": " + path
               + " (it was not transcribed: no speech-to-text is configured)]";
      r.stt_missing = true;
      done(std::move(r));
      return;
    }
    auto name = media().filename.empty() ? std::string{"voice.ogg"} : media().filename;
    auto type = media().mimetype.empty() ? std::string{"audio/ogg"} : media().mimetype;
    agent::transcription_input in;
    in.base_url = stt.base_url;
    in.api_key = stt.api_key.reveal();
    in.model = stt.model;
    in.language = stt.language;
    in.prompt = stt.prompt;
    in.filename = name;
    in.mimetype = type;
    in.audio = bytes;
    auto call = to_call(agent::build_transcription_request(in), next_call++);
    call.timeout = std::chrono::seconds{120};
    self->request(ctx.link.engine, caf::infinite, std::move(call))
      .then([this, path](http_result& r) {
        auto text = agent::parse_transcription_response(r.status, r.body,
                                                        job.settings.stt.api_key.reveal());
        media_ready ready;
        if (r.status == 0 || !text.has_value()) {
          auto why = r.status == 0 ? r.error : text.error().message;
          ctx.log->warn("cannot transcribe the {} of {}: {}", kind_word(), job.event_id, why);
          ready.text = "[The user sent a " + kind_word() + ", but it could not be transcribed ("
                       + why + "). It is saved at: " + path + "]";
        } else if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
          // Hermes' words (#41603): empty quotes make the agent answer nothing.
          ready.text = "[The user sent a voice message but it came through empty or inaudible"
                       " — speech-to-text returned no words. Do not guess at the content; ask"
                       " the user to resend or type it out.]";
        } else {
          ctx.log->info("transcribed the {} of {} ({} characters)", kind_word(), job.event_id,
                        text->size());
          ready.text = "\"" + *text + "\"";
          ready.transcript = std::move(*text);
        }
        done(std::move(ready));
      });
  }
};

void media_intake_actor(caf::event_based_actor* self, cell_context ctx, media_job job) {
  auto state = std::make_shared<intake>();
  state->ctx = std::move(ctx);
  state->job = std::move(job);
  state->self = self;
  // The state lives as long as the actor: its callbacks hold `this` of it.
  self->attach_functor([state] {});
  state->start();
}

} // namespace

std::string human_size(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  else if (bytes >= 1024)
    std::snprintf(buf, sizeof buf, "%llu KB", static_cast<unsigned long long>(bytes / 1024));
  else
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  return buf;
}

void spawn_media_intake(caf::local_actor* parent, const cell_context& ctx, media_job job) {
  parent->spawn<caf::detached + caf::linked>(media_intake_actor, ctx, std::move(job));
}

} // namespace hm
