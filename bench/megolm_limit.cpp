// The limit for encrypted throughput: what one core does per message when it does
// nothing but the unavoidable work of an encrypted answer, with the same libraries the
// gateway uses (libolm, nlohmann/json). Per message, in a tight loop:
//
//   parse the encrypted sync event (JSON) -> Megolm-decrypt its ciphertext -> parse the
//   plaintext (JSON) -> build the answer (JSON) -> Megolm-encrypt it -> serialise the
//   m.room.encrypted content (JSON)
//
// ("decrypt+encrypt"), and the same with three encryptions per message ("x3": 👀, the
// reply, ✅, as the gateway sends them). No I/O, no SQLite, no actors, no HTTP.
// Prints one JSON object on stdout. Used by bench/e2ee.py in the same run as the
// gateway's encrypted throughput; see bench/README.md.
//
//   megolm_limit [--messages N] [--body TEXT]

#include <olm/inbound_group_session.h>
#include <olm/olm.h>
#include <olm/outbound_group_session.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr const char* room_id = "!bench:localhost";

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::random_device rd; // benchmark keys only: never used outside this process
  std::vector<std::uint8_t> out(n);
  for (auto& b : out)
    b = static_cast<std::uint8_t>(rd());
  return out;
}

void check(std::size_t r, const char* what, const char* last_error) {
  if (r == olm_error())
    throw std::runtime_error(std::string{what} + ": " + last_error);
}

struct outbound {
  std::vector<std::uint8_t> mem;
  OlmOutboundGroupSession* s;
  outbound() : mem(olm_outbound_group_session_size()), s(olm_outbound_group_session(mem.data())) {
    auto rnd = random_bytes(olm_init_outbound_group_session_random_length(s));
    check(olm_init_outbound_group_session(s, rnd.data(), rnd.size()), "init outbound",
          olm_outbound_group_session_last_error(s));
  }
  outbound(const outbound&) = delete;
  outbound& operator=(const outbound&) = delete;
  std::string session_key() {
    std::string k(olm_outbound_group_session_key_length(s), '\0');
    auto n = olm_outbound_group_session_key(s, reinterpret_cast<std::uint8_t*>(k.data()), k.size());
    check(n, "session key", olm_outbound_group_session_last_error(s));
    k.resize(n);
    return k;
  }
  std::string id() {
    std::string k(olm_outbound_group_session_id_length(s), '\0');
    auto n = olm_outbound_group_session_id(s, reinterpret_cast<std::uint8_t*>(k.data()), k.size());
    check(n, "session id", olm_outbound_group_session_last_error(s));
    k.resize(n);
    return k;
  }
  std::string encrypt(const std::string& plain) {
    std::string out(olm_group_encrypt_message_length(s, plain.size()), '\0');
    auto n = olm_group_encrypt(s, reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size(),
                               reinterpret_cast<std::uint8_t*>(out.data()), out.size());
    check(n, "encrypt", olm_outbound_group_session_last_error(s));
    out.resize(n);
    return out;
  }
};

struct inbound {
  std::vector<std::uint8_t> mem;
  OlmInboundGroupSession* s;
  explicit inbound(std::string key)
      : mem(olm_inbound_group_session_size()), s(olm_inbound_group_session(mem.data())) {
    check(olm_init_inbound_group_session(s, reinterpret_cast<std::uint8_t*>(key.data()), key.size()),
          "init inbound", olm_inbound_group_session_last_error(s));
  }
  inbound(const inbound&) = delete;
  inbound& operator=(const inbound&) = delete;
  std::string decrypt(const std::string& ciphertext, std::uint32_t& index) {
    std::string buf = ciphertext; // libolm decodes in place
    auto max = olm_group_decrypt_max_plaintext_length(
        s, reinterpret_cast<std::uint8_t*>(buf.data()), buf.size());
    check(max, "max plaintext", olm_inbound_group_session_last_error(s));
    buf = ciphertext;
    std::string out(max, '\0');
    auto n = olm_group_decrypt(s, reinterpret_cast<std::uint8_t*>(buf.data()), buf.size(),
                               reinterpret_cast<std::uint8_t*>(out.data()), out.size(), &index);
    check(n, "decrypt", olm_inbound_group_session_last_error(s));
    out.resize(n);
    return out;
  }
};

json encrypted_content(const std::string& ciphertext, const std::string& sid) {
  return {{"algorithm", "m.megolm.v1.aes-sha2"},
          {"ciphertext", ciphertext},
          {"sender_key", "bench+curve25519+key+of+43+characters+abcde"},
          {"device_id", "BENCHDEV"},
          {"session_id", sid}};
}

