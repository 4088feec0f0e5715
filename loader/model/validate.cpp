#include "loader/model/validate.h"

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "loader/template/chat_template.h"
#include "loader/tokenizer/vocab.h"

namespace moevk {

GgufKind validate(const gguf::File& f) {
  const GgufKind kind = f.tensors().empty() ? GgufKind::VocabOnly : GgufKind::Model;
  const Vocab vocab = Vocab::from_gguf(f);
  chat_template_of(f);  // a chat template key that is not a string
  chat_context_of(f);   // BOS/EOS ids outside the tokens
  if (kind == GgufKind::Model) {
    const ModelDesc d = describe(f);
    if (static_cast<uint64_t>(vocab.n_vocab()) > d.n_vocab)
      fail("the tokenizer has {} tokens (tokenizer.ggml.tokens) but the model embeds {} "
           "(token_embd.weight rows): ids past {} could not be evaluated",
           vocab.n_vocab(), d.n_vocab, d.n_vocab - 1);
  }
  return kind;
}

GgufKind validate(const gguf::File& f, bool need_weights, std::string_view command) {
  const GgufKind kind = validate(f);
  if (need_weights && kind == GgufKind::VocabOnly)
    fail("'{}' holds a vocabulary only (no tensors); {} needs a model's weights", f.path(), command);
  return kind;
}

}  // namespace moevk
