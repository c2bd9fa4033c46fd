// mentions_bot and strip_mention: m.mentions, user id, localpart and display name as
// whole words, pills (also percent-encoded), and what the agent gets to read.
#define CAF_SUITE mentions
#include "caf/test/unit_test.hpp"

#include "profiles/mentions.hpp"

#include <string>
#include <vector>

using namespace hm::profiles;

namespace {

const bot_identity bot{"@hermes-coder:example.org", "Hermes Coder"};

bool mentioned(const std::string& body, const std::string& html = {},
               const std::vector<std::string>* ids = nullptr) {
  return mentions_bot(mention_sources{body, html, ids}, bot);
}

} // namespace

CAF_TEST(localpart) {
  CAF_CHECK_EQUAL(localpart("@hermes-coder:example.org"), "hermes-coder");
  CAF_CHECK_EQUAL(localpart("@a:b:8448"), "a");
  CAF_CHECK_EQUAL(localpart("hermes"), "");
  CAF_CHECK_EQUAL(localpart("@nocolon"), "");
}

CAF_TEST(body) {
  struct row {
    std::string body;
    bool expected;
  };
  const std::vector<row> rows{
      // Full user id, also with trailing punctuation; not as part of a longer id.
      {"@hermes-coder:example.org do x", true},
      {"ping @hermes-coder:example.org.", true},
      {"@hermes-coder:example.org: do x", true},
      {"@hermes-coder:example.org.evil do x", false},
      {"@hermes-coder:example.org:8448 do x", false},
      // Localpart as a whole word, any case, punctuation around it.
      {"hermes-coder: do x", true},
      {"hey HERMES-CODER, do x", true},
      {"(hermes-coder) do x", true},
      {"ask hermes-coder.", true},
      {"@hermes-coder do x", true},
      {"\"hermes-coder\"?", true},
      // ... but not inside another word or id.
      {"hermes-coder-2: do x", false},
      {"my_hermes-coder bot", false},
      {"superhermes-coder", false},
      {"hermes-coderx", false},
      {"hermes-coder.example.org", false},
      {"see /srv/hermes-coder/logs", false},
      {"@hermes-coder:other.org do x", false},
      {"hermes coder", true}, // the display name, see below
      {"hermes", false},
      // Display name as whole words, any ASCII case.
      {"Hermes Coder: do x", true},
      {"thanks, hermes coder!", true},
      {"Hermes Coders unite", false},
      {"ÜberHermes Coder", false},
      {"Hermes Coderéx", false},
      // Nothing.
      {"", false},
      {"hello world", false},
  };
  for (const auto& r : rows) {
    CAF_MESSAGE("body: " << r.body);
    CAF_CHECK_EQUAL(mentioned(r.body), r.expected);
  }
}

CAF_TEST(pills) {
  // Element's pill: the display name in the body, the permalink in formatted_body.
  CAF_CHECK(mentioned("hi", "<a href=\"https://matrix.to/#/@hermes-coder:example.org\">X</a>"));
  CAF_CHECK(mentioned("hi", "<a href=\"https://matrix.to/#/%40hermes-coder%3Aexample.org\">X</a>"));
  CAF_CHECK(mentioned("hi", "<a href='https://matrix.to/#/%40Hermes-Coder%3aexample.org'>X</a>"));
  CAF_CHECK(mentioned("hi", "<a href=\"https://matrix.to/#/@hermes-coder:example.org?via=example.org\">X</a>"));
  CAF_CHECK(mentioned("hi", "<a href=\"matrix:u/hermes-coder:example.org\">X</a>"));
  CAF_CHECK(mentioned("hi", "<a href=\"matrix:u/hermes-coder%3Aexample.org?action=chat\">X</a>"));
  // Someone else's pill, or ours as a prefix of another id.
  CAF_CHECK(!mentioned("hi", "<a href=\"https://matrix.to/#/@doru:example.org\">Doru</a>"));
  CAF_CHECK(!mentioned("hi", "<a href=\"https://matrix.to/#/@hermes-coder:example.org.evil\">X</a>"));
  CAF_CHECK(!mentioned("hi", "<a href=\"https://matrix.to/#/%40hermes-coder%3Aexample.orgx\">X</a>"));
  CAF_CHECK(!mentioned("hi", "<a href=\"https://matrix.to/#/!room:example.org\">room</a>"));
  CAF_CHECK(!mentioned("hi", "https://matrix.to/#/"));
}

