// libFuzzer target for the agent stream decoder (agent/sse_parser + agent/chat_stream).
//
// The property: items do not depend on how the bytes are chunked. The input is fed
// once whole and once split in two at an offset taken from data[0]; both runs must
// give the same items. Along the way ASan/UBSan catch memory errors, and the
// decoder must never throw on any input.
//
// Sources: tests/fuzz/sse_fuzz.cpp agent/sse_parser.cpp agent/chat_stream.cpp
// (links nlohmann_json, header-only). Seeds: tests/fuzz/corpus/sse/.

#include "agent/chat_stream.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

// Small, so that the fuzzer reaches the oversized path without megabyte inputs.
constexpr std::size_t fuzz_event_limit = 512;

std::vector<hm::agent::stream_item> decode(std::string_view bytes, std::size_t cut) {
  hm::agent::chat_stream_decoder d{fuzz_event_limit};
  std::vector<hm::agent::stream_item> out;
  d.feed(bytes.substr(0, cut), out);
  d.feed(bytes.substr(cut), out);
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes{reinterpret_cast<const char*>(data), size};
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  if (decode(bytes, 0) != decode(bytes, cut))
    std::abort();
  return 0;
}