// The incoming events, as they sit in a /sync response; made before the clock starts.
std::vector<std::string> make_events(outbound& human, int n, const std::string& body) {
  std::vector<std::string> events;
  events.reserve(static_cast<std::size_t>(n));
  const auto sid = human.id();
  for (int i = 0; i < n; ++i) {
    json payload = {{"type", "m.room.message"},
                    {"room_id", room_id},
                    {"content", {{"msgtype", "m.text"}, {"body", body + " " + std::to_string(i)}}}};
    json ev = {{"type", "m.room.encrypted"},
               {"sender", "@human:localhost"},
               {"event_id", "$bench" + std::to_string(i)},
               {"origin_server_ts", 1700000000000 + i},
               {"content", encrypted_content(human.encrypt(payload.dump()), sid)},
               {"unsigned", {{"age", 12}}}};
    events.push_back(ev.dump());
  }
  return events;
}

// One answered message: returns a value the optimiser cannot drop.
std::size_t answer(const std::string& raw, inbound& in, outbound& bot, const std::string& bot_sid,
                   int encryptions, std::vector<std::uint32_t>& seen) {
  json ev = json::parse(raw);
  const auto& c = ev.at("content");
  std::uint32_t index = 0;
  json plain = json::parse(in.decrypt(c.at("ciphertext").get<std::string>(), index));
  if (plain.at("room_id") != room_id)
    throw std::runtime_error("room id mismatch");
  if (index < seen.size() && seen[index])
    throw std::runtime_error("replay");
  if (index >= seen.size())
    seen.resize(index + 1, 0);
  seen[index] = 1;
  const auto& event_id = ev.at("event_id").get_ref<const std::string&>();
  std::size_t total = 0;
  for (int k = 0; k < encryptions; ++k) {
    json reply;
    if (k == 1 || encryptions == 1)
      reply = {{"type", "m.room.message"},
               {"room_id", room_id},
               {"content",
                {{"msgtype", "m.text"},
                 {"body", "echo: " + plain.at("content").at("body").get<std::string>()},
                 {"m.relates_to", {{"m.in_reply_to", {{"event_id", event_id}}}}}}}};
    else
      reply = {{"type", "m.reaction"},
               {"room_id", room_id},
               {"content", json::object()}};
    auto content = encrypted_content(bot.encrypt(reply.dump()), bot_sid);
    if (k != 1 && encryptions != 1)
      content["m.relates_to"] = {{"rel_type", "m.annotation"}, {"event_id", event_id},
                                 {"key", k == 0 ? "👀" : "✅"}};
    total += content.dump().size();
  }
  return total;
}

struct figure {
  int messages;
  double seconds;     // wall
  double cpu_seconds; // this process, so that other load on the machine does not count
};

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

figure run(int n, const std::string& body, int encryptions) {
  outbound human; // the sender's session; the bot holds the inbound copy
  inbound in(human.session_key());
  outbound bot;
  const auto bot_sid = bot.id();
  auto events = make_events(human, n, body);
  std::vector<std::uint32_t> seen;
  std::size_t sink = 0;
  const auto t0 = clock_type::now();
  const double c0 = cpu_now();
  for (const auto& raw : events)
    sink += answer(raw, in, bot, bot_sid, encryptions, seen);
  const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
  const double cpu = cpu_now() - c0;
  if (sink == 0)
    throw std::runtime_error("nothing encrypted");
  return {n, s, cpu};
}

} // namespace

int main(int argc, char** argv) {
  int n = 5000;
  std::string body = "bench message with a token 0123456789ab";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--messages" && i + 1 < argc)
      n = std::stoi(argv[++i]);
    else if (a == "--body" && i + 1 < argc)
      body = argv[++i];
    else {
      std::fprintf(stderr, "usage: megolm_limit [--messages N] [--body TEXT]\n");
      return 2;
    }
  }
  try {
    run(std::min(n, 1000), body, 1); // warm-up: caches, allocator
    const auto one = run(n, body, 1);
    const auto three = run(n, body, 3);
    json out = {{"messages", n},
                {"decrypt_encrypt_s", one.seconds},
                {"decrypt_encrypt_per_s", one.messages / one.seconds},
                {"decrypt_encrypt_x3_s", three.seconds},
                {"decrypt_encrypt_x3_per_s", three.messages / three.seconds},
                {"decrypt_encrypt_cpu_s", one.cpu_seconds},
                {"decrypt_encrypt_per_cpu_s", one.messages / one.cpu_seconds},
                {"decrypt_encrypt_x3_cpu_s", three.cpu_seconds},
                {"decrypt_encrypt_x3_per_cpu_s", three.messages / three.cpu_seconds},
                {"threads", 1}};
    std::printf("%s\n", out.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "megolm_limit: %s\n", e.what());
    return 1;
  }
  return 0;
}
