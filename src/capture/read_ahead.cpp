#include "ephemera/capture/read_ahead.hpp"

#include <unistd.h>

#include <cerrno>

#include "ephemera/core/cpu_relax.hpp"

namespace ephemera {

bool ReadAhead::fill() noexcept {
    if (state_.load(std::memory_order_relaxed) != offered) return false;
    State expected = offered;
    if (!state_.compare_exchange_strong(expected, reading, std::memory_order_acquire)) return false;
    std::size_t got = 0;
    while (got < length_) {
        const ssize_t read =
            pread(descriptor_, into_ + got, length_ - got, static_cast<off_t>(offset_ + got));
        if (read > 0) {
            got += static_cast<std::size_t>(read);
        } else if (read < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    whole_ = got == length_;
    state_.store(done, std::memory_order_release);
    return true;
}

bool ReadAhead::take_back() noexcept {
    State state = offered;
    if (state_.compare_exchange_strong(state, idle, std::memory_order_acquire)) return false;
    while (state == reading) {
        cpu_relax();
        state = state_.load(std::memory_order_acquire);
    }
    state_.store(idle, std::memory_order_relaxed);
    return state == done && whole_;
}

}  // namespace ephemera
