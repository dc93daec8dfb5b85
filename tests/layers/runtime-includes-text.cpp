// Refused: runtime/ is the bottom layer.
#include "text/decoder.hpp"
