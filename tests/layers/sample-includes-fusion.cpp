// Refused: a program on the public API (the CLI, the VQA app, the server, the desktop sample) sees
// include/ alone.
#include "glimpse.hpp"
#include "fusion/family.hpp"