CAF_TEST(m_mentions) {
  const std::vector<std::string> us{"@hermes-coder:example.org"};
  const std::vector<std::string> other{"@doru:example.org"};
  const std::vector<std::string> none;
  // m.mentions naming the bot is enough, whatever the body says.
  CAF_CHECK(mentioned("look at this", "", &us));
  CAF_CHECK(mentioned("", "", &us));
  // m.mentions present without the bot: the body still counts (Hermes; documented in
  // mentions.hpp: Element sends m.mentions {} with every message).
  CAF_CHECK(mentioned("hermes-coder: do x", "", &none));
  CAF_CHECK(mentioned("Hermes Coder, do x", "", &other));
  CAF_CHECK(!mentioned("doru: do x", "", &other));
  // A bot without a known id is mentioned by nothing.
  CAF_CHECK(!mentions_bot(mention_sources{"hermes-coder", "", &us}, bot_identity{}));
}

CAF_TEST(strip) {
  struct row {
    std::string body;
    std::string expected;
  };
  const std::vector<row> rows{
      // A leading address goes, with its `:` or `,`.
      {"Hermes Coder: do x", "do x"},
      {"hermes coder, do x", "do x"},
      {"  Hermes Coder:   do x", "do x"},
      {"hermes-coder: do x", "do x"},
      {"@hermes-coder do x", "do x"},
      {"@hermes-coder: do x", "do x"},
      {"@Hermes Coder do x", "do x"},
      {"@hermes-coder:example.org do x", "do x"},
      {"@hermes-coder:example.org: do x", "do x"},
      {"Hermes Coder:\ndo x", "do x"},
      {"Hermes Coder: /new", "/new"},
      // A bare name without punctuation is part of the sentence.
      {"Hermes Coder is great", "Hermes Coder is great"},
      {"hermes-coder is great", "hermes-coder is great"},
      // Ids and @localpart elsewhere go (Hermes `_strip_mention`), tidily.
      {"do x @hermes-coder", "do x"},
      {"ask @hermes-coder about it", "ask about it"},
      {"ask @hermes-coder:example.org, then go", "ask, then go"},
      {"cc @hermes-coder:example.org @hermes-coder", "cc"},
      // ... but not other accounts, and not bare names mid-sentence.
      {"ask @hermes-coder:other.org", "ask @hermes-coder:other.org"},
      {"ask Hermes Coder about it", "ask Hermes Coder about it"},
      {"hermes-coder-2: do x", "hermes-coder-2: do x"},
      // Indentation of code is kept (Hermes collapses every run of spaces).
      {"Hermes Coder: fix\n    return  x", "fix\n    return  x"},
      // Only the address: nothing left.
      {"Hermes Coder:", ""},
      {"@hermes-coder:example.org", ""},
  };
  for (const auto& r : rows) {
    CAF_MESSAGE("body: " << r.body);
    CAF_CHECK_EQUAL(strip_mention(r.body, bot), r.expected);
  }
  // Without a display name only ids and the localpart are addresses.
  bot_identity bare{"@hermes:example.org", ""};
  CAF_CHECK_EQUAL(strip_mention("hermes: do x", bare), "do x");
  CAF_CHECK_EQUAL(strip_mention(": do x", bare), ": do x");
  CAF_CHECK_EQUAL(strip_mention(" text ", bot_identity{}), "text");
}
