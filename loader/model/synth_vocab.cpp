// synth: the tokenizer of synthesised models, a byte-level BPE vocabulary trained on a short text
// of our own (see synth.h).
#include "loader/model/synth.h"

#include <algorithm>
#include <map>
#include <set>

#include "loader/error.h"

namespace moevk::synth {

namespace {

// ---- tokenizer

// GPT-2's byte-to-unicode table: printable bytes map to themselves, the others to U+0100 and up.
std::vector<std::string> byte_tokens() {
  std::vector<std::string> out(256);
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {  // cp < 0x800 for every code point used here
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    out[b] = utf8(printable ? b : next++);
  }
  return out;
}

// Our own training text: short English prose about what the models in this project do.
constexpr std::string_view kText =
    "The model reads the prompt one token at a time and writes the next token. "
    "Each layer of the model has an attention part and a feed forward part. "
    "In a mixture of experts model the feed forward part is made of many experts, and a router "
    "chooses the few experts that see each token. The router gives every expert a score; the "
    "experts with the highest scores are used and their outputs are added with the weights of "
    "the router. Most of the weights of the model are in the experts, but each token only uses "
    "a small part of them, so the model is fast for its size. When the experts do not fit in "
    "the memory of the graphics card, the runtime keeps the experts that are used most often on "
    "the card and copies the other experts when they are needed. A good cache and a good guess "
    "of the next experts make this almost as fast as having every expert on the card. "
    "The user asks a question and the assistant answers it. The system message tells the "
    "assistant what to do. Hello! How are you today? I am fine, thank you. What is the time? "
    "It is ten past three in the afternoon. Where is the station? The station is there, near "
    "the river. There are 12 trains and 345 people; 6 of them are waiting for the 7 o'clock "
    "train. The weather is nice and the sun is shining on the water of the river.";

// Splits text into GPT-2-style words: an optional leading space followed by a run of letters, a run
// of digits or a run of other non-space characters; other spaces stand alone.
std::vector<std::string> pre_split(std::string_view text) {
  std::vector<std::string> words;
  auto cls = [](char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalpha(u) || c == '\'') return 0;
    if (std::isdigit(u)) return 1;
    if (c == ' ') return 3;
    return 2;
  };
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    if (text[i] == ' ' && i + 1 < text.size() && cls(text[i + 1]) != 3) ++i;
    const int c = cls(text[i]);
    while (i < text.size() && cls(text[i]) == c) {
      ++i;
      if (c == 3) break;
    }
    words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

}  // namespace

Vocab make_vocab(const Options& o) {
  Vocab v;
  const std::vector<std::string> bytes = byte_tokens();
  v.tokens = bytes;

  // BPE training: words as sequences of token strings, weighted by frequency.
  std::map<std::string, int> freq;
  for (const std::string& w : pre_split(kText)) ++freq[w];
  std::vector<std::pair<std::vector<std::string>, int>> words;
  for (const auto& [w, n] : freq) {
    std::vector<std::string> pieces;
    for (char c : w) pieces.push_back(bytes[static_cast<uint8_t>(c)]);
    words.push_back({std::move(pieces), n});
  }
  std::set<std::string> known(bytes.begin(), bytes.end());
  for (uint32_t m = 0; m < o.n_merges; ++m) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [p, n] : words)
      for (size_t i = 0; i + 1 < p.size(); ++i) pairs[{p[i], p[i + 1]}] += n;
    // Most frequent pair; ties to the smallest pair (std::map order) for determinism.
    const std::pair<std::string, std::string>* best = nullptr;
    int best_n = 1;
    for (const auto& [pair, n] : pairs)
      if (n > best_n) best = &pair, best_n = n;
    if (!best) break;  // no pair occurs twice: stop
    const auto [a, b] = *best;
    v.merges.push_back(a + " " + b);
    // Two merges can spell the same string ("ab c" and "a bc"): one token for it.
    if (known.insert(a + b).second) v.tokens.push_back(a + b);
    for (auto& [p, n] : words) {
      std::vector<std::string> q;
      for (size_t i = 0; i < p.size(); ++i) {
        if (i + 1 < p.size() && p[i] == a && p[i + 1] == b) {
          q.push_back(a + b);
          ++i;
        } else {
          q.push_back(p[i]);
        }
      }
      p = std::move(q);
    }
  }
  v.token_types.assign(v.tokens.size(), 1);
  auto special = [&](const char* s) {
    v.tokens.emplace_back(s);
    v.token_types.push_back(3);
    return static_cast<uint32_t>(v.tokens.size() - 1);
  };
  v.bos = v.eos = special("<|endoftext|>");
  v.im_start = special("<|im_start|>");
  v.im_end = special("<|im_end|>");
  if (o.n_vocab != 0 && o.n_vocab < v.tokens.size())
    fail("synth: a vocabulary of {} tokens is smaller than the {} tokens of the BPE vocabulary",
         o.n_vocab, v.tokens.size());
  // Padding: unused tokens (type 5); no merge makes them (the training text has no '[').
  for (size_t id = v.tokens.size(); id < o.n_vocab; ++id) {
    v.tokens.push_back(fmt::format("[PAD{}]", id));
    v.token_types.push_back(5);
  }
  v.pre = (o.arch == Arch::Qwen3Moe || o.arch == Arch::Qwen2Moe) ? "qwen2" : "gpt-2";
  v.chat_template =
      "{% for message in messages %}"
      "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
      "{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  return v;
}

}  // namespace moevk::synth
