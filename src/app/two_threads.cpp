#include "ephemera/app/two_threads.hpp"

#include <array>
#include <atomic>
#include <exception>
#include <memory>
#include <span>
#include <thread>

#include "ephemera/core/cpu_relax.hpp"
#include "ephemera/core/large_buffer.hpp"

namespace ephemera {
namespace {

// Big enough that handing a batch over costs little per packet, small enough that the ring
// (batch_count batches of 80-byte packets, 2.6 MB) stays in cache.
constexpr std::size_t batch_size = 4096;
constexpr std::size_t batch_count = 8;

// The fresh memory of each growing buffer, as of one moment.
using FreshSpans = std::array<std::span<std::byte>, max_growing_buffers>;

FreshSpans fresh_memory_of(std::span<const GrowsIntoFreshMemory* const> growing) noexcept {
    FreshSpans spans;
    for (std::size_t i = 0; i < growing.size(); ++i) spans[i] = growing[i]->fresh_memory_ahead();
    return spans;
}

struct Batch {
    std::array<TimedPacket, batch_size> frames;
    std::size_t size = 0;
    // Set by the tracking thread as it gives the batch back: memory it is about to write for
    // the first time, for the reading thread to fault in first (the tracking thread does it
    // itself when it would otherwise wait).
    FreshSpans fresh_memory;
};

// A single-producer, single-consumer ring of batches. Each side counts the batches it has
// finished; a side that must wait spins briefly (the other is usually about to finish one), then
// sleeps on the counter.
class BatchRing {
  public:
    BatchRing() : batches_(std::make_unique<Batch[]>(batch_count)) {}

    // Producer: the batch to fill as number `sequence`, once the consumer is done with its slot;
    // nullptr when the consumer has stopped.
    Batch* claim(std::uint64_t sequence) {
        const std::uint64_t needed = sequence + 1 - batch_count;
        if (sequence >= batch_count && !wait_until_at_least(consumed_, needed)) return nullptr;
        return &batches_[sequence % batch_count];
    }
    void publish(std::uint64_t sequence) { advance(produced_, sequence + 1); }
    // Producer: no more batches (after the last publish, or on an error).
    void finish() {
        produced_.fetch_or(finished_flag, std::memory_order_release);
        produced_.notify_one();
    }

    // Consumer: whether wait(sequence) would return at once.
    bool ready(std::uint64_t sequence) const {
        const std::uint64_t value = produced_.load(std::memory_order_acquire);
        return (value & finished_flag) != 0 || value >= sequence + 1;
    }
    // Consumer: batch number `sequence`, or nullptr once the producer has finished before it.
    Batch* wait(std::uint64_t sequence) {
        if (!wait_until_at_least(produced_, sequence + 1)) return nullptr;
        return &batches_[sequence % batch_count];
    }
    void release(std::uint64_t sequence) { advance(consumed_, sequence + 1); }
    // Consumer: stop, whatever the producer is doing (on an error while tracking).
    void stop() {
        consumed_.fetch_or(finished_flag, std::memory_order_release);
        consumed_.notify_one();
    }

  private:
    static constexpr std::uint64_t finished_flag = std::uint64_t{1} << 63;

    static void advance(std::atomic<std::uint64_t>& counter, std::uint64_t value) {
        counter.store(value, std::memory_order_release);
        counter.notify_one();
    }

    // True once `counter` reaches `target`; false if the other side finished (or stopped) first.
    static bool wait_until_at_least(std::atomic<std::uint64_t>& counter, std::uint64_t target) {
        for (int spin = 0;; ++spin) {
            const std::uint64_t value = counter.load(std::memory_order_acquire);
            if ((value & finished_flag) != 0) return (value & ~finished_flag) >= target;
            if (value >= target) return true;
            if (spin < 4096) {
                cpu_relax();
            } else {
                counter.wait(value, std::memory_order_acquire);
            }
        }
    }

    std::unique_ptr<Batch[]> batches_;
    alignas(64) std::atomic<std::uint64_t> produced_{0};
    alignas(64) std::atomic<std::uint64_t> consumed_{0};
};

void fault_in(const FreshSpans& spaces) {
    for (const std::span<std::byte> space : spaces) {
        large_buffer::populate(space.data(), space.size());
    }
}

void read_and_decode(CaptureReader& reader, PacketPipeline& pipeline, BatchRing& ring) {
    const RawFrame* frame = nullptr;
    bool more = true;
    for (std::uint64_t sequence = 0; more; ++sequence) {
        Batch* batch = ring.claim(sequence);
        if (batch == nullptr) return;  // the tracking thread stopped
        fault_in(batch->fresh_memory);
        batch->size = 0;
        while (batch->size < batch_size && (more = (frame = reader.next()) != nullptr)) {
            if (pipeline.decode_frame(frame->timestamp, frame->link_type, frame->bytes,
                                      batch->frames[batch->size])) {
                ++batch->size;
            }
        }
        ring.publish(sequence);
    }
}

void track(PacketPipeline& pipeline, BatchRing& ring, ReadAhead* file_reading,
           std::span<const GrowsIntoFreshMemory* const> growing) {
    for (std::uint64_t sequence = 0;; ++sequence) {
        // About to wait for the reading thread: read the next piece of its file for it, and fault
        // in what this thread will write next itself. Which thread has time to spare depends on
        // the capture and on how slow fresh memory is; the other's populate then finds the pages
        // present and returns at once.
        if (file_reading != nullptr && !ring.ready(sequence)) file_reading->fill();
        if (!ring.ready(sequence)) fault_in(fresh_memory_of(growing));
        Batch* batch = ring.wait(sequence);
        if (batch == nullptr) return;
        pipeline.on_decoded(std::span<const TimedPacket>(batch->frames.data(), batch->size));
        batch->fresh_memory = fresh_memory_of(growing);
        ring.release(sequence);
    }
}

}  // namespace

void run_on_two_threads(CaptureReader& reader, PacketPipeline& pipeline,
                        std::span<const GrowsIntoFreshMemory* const> growing) {
    if (growing.size() > max_growing_buffers) growing = growing.first(max_growing_buffers);
    BatchRing ring;
    ReadAhead* file_reading = reader.share_reading();
    std::exception_ptr reading_failed;
    std::thread reading([&] {
        try {
            read_and_decode(reader, pipeline, ring);
        } catch (...) {
            reading_failed = std::current_exception();
        }
        ring.finish();
    });
    try {
        track(pipeline, ring, file_reading, growing);
    } catch (...) {
        ring.stop();
        reading.join();
        throw;
    }
    reading.join();
    if (reading_failed) std::rethrow_exception(reading_failed);
}

}  // namespace ephemera
