#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace hm {

/// A plain-text table with a header row and left-aligned columns, as printed by
/// `check` and `status`.
class text_table {
public:
  explicit text_table(std::vector<std::string> header);
  void add_row(std::vector<std::string> row);
  void print(std::ostream& out) const;

private:
  std::vector<std::vector<std::string>> rows_;
};

} // namespace hm
