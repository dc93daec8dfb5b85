// Allowed: a program on the public API includes glimpse.h(pp).
#include "glimpse.hpp"
#include "options.hpp"
