#include "ephemera/core/large_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

namespace ephemera::large_buffer {
namespace {

// Under AddressSanitizer everything comes from operator new, which it watches; mapped memory
// it would not.
constexpr std::size_t huge_page = std::size_t{2} << 20;
constexpr std::size_t smallest_mapped = sanitized ? SIZE_MAX : huge_page;

// Smaller buffers are cache-line aligned too, so a table's first entries start on a line as the
// mapped ones do, and no entry straddles two lines.
constexpr std::align_val_t cache_line{64};

std::size_t round_up(std::size_t bytes, std::size_t unit) {
    return (bytes + unit - 1) / unit * unit;
}

}  // namespace

void* allocate(std::size_t bytes) {
    if (bytes < smallest_mapped) return ::operator new(bytes, cache_line);
    const std::size_t length = round_up(bytes, huge_page);
    // Map one huge page more than needed, then give back the unaligned head and the tail.
    // Not counted against overcommit until touched: a buffer reserved large fills only in part.
    void* mapped = mmap(nullptr, length + huge_page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapped == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(mapped);
    const std::uintptr_t aligned = round_up(start, huge_page);
    if (aligned > start) munmap(mapped, aligned - start);
    const std::uintptr_t tail = start + huge_page - aligned;  // what is left past the buffer
    if (tail > 0) munmap(reinterpret_cast<void*>(aligned + length), tail);
    void* buffer = reinterpret_cast<void*>(aligned);
    madvise(buffer, length, MADV_HUGEPAGE);  // advice only: without THP it is 4 KiB pages
    return buffer;
}

void deallocate(void* pointer, std::size_t bytes) noexcept {
    if (pointer == nullptr) return;
    if (bytes < smallest_mapped) {
        ::operator delete(pointer, cache_line);
        return;
    }
    munmap(pointer, round_up(bytes, huge_page));
}

void release(const void* begin, std::size_t bytes) noexcept {
    if (sanitized) return;
    const auto start = reinterpret_cast<std::uintptr_t>(begin);
    const std::uintptr_t first = round_up(start, huge_page);
    const std::uintptr_t end = (start + bytes) / huge_page * huge_page;
    if (end > first) madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED);
}

void populate(void* begin, std::size_t bytes) noexcept {
#ifdef MADV_POPULATE_WRITE
    if (sanitized || bytes == 0) return;
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto start = reinterpret_cast<std::uintptr_t>(begin) / page * page;
    const auto end = reinterpret_cast<std::uintptr_t>(begin) + bytes;
    madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_WRITE);
#else
    (void)begin;
    (void)bytes;
#endif
}

}  // namespace ephemera::large_buffer
