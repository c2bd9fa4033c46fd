// libFuzzer target: an agent's reply as the model writes it (issue 15), which anyone who
// can talk to the agent can steer. MEDIA: directives are found and hidden; what is shown
// must never still hold a directive that was found.
// Sources: tests/fuzz/media_directives_fuzz.cpp agent/media_directives.cpp agent/reply_text.cpp

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/media_directives.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto found = hm::agent::extract_media(text);
  for (const auto& f : found.files)
    if (f.path.empty())
      std::abort(); // a directive always names a file
  (void)hm::agent::extract_media(found.visible_text);
  (void)hm::agent::hide_partial_media(text);
  return 0;
}
