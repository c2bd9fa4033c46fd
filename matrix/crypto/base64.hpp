#pragma once

// The crypto code's names for matrix/base64.hpp, which moved there so that attachment
// metadata can be parsed in hm_matrix without libolm.

#include "matrix/base64.hpp"

namespace hm::matrix::crypto {

using matrix::base64_decode;
using matrix::base64_encode_unpadded;
using matrix::base64url_decode;
using matrix::base64url_encode_unpadded;

} // namespace hm::matrix::crypto
