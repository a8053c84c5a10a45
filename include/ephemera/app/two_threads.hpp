// The offline packet loop on both cores: one thread reads and decodes, the other tracks.
#pragma once

#include <span>

#include "ephemera/capture/reader.hpp"
#include "ephemera/core/fresh_memory.hpp"
#include "ephemera/track/pipeline.hpp"

namespace ephemera {

// Runs every frame of `reader` through `pipeline`: the frames are read and decoded on a second
// thread, in batches, while this thread tracks the batches decoded before. The same packets
// reach the same pipeline in the same order, so everything it counts and tracks is what calling
// pipeline.on_frame frame by frame would give. The memory that the buffers in `growing` (those
// the tracking thread fills: the connection table, the sink's log) are about to write for the
// first time is faulted in by the reading thread as it starts each batch, and by the tracking
// thread itself whenever it would otherwise wait for one. Past max_growing_buffers, the rest are
// filled as they would be on one thread.
//
// An exception on either thread stops both and is rethrown here.
inline constexpr std::size_t max_growing_buffers = 4;
void run_on_two_threads(CaptureReader& reader, PacketPipeline& pipeline,
                        std::span<const GrowsIntoFreshMemory* const> growing = {});

}  // namespace ephemera
