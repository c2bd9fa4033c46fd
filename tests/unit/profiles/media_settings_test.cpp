// Media settings: the .env's limits and speech-to-text resolved as Hermes resolves it
// (config.yaml's stt section, the provider's key and base URL in the .env).
#define CAF_SUITE media_settings
#include "caf/test/unit_test.hpp"

#include "profiles/config.hpp"
#include "test_support.hpp"

using namespace hm::profiles;
using severity = problem::severity;

namespace {

stt_yaml yaml(const std::string& text, problems& issues) {
  return parse_stt_yaml(text, "/p/config.yaml", issues);
}

loaded_profile load(const std::string& env, const std::string& config_yaml = "") {
  problems ignored;
  return make_profile("p", "/p", parse_dotenv(env, "/p/.env"), yaml(config_yaml, ignored));
}

const problem* about(const problems& all, std::string_view key) {
  for (const auto& i : all)
    if (i.key == key)
      return &i;
  return nullptr;
}

} // namespace

CAF_TEST(defaults) {
  auto p = load("");
  const auto& m = p.config.media;
  CAF_CHECK_EQUAL(m.max_bytes, 25u * 1024 * 1024);
  CAF_CHECK_EQUAL(m.image_max_side, 2048);
  CAF_CHECK_EQUAL(m.max_files_per_reply, 10);
  // Hermes' default provider runs inside Hermes: nothing this service can call.
  CAF_CHECK_EQUAL(m.stt.provider, "local");
  CAF_CHECK(m.stt.enabled);
  CAF_CHECK(m.stt.echo_transcripts);
  CAF_CHECK(!m.stt.usable());
  CAF_CHECK(p.issues.empty());
}

CAF_TEST(limits from the env file) {
  auto p = load("HERMES_MATRIX_MEDIA_MAX_MB=5\nHERMES_MATRIX_IMAGE_MAX_SIDE=1024\n"
                "HERMES_MATRIX_MEDIA_MAX_FILES=3\n");
  CAF_CHECK_EQUAL(p.config.media.max_bytes, 5u * 1024 * 1024);
  CAF_CHECK_EQUAL(p.config.media.image_max_side, 1024);
  CAF_CHECK_EQUAL(p.config.media.max_files_per_reply, 3);
  auto bad = load("HERMES_MATRIX_MEDIA_MAX_MB=lots\nHERMES_MATRIX_IMAGE_MAX_SIDE=99999\n");
  CAF_CHECK_EQUAL(bad.config.media.max_bytes, 25u * 1024 * 1024);
  CAF_CHECK_EQUAL(bad.config.media.image_max_side, 2048);
  auto* i = about(bad.issues, "HERMES_MATRIX_MEDIA_MAX_MB");
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK(i->level == severity::warning);
  CAF_CHECK_EQUAL(i->line, 1);
  CAF_CHECK(about(bad.issues, "HERMES_MATRIX_IMAGE_MAX_SIDE") != nullptr);
  auto dirs = load("HERMES_MATRIX_MEDIA_DIRS=/srv/reports, relative/dir ,/tmp/out\n");
  CAF_CHECK_EQUAL(dirs.config.media.send_dirs, (std::vector<std::string>{"/srv/reports", "/tmp/out"}));
  CAF_CHECK(about(dirs.issues, "HERMES_MATRIX_MEDIA_DIRS") != nullptr);
}

CAF_TEST(openai with its key and a local whisper server) {
  auto p = load("VOICE_TOOLS_OPENAI_KEY=sk-voice\nOPENAI_API_KEY=sk-other\n",
                "stt:\n  provider: openai\n  language: de\n  openai:\n    model: gpt-4o-mini-transcribe\n");
  const auto& stt = p.config.media.stt;
  CAF_CHECK(stt.usable());
  CAF_CHECK_EQUAL(stt.base_url, "https://api.openai.com/v1");
  CAF_CHECK_EQUAL(stt.api_key.reveal(), "sk-voice");
  CAF_CHECK_EQUAL(stt.model, "gpt-4o-mini-transcribe");
  CAF_CHECK_EQUAL(stt.language, "de");
  auto local = load("STT_OPENAI_BASE_URL=http://127.0.0.1:8000/v1/\nSTT_OPENAI_MODEL=small\n",
                    "stt:\n  provider: openai\n");
  CAF_CHECK(local.config.media.stt.usable());
  CAF_CHECK_EQUAL(local.config.media.stt.base_url, "http://127.0.0.1:8000/v1");
  CAF_CHECK(local.config.media.stt.api_key.empty());
  CAF_CHECK_EQUAL(local.config.media.stt.model, "small");
  CAF_CHECK(local.issues.empty());
}

CAF_TEST(a public provider without its key is told and off) {
  auto p = load("", "stt:\n  provider: groq\n");
  CAF_CHECK(!p.config.media.stt.usable());
  auto* i = about(p.issues, "GROQ_API_KEY");
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK(i->level == severity::warning);
  auto groq = load("GROQ_API_KEY=gsk_x\n", "stt:\n  provider: groq\n");
  CAF_CHECK(groq.config.media.stt.usable());
  CAF_CHECK_EQUAL(groq.config.media.stt.model, "whisper-large-v3-turbo");
  auto bad_url = load("STT_OPENAI_BASE_URL=not a url\n", "stt:\n  provider: openai\n");
  CAF_CHECK(!bad_url.config.media.stt.usable());
  CAF_CHECK(bad_url.usable() || !bad_url.config.on_matrix()); // a warning, not an error
  CAF_CHECK(about(bad_url.issues, "STT_OPENAI_BASE_URL") != nullptr);
}

CAF_TEST(echo and enabled as Hermes reads them) {
  CAF_CHECK(!load("", "stt:\n  echo_transcripts: false\n").config.media.stt.echo_transcripts);
  CAF_CHECK(!load("", "stt:\n  echo_transcripts: 'off'\n").config.media.stt.echo_transcripts);
  // The top-level key wins over the section's, as in Hermes' GatewayConfig.
  CAF_CHECK(!load("", "stt_echo_transcripts: false\nstt:\n  echo_transcripts: true\n")
               .config.media.stt.echo_transcripts);
  auto off = load("STT_OPENAI_BASE_URL=http://127.0.0.1:8000/v1\n",
                  "stt:\n  enabled: false\n  provider: openai\n");
  CAF_CHECK(!off.config.media.stt.usable());
}

CAF_TEST(a broken config yaml is a warning with its line) {
  problems issues;
  auto y = yaml("model: x\nstt:\n  provider: [openai\n", issues);
  CAF_REQUIRE_EQUAL(issues.size(), 1u);
  CAF_CHECK(issues[0].level == severity::warning);
  CAF_CHECK(issues[0].line >= 3);
  CAF_CHECK(y.provider.empty());
  problems typed;
  auto t = yaml("stt:\n  enabled: maybe\n  provider: {a: b}\n", typed);
  CAF_CHECK(!t.enabled.has_value());
  CAF_CHECK(about(typed, "stt.enabled") != nullptr);
  CAF_CHECK_EQUAL(about(typed, "stt.enabled")->line, 2);
  CAF_CHECK(about(typed, "stt.provider") != nullptr);
  problems none;
  (void) yaml("", none);
  (void) yaml("just text", none);
  (void) yaml("stt: null\n", none);
  CAF_CHECK(none.empty());
}
