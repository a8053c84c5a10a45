#pragma once

namespace ephemera {
inline constexpr const char* version = "0.1.0";
}
