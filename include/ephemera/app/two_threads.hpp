// The offline packet loop on both cores: one thread reads and decodes, the other tracks.
#pragma once

#include "ephemera/capture/reader.hpp"
#include "ephemera/track/pipeline.hpp"

namespace ephemera {

// Runs every frame of `reader` through `pipeline`: the frames are read and decoded on a second
// thread, in batches, while this thread tracks the batches decoded before. The same packets
// reach the same pipeline in the same order, so everything it counts and tracks is what calling
// pipeline.on_frame frame by frame would give. The memory tracking is about to write for the
// first time (PacketPipeline::space_ahead) is faulted in by the reading thread as it starts each
// batch, and by the tracking thread itself whenever it would otherwise wait for one.
//
// An exception on either thread stops both and is rethrown here.
void run_on_two_threads(CaptureReader& reader, PacketPipeline& pipeline);

}  // namespace ephemera
