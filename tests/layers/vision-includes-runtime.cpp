// Allowed: vision/ sits on runtime/.
#include "runtime/ops.hpp"
#include "vision/vit.hpp"
