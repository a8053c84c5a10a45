// One thread's reads of a file, shared with another thread that has time to spare: the reading
// thread offers the next piece of its file (FileBuffer::share_reading), and whichever thread gets
// to it first reads it. In `analyze` the tracking thread does so while it waits for packets
// (app/two_threads), taking the kernel's copy of page-cache pages off the thread that sets the
// pace.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ephemera {

class ReadAhead {
  public:
    // Any thread: reads the piece on offer, if there is one and no other thread has taken it.
    // True when it read one.
    bool fill() noexcept;

    // The owner's side, from one thread. Offers [offset, offset + length) of `descriptor`, to be
    // read into `into`. Nothing may be on offer already.
    void offer(int descriptor, std::size_t offset, std::size_t length,
               std::uint8_t* into) noexcept {
        descriptor_ = descriptor;
        offset_ = offset;
        length_ = length;
        into_ = into;
        state_.store(offered, std::memory_order_release);
    }
    // Takes the offer back, waiting if another thread is reading it. True when the piece was read
    // whole (then `into` holds it); false when nobody took it, nothing was on offer, or the read
    // came up short or failed (the owner reads it again itself, and meets the same end).
    bool take_back() noexcept;

  private:
    enum State : std::uint8_t { idle, offered, reading, done };

    std::atomic<State> state_{idle};
    int descriptor_ = -1;
    std::size_t offset_ = 0;
    std::size_t length_ = 0;
    std::uint8_t* into_ = nullptr;
    bool whole_ = false;  // what the reading thread found
};

}  // namespace ephemera
