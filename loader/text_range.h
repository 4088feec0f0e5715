// A byte range [begin, end) of a string: how the chat template tells the tokenizer which parts of a
// rendered prompt are its own markup (the only text that may become control tokens).
#pragma once

#include <cstddef>

namespace moevk {

struct TextRange {
  size_t begin = 0, end = 0;
};

}  // namespace moevk
