// One validation of a GGUF file for every command (and the C API): right after gguf::File::open(),
// a file is checked for everything any command could use, so that `info`, `run`, `tokenize`,
// `template` and the others accept and refuse the same files with the same message.
//
// A file is one of two kinds, told by its tensors:
// - a model (at least one tensor): the hyper-parameters and every tensor (describe(): shapes, types,
//   layers), the tokenizer (Vocab::from_gguf(): model, tokens, scores, types, merges, special ids),
//   no more tokens than the model's n_vocab (an id past token_embd's rows could not be embedded),
//   and the chat template key and the BOS/EOS texts the template sees;
// - vocabulary-only (no tensor at all, like llama.cpp's ggml-vocab-*.gguf): the tokenizer and the chat
//   template keys, the same checks as above. Its hyper-parameters are not checked: they describe
//   weights the file does not hold (llama.cpp's vocabulary files carry those of architectures moevk
//   does not run, gpt2 for one). Commands that need weights refuse it by its kind.
// GGUF structure (offsets, types, overlapping or out-of-file tensors) is gguf::File::open()'s.
#pragma once

#include <string_view>

namespace moevk {

namespace gguf {
class File;
}

enum class GgufKind { Model, VocabOnly };

// Checks `f` as above; moevk::Error naming the key or tensor otherwise.
GgufKind validate(const gguf::File& f);

// validate(), then a moevk::Error when `command` needs weights and `f` holds a vocabulary only:
// "'PATH' holds a vocabulary only (no tensors); `moevk run` needs a model's weights".
// command: what needs them, e.g. "moevk run".
GgufKind validate(const gguf::File& f, bool need_weights, std::string_view command);

}  // namespace moevk
