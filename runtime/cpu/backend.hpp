// The CPU backend (Caps::cpu_backend): each op as CPU code over the mapped memory of its tensors,
// recorded as a CPU step of the sequence (Sequence::cpu_step) that runs when the sequence runs, so
// run-time values (decode position, token ids) are read then. Chosen on CPU devices (lavapipe,
// unified memory) when OpenBLAS loads; GLIMPSE_BACKEND=vulkan|cpu forces either side. A step keeps
// copies of the tensors it reads (their handles, not their data): it may run after the caller's
// objects are gone.
#pragma once

#include "runtime/backend.hpp"

namespace glimpse::cpu {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  bool attention_f16_kv() const override { return true; }
  // Recording is free here (closures), and a pass's memory is better handed back between calls.
  bool replay_recorded_passes() const override { return false; }

  // One file per op family: runtime/cpu/linear.cpp, norm.cpp (layer_norm, softmax),
  // attention.cpp (attention, kv_append), misc.cpp (the rest).
  GLIMPSE_BACKEND_OPS(, override)
};

}  // namespace glimpse::cpu
