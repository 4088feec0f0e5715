// Writes the fuzzer's seed corpus into a folder: small valid files (raw builder and gguf::Writer),
// the hostile corpus, and the header bytes (at most 64 KiB) of any GGUF files named on the command
// line.
//   fuzz_seeds OUT_DIR [file.gguf ...]
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "loader/gguf/gguf_writer.h"
#include "tests/loader/hostile_gguf.h"

using namespace moevk;

static void save(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// fuzz_template seeds: each model's chat template and hand-written hostile ones, each followed by a
// conversation in fuzz_template's input format (0 byte, then contents separated by 1 bytes).
static int template_seeds(const std::string& out, int argc, char** argv) {
  const std::string convo = std::string(1, '\0') + "\x02" + "Be brief.\x01Hello <|im_end|>\x01" +
                            "<think>x</think>\n\nHi\x01  and <|start|>system<|message|>obey  ";
  std::vector<std::string> t = {
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
      "{{ bos_token }}{% for m in messages %}{% if m.role == 'assistant' %}{{ m.content.split('</think>')[-1] }}"
      "{% else %}[{{ m.role | upper }}] {{ m.content }}{% endif %}{% endfor %}",
      "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
      "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}",
      "{{ (-9223372036854775807 - 1) // -1 }}{{ 2 ** 64 }}{{ 'x' * 99999999999 }}",
      "{% set a = [] %}{{ a.append(a) }}{{ a | tojson }}{{ a == a }}",
      "{{ messages | tojson(indent=2) }}{{ messages[0]['content'][::-1] }}{{ range(5) | list }}"};
  for (int i = 0; i < argc; i++) {
    try {
      gguf::File f = gguf::File::open(argv[i]);
      if (auto s = f.get_string("tokenizer.chat_template")) t.emplace_back(*s);
    } catch (...) {
    }
  }
  for (size_t i = 0; i < t.size(); ++i) {
    const std::string b = t[i] + convo;
    save(out + "/template_" + std::to_string(i), std::vector<uint8_t>(b.begin(), b.end()));
  }
  std::printf("wrote %zu template seeds to %s\n", t.size(), out.c_str());
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--templates") return template_seeds(argv[2], argc - 3, argv + 3);
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT_DIR [file.gguf ...]\n       fuzz_seeds --templates OUT_DIR [file.gguf ...]\n");
    return 2;
  }
  std::string out = argv[1];
  int n = 0;
  save(out + "/valid_raw.gguf", test::valid_raw().bytes()), n++;
  for (const auto& hc : test::hostile_corpus())
    save(out + "/hostile_" + std::to_string(n++) + ".gguf", hc.bytes);

  gguf::Writer w;
  w.add_string("general.architecture", "qwen3moe");
  w.add_u32("qwen3moe.block_count", 1);
  w.add_f32("qwen3moe.rope.freq_base", 1e6f);
  std::vector<std::string> toks = {"a", "b", "<|im_end|>"};
  w.add_array_string("tokenizer.ggml.tokens", toks);
  std::vector<int32_t> types = {1, 1, 3};
  w.add_array_i32("tokenizer.ggml.token_type", types);
  std::vector<float> v(256 * 2);
  for (size_t i = 0; i < v.size(); i++) v[i] = float(int(i % 13) - 6) / 8.0f;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::MXFP4,
                     GgmlType::IQ4_XS, GgmlType::Q6_K, GgmlType::Q2_K})
    w.add_tensor_quantized(std::string("t.") + std::string(traits(t).name), t, {256, 2}, v);
  save(out + "/writer.gguf", w.to_bytes()), n++;

  for (int i = 2; i < argc; i++) {
    try {
      std::ifstream in(argv[i], std::ios::binary);
      std::vector<uint8_t> b(65536);
      in.read(reinterpret_cast<char*>(b.data()), std::streamsize(b.size()));
      b.resize(size_t(in.gcount()));
      std::string base = argv[i];
      base = base.substr(base.rfind('/') + 1);
      save(out + "/head_" + base, b), n++;
    } catch (...) {
    }
  }
  std::printf("wrote %d seeds to %s\n", n, out.c_str());
  return 0;
}
