// Refused: vision/ must not see fusion/.
#include "fusion/model.hpp"
