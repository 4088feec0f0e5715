// Development only (never a user's dependency): llama.cpp's tokenizer on held-out strings, through
// the prebuilt library that npm's node-llama-cpp ships (`npm install node-llama-cpp@3.22.1` in a
// scratch folder and run this file from a copy there: ES modules resolve packages next to the
// file). Writes the JSON that
// tests/loader/test_tokenizer_heldout.cpp compares moevk's tokenizer with:
//   { "<vocab file>": { "eog": [end-of-generation ids],
//                       "cases": [ { "text": ..., "parse_special": bool, "ids": [...] }, ... ] }, ... }
// Usage: node tokenize-peer.mjs VOCAB_DIR OUT.json [--check]   (--check: first replays llama.cpp's
// own .inp/.out vectors, to show the call matches the one that wrote them)
import fs from "node:fs";
import path from "node:path";
import {getLlama} from "node-llama-cpp";

const [dir, out] = process.argv.slice(2);
const check = process.argv.includes("--check");
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});

// Punctuation runs next to spaces, tabs and line ends (shell lines, code, prose, CJK), and the
// contraction suffixes the BPE regexes treat specially.
const punctuation = [
  "ls -la | grep foo && echo done;", "echo 'hi' >> out.txt\n", "cd ..; make -j2 2>&1 | tail -n 3\n",
  "$ rm -rf ./build/ && cmake -S . -B build\n", "user@host:~$ ", "#!/bin/sh\nset -euo pipefail\n",
  "a.b,c!? d", "x = y; // comment\n", "...!!!\n", "  --  ", "path/to/file.txt:", "foo()\n\n",
  "\"quoted\"...", "end.\r\n", "  ?! ", "(a)[b]{c}<d>", "1,000.50$ and 3.14%", "tabs\t\t;\n",
  "émigré—“quotes”…", "中文，标点。！", " ' s'll 've'RE", "?!\n\n\n", "   \n\t ;;", "a;\nb;\n",
  "if (x) { return -1; }\n", "--flag=value,other --x", "ok?)\"", "~/.bashrc; . ~/.profile ",
  "grep -v '^#' f | wc -l;;\n", "echo $((1+2));)\n", "a && b || c;\n", "ls *.txt >/dev/null 2>&1 &",
  "cmd ;)", "done;\n\n", "x=$(pwd)/..;", "sudo apt-get install -y foo.\n", "'\"`;\n", "[...]\n ",
  "end —\n", "wow!!! ??? ...\n\n  ", "  .,;:!?\t\r\n",
];

const result = {};
for (const file of fs.readdirSync(dir).filter(f => f.endsWith(".gguf")).sort()) {
  const model = await llama.loadModel({modelPath: path.join(dir, file), vocabOnly: true});
  const tok = (text, special) => Array.from(model.tokenize(text, special));
  if (check && fs.existsSync(path.join(dir, file + ".inp"))) {
    const inp = fs.readFileSync(path.join(dir, file + ".inp"), "utf8").split("\n__ggml_vocab_test__\n");
    const outs = fs.readFileSync(path.join(dir, file + ".out"), "utf8").split("\n");
    let bad = 0;
    inp.forEach((text, i) => {
      if (i >= outs.length || text === "") return;
      const want = outs[i].trim() === "" ? [] : outs[i].trim().split(/\s+/).map(Number);
      if (JSON.stringify(tok(text, false)) !== JSON.stringify(want)) ++bad;
    });
    console.error(`${file}: ${bad} of ${inp.length} llama.cpp vectors differ from this call`);
  }
  // Every control and user-defined token whose text is not empty, inside text.
  const specials = [];
  for (const t of model.iterateAllTokens()) {
    const a = model.getTokenAttributes(t);
    if (!(a.control || a.userDefined)) continue;
    const s = model.detokenize([t], true);
    if (s.length > 0 && s.length < 64) specials.push(s);
  }
  const cases = [];
  const add = (text, special) => cases.push({text, parse_special: special, ids: tok(text, special)});
  for (const s of specials.slice(0, 48)) {
    for (const special of [false, true]) {
      add(`Hello ${s} world`, special);
      add(`x${s}y\n${s}`, special);
    }
  }
  for (const p of punctuation) add(p, false);
  const eog = [];
  for (const t of model.iterateAllTokens()) if (model.isEogToken(t)) eog.push(t);
  result[file] = {eog, cases};
  console.error(`${file}: ${specials.length} special tokens (${Math.min(48, specials.length)} used), ${cases.length} cases`);
  await model.dispose();
}
fs.writeFileSync(out, JSON.stringify(result, null, 0) + "\n");
