#pragma once

// Splitting a long Markdown reply into messages of at most MATRIX_MAX_MESSAGE_LENGTH
// bytes (hermes-compat.md: 16000 by default, 500 to 65535).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hm::matrix {

/// The smallest max_len split_message honours; smaller values are raised to it (a UTF-8
/// code point alone may take 4 bytes, and a part must hold at least one).
inline constexpr std::size_t min_split_length = 4;

/// Splits `markdown` into parts of at most `max_len` bytes each.
///
/// Where: the last paragraph break (a blank line) that fits, else the last line break,
/// else the last run of spaces, else a hard cut at a code point boundary (a word longer
/// than a part). Never inside a UTF-8 sequence (for valid UTF-8 input).
///
/// What is lost at a cut: only whitespace. At a paragraph or line break the newlines and
/// blank lines and the trailing spaces of the part are dropped, but not the indentation
/// of the next line (it may be code); at a run of spaces the run is dropped; a hard cut
/// drops nothing. Precisely: with F the fence lines split_message added (below), the
/// original equals p1 + s1 + p2 + s2 + ... + pn where every p_i is part i without its
/// added fence lines and every s_i is whitespace only (empty for a hard cut).
///
/// Fenced code (``` or ~~~ at the top level, indented at most 3 spaces): when a cut falls
/// inside one, the part is closed with "\n```" (the opening fence's marker) and the next
/// part starts with the opening fence line again, info string included ("```python\n"),
/// so both render as code. Those lines count toward max_len. A fence whose lines would
/// take more than half of max_len is not reopened (its parts lose the code formatting).
/// Fences inside block quotes or list items are not tracked.
///
/// A message that fits is returned whole and unchanged; whitespace-only input gives no
/// parts.
[[nodiscard]] std::vector<std::string> split_message(std::string_view markdown,
                                                     std::size_t max_len);

} // namespace hm::matrix
