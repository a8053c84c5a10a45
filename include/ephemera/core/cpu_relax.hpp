// A spin-wait's pause, on every architecture the project builds on: lets the other hardware
// thread of the core run, and saves power, while a thread waits a few cycles for another.
#pragma once

namespace ephemera {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace ephemera
