// A speed mechanism kept apart from the domain types: a buffer that grows into memory it has not
// written yet can say where, so that another thread faults those pages in first
// (large_buffer::populate) and the thread that fills the buffer does not stop at each new page.
// The connection table, its ring of lingering connections and the connection log are such
// buffers; app/two_threads asks them.
#pragma once

#include <cstddef>
#include <span>

namespace ephemera {

class GrowsIntoFreshMemory {
  public:
    // The bytes the owner is about to write for the first time, or an empty span. Nothing may be
    // read or written through it; it may be handed to another thread, which may fault its pages
    // in until the owner next grows. Called on the owner's thread, between its writes.
    virtual std::span<std::byte> fresh_memory_ahead() const noexcept = 0;

  protected:
    ~GrowsIntoFreshMemory() = default;
};

}  // namespace ephemera
