// Refused: text/ and vision/ are siblings.
#include "vision/vit.hpp"
