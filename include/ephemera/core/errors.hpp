// Errors a user can cause (a missing file, a bad filter, a file that is not a capture) are thrown
// as UserError while the pipeline is being set up; main() turns them into one line on stderr and
// exit_code::user_error. Nothing on the per-packet path throws.
#pragma once

#include <stdexcept>
#include <string>

namespace ephemera {

namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int internal_error = 1;   // a bug: please report it
inline constexpr int user_error = 2;       // bad option, input, filter or output path
inline constexpr int verdict_reached = 3;  // --fail-on: a destination reached that verdict
}  // namespace exit_code

class UserError : public std::runtime_error {
  public:
    explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace ephemera
