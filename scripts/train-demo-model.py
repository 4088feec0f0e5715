#!/usr/bin/python3
"""Trains moevk's demo model: a small qwen3moe mixture-of-experts on the King James Bible.

A development-time tool (users never need it; scripts/install-train-deps.sh installs PyTorch, the
text and the `bible` reader from Debian). It
  1. reads the KJV text with Debian's `bible` program (package bible-kjv, data bible-kjv-text),
     one verse per line without references, chapters separated by a blank line;
  2. holds out every 20th chapter (chapter index % 20 == 7) as the evaluation split;
  3. learns a byte-level BPE vocabulary from the training split (GPT-2's byte-to-unicode spelling,
     split into words by exactly the "gpt-2" pre-tokenizer moevk implements: loader/tokenizer/tokenizer.cpp);
  4. trains a qwen3moe model whose forward pass is moevk's (runtime/ref/forward*.cpp): RMSNorm
     (eps 1e-6), per-head q/k RMSNorm, NEOX rope (base 10000), GQA causal attention, a softmax
     router then top-k, the top-k weights renormalised to sum 1, SwiGLU experts, a tied output
     head; loss = cross-entropy + a Switch-style load-balancing loss;
  5. writes the GGUF (Q8_0 matrices, F32 norms and routers) with its tokenizer and a ChatML
     template, and the test data next to it: PyTorch's logits for a probe prompt computed with
     the Q8_0-dequantised weights the file holds, the script's own token ids for a held-out
     string, and a held-out text sample for routing measurements.

Deterministic for a seed and a thread count (--threads; default 1).
  scripts/train-demo-model.py --out models/kjv-moe.gguf            # the committed model
  scripts/train-demo-model.py --smoke --out /tmp/smoke.gguf        # a minute-long check
"""
import argparse
import heapq
import json
import math
import os
import struct
import subprocess
import sys
import time

import numpy as np
import regex
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------- text


def read_kjv():
    """The KJV as a list of chapters, each a list of verse strings (ASCII)."""
    out = subprocess.run(["bible", "-l100000", "Gen1:1-Rev22:21"], check=True,
                         capture_output=True, text=True).stdout
    chapters, cur = [], None
    for line in out.split("\n"):
        if not line.strip():
            continue
        if line.startswith("  "):  # "  12 verse text"
            num, _, text = line.strip().partition(" ")
            assert num.isdigit(), line
            cur.append(text.strip())
        else:  # "Genesis 1": a chapter heading
            cur = []
            chapters.append(cur)
    assert len(chapters) == 1189, len(chapters)
    return chapters


def split_text(chapters):
    train, held = [], []
    for i, ch in enumerate(chapters):
        (held if i % 20 == 7 else train).append("\n".join(ch) + "\n\n")
    return "".join(train), "".join(held)


# ----------------------------------------------------------------------------------- tokenizer

# moevk's "gpt-2" pre-tokenizer (loader/tokenizer/tokenizer.cpp, pre_patterns): matches and the text between
# matches are both pieces (llama.cpp's unicode_regex_split keeps unmatched runs).
GPT2_SPLIT = regex.compile(
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def pre_split(text):
    pieces, pos = [], 0
    for m in GPT2_SPLIT.finditer(text):
        if m.start() > pos:
            pieces.append(text[pos:m.start()])
        pieces.append(m.group())
        pos = m.end()
    if pos < len(text):
        pieces.append(text[pos:])
    return pieces


def byte_to_unicode():
    """GPT-2's table: printable bytes stand for themselves, the others map to U+0100 and up."""
    out, n = {}, 256
    for b in range(256):
        printable = (33 <= b <= 126) or (0xA1 <= b <= 0xAC) or b >= 0xAE
        if printable:
            out[b] = chr(b)
        else:
            out[b] = chr(n)
            n += 1
    return out


B2U = byte_to_unicode()


def word_symbols(word):
    return tuple(B2U[b] for b in word.encode("utf-8"))


def learn_bpe(text, n_merges):
    """Merges, most frequent pair first (ties: the smallest pair), counted over distinct words."""
    freq = {}
    for w in pre_split(text):
        freq[w] = freq.get(w, 0) + 1
    words = [[list(word_symbols(w)), n] for w, n in sorted(freq.items())]
    pairs, where = {}, {}
    for wi, (syms, n) in enumerate(words):
        for a, b in zip(syms, syms[1:]):
            pairs[(a, b)] = pairs.get((a, b), 0) + n
            where.setdefault((a, b), set()).add(wi)
    # A heap of (-count, pair), refreshed lazily: an entry is current when it matches pairs[pair].
    heap = [(-n, p) for p, n in pairs.items()]
    heapq.heapify(heap)

    def bump(p, dn):
        n = pairs.get(p, 0) + dn
        if n > 0:
            pairs[p] = n
            heapq.heappush(heap, (-n, p))
        else:
            pairs.pop(p, None)

    merges = []
    while len(merges) < n_merges and heap:
        neg, best = heapq.heappop(heap)
        if pairs.get(best) != -neg:
            continue  # stale
        if -neg < 2:
            break  # no pair occurs twice: stop
        merges.append(best)
        a, b = best
        for wi in sorted(where.pop(best, ())):
            syms, n = words[wi]
            for x, y in zip(syms, syms[1:]):  # remove this word's old pairs
                bump((x, y), -n)
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[wi][0] = out
            for x, y in zip(out, out[1:]):
                bump((x, y), n)
                where.setdefault((x, y), set()).add(wi)
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.tokens = [B2U[b] for b in range(256)]
        known = set(self.tokens)
        for a, b in merges:
            if a + b not in known:  # two merges can spell the same string: one token
                known.add(a + b)
                self.tokens.append(a + b)
        self.types = [1] * len(self.tokens)
        for s in SPECIALS:
            self.tokens.append(s)
            self.types.append(3)
        self.id = {t: i for i, t in enumerate(self.tokens)}
        self.merges = merges
        self.rank = {m: r for r, m in enumerate(merges)}
        self.cache = {}
        self.eos = self.id["<|endoftext|>"]

    def encode_word(self, w):
        ids = self.cache.get(w)
        if ids is not None:
            return ids
        syms = list(word_symbols(w))
        while len(syms) > 1:  # merge the lowest-ranked pair, leftmost first
            best, bi = None, -1
            for i in range(len(syms) - 1):
                r = self.rank.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            syms[bi:bi + 2] = [syms[bi] + syms[bi + 1]]
        ids = [self.id[s] for s in syms]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        for w in pre_split(text):
            out.extend(self.encode_word(w))
        return out


# --------------------------------------------------------------------------------------- model


class Config:
    def __init__(self, **kw):
        self.n_layer, self.n_embd, self.n_head, self.n_head_kv, self.head_dim = 4, 128, 4, 2, 32
        self.n_expert, self.n_expert_used, self.n_ff_exp = 16, 2, 128
        self.n_ctx, self.eps, self.rope_base, self.n_vocab = 256, 1e-6, 10000.0, 0
        self.__dict__.update(kw)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_neox(x, pos, base):
    """x [B, T, H, D]: pairs (i, i + D/2) rotated by pos * base^(-2i/D) (moevk's ref::rope)."""
    d = x.shape[-1]
    half = d // 2
    inv = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / d)
    ang = (pos.to(torch.float64)[:, None] * inv[None, :])
    c = torch.cos(ang).to(x.dtype)[None, :, None, :]
    s = torch.sin(ang).to(x.dtype)[None, :, None, :]
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * c - b * s, a * s + b * c], dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        E, H, KV, D, X, Fx = c.n_embd, c.n_head, c.n_head_kv, c.head_dim, c.n_expert, c.n_ff_exp
        P = torch.nn.Parameter
        self.attn_norm = P(torch.ones(E))
        self.wq = P(torch.randn(H * D, E) / math.sqrt(E))
        self.wk = P(torch.randn(KV * D, E) / math.sqrt(E))
        self.wv = P(torch.randn(KV * D, E) / math.sqrt(E))
        self.wo = P(torch.randn(E, H * D) / math.sqrt(H * D) / math.sqrt(2 * c.n_layer))
        self.q_norm = P(torch.ones(D))
        self.k_norm = P(torch.ones(D))
        self.ffn_norm = P(torch.ones(E))
        self.router = P(torch.randn(X, E) * 0.02)
        self.gate = P(torch.randn(X, Fx, E) / math.sqrt(E))
        self.up = P(torch.randn(X, Fx, E) / math.sqrt(E))
        self.down = P(torch.randn(X, E, Fx) / math.sqrt(Fx) / math.sqrt(2 * c.n_layer))


class Model(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.tok_embd = torch.nn.Parameter(torch.randn(c.n_vocab, c.n_embd) * 0.05)
        self.layers = torch.nn.ModuleList(Layer(c) for _ in range(c.n_layer))
        self.output_norm = torch.nn.Parameter(torch.ones(c.n_embd))

    def forward(self, tokens):
        """tokens [B, T] -> logits [B, T, V], the load-balancing loss (mean over layers)."""
        c = self.c
        B, T = tokens.shape
        H, KV, D, X, K = c.n_head, c.n_head_kv, c.head_dim, c.n_expert, c.n_expert_used
        pos = torch.arange(T)
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.tok_embd[tokens]  # [B, T, E]
        aux = 0.0
        for ly in self.layers:
            h = rms_norm(x, ly.attn_norm, c.eps)
            q = (h @ ly.wq.t()).view(B, T, H, D)
            k = (h @ ly.wk.t()).view(B, T, KV, D)
            v = (h @ ly.wv.t()).view(B, T, KV, D)
            q = rope_neox(rms_norm(q, ly.q_norm, c.eps), pos, c.rope_base)
            k = rope_neox(rms_norm(k, ly.k_norm, c.eps), pos, c.rope_base)
            rep = H // KV  # head h reads kv head h / rep (ggml's broadcast)
            k = k.repeat_interleave(rep, dim=2)
            v = v.repeat_interleave(rep, dim=2)
            att = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(D) + mask
            o = torch.einsum("bhts,bshd->bthd", att.softmax(-1), v).reshape(B, T, H * D)
            x = x + o @ ly.wo.t()

            h = rms_norm(x, ly.ffn_norm, c.eps).reshape(B * T, -1)
            probs = (h @ ly.router.t()).softmax(-1)  # [N, X]
            wts, ids = probs.topk(K, dim=-1)
            wts = wts / wts.sum(-1, keepdim=True)
            # Switch-transformer balance: X * sum_e (share of top-k slots on e) * (mean prob of e)
            share = torch.zeros(X).index_add_(0, ids.reshape(-1), torch.ones(ids.numel()))
            aux = aux + X * (share / ids.numel() * probs.mean(0)).sum()
            out = torch.zeros_like(h)
            for e in range(X):
                tok, slot = (ids == e).nonzero(as_tuple=True)
                if tok.numel() == 0:
                    continue
                xs = h[tok]
                y = (F.silu(xs @ ly.gate[e].t()) * (xs @ ly.up[e].t())) @ ly.down[e].t()
                out.index_add_(0, tok, y * wts[tok, slot, None])
            x = x + out.view(B, T, -1)
        x = rms_norm(x, self.output_norm, c.eps)
        return x @ self.tok_embd.t(), aux / c.n_layer


# ---------------------------------------------------------------------------------------- gguf

GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9


def q8_0(a):
    """Rows of a float32 array [..., n] (n % 32 == 0) -> (Q8_0 bytes, dequantised float32)."""
    blocks = a.astype(np.float32).reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    d = (amax / 127.0).astype(np.float16)
    df = d.astype(np.float32)
    inv = np.where(df > 0, 1.0 / np.where(df > 0, df, 1), 0.0)
    q = np.clip(np.rint(blocks * inv[:, None]), -127, 127).astype(np.int8)
    raw = np.zeros((blocks.shape[0], 34), dtype=np.uint8)
    raw[:, :2] = d.view(np.uint8).reshape(-1, 2)
    raw[:, 2:] = q.view(np.uint8)
    return raw.tobytes(), (q.astype(np.float32) * df[:, None]).reshape(a.shape)


class GgufWriter:
    def __init__(self):
        self.kv, self.tensors = [], []

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def _val(self, vtype, v):
        if vtype == T_U32:
            return struct.pack("<I", v)
        if vtype == T_I32:
            return struct.pack("<i", v)
        if vtype == T_F32:
            return struct.pack("<f", v)
        if vtype == T_BOOL:
            return struct.pack("<B", 1 if v else 0)
        if vtype == T_STR:
            return self._str(v)
        raise ValueError(vtype)

    def add_tensor(self, name, shape_torch, gtype, data):
        """shape_torch: PyTorch's shape (ggml's ne reversed); data: the stored bytes."""
        self.tensors.append((name, list(reversed(shape_torch)), gtype, data))

    def write(self, path):
        out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
        for key, vtype, v in self.kv:
            out += self._str(key)
            if isinstance(vtype, tuple):  # (T_ARR, element type)
                out += struct.pack("<IIQ", T_ARR, vtype[1], len(v))
                for x in v:
                    out += self._val(vtype[1], x)
            else:
                out += struct.pack("<I", vtype) + self._val(vtype, v)
        off = 0
        for name, ne, gtype, data in self.tensors:
            out += self._str(name) + struct.pack("<I", len(ne))
            out += b"".join(struct.pack("<Q", n) for n in ne)
            out += struct.pack("<IQ", gtype, off)
            off += (len(data) + 31) // 32 * 32
        out += b"\0" * ((-len(out)) % 32)
        for _, _, _, data in self.tensors:
            out += data + b"\0" * ((-len(data)) % 32)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(out)
        os.replace(tmp, path)


def export(model, tok, path, name):
    """Writes the GGUF and loads the dequantised values back into the model (so that the probe
    logits are those of the file)."""
    c = model.c
    w = GgufWriter()
    a = "qwen3moe."
    w.add("general.architecture", T_STR, "qwen3moe")
    w.add("general.name", T_STR, name)
    for k, v in [("block_count", c.n_layer), ("context_length", c.n_ctx),
                 ("embedding_length", c.n_embd), ("feed_forward_length", c.n_ff_exp),
                 ("attention.head_count", c.n_head), ("attention.head_count_kv", c.n_head_kv),
                 ("attention.key_length", c.head_dim), ("attention.value_length", c.head_dim),
                 ("rope.dimension_count", c.head_dim), ("vocab_size", c.n_vocab),
                 ("expert_count", c.n_expert), ("expert_used_count", c.n_expert_used),
                 ("expert_feed_forward_length", c.n_ff_exp)]:
        w.add(a + k, T_U32, v)
    w.add(a + "rope.freq_base", T_F32, c.rope_base)
    w.add(a + "attention.layer_norm_rms_epsilon", T_F32, c.eps)
    w.add("tokenizer.ggml.model", T_STR, "gpt2")
    w.add("tokenizer.ggml.pre", T_STR, "gpt-2")
    w.add("tokenizer.ggml.tokens", (T_ARR, T_STR), tok.tokens)
    w.add("tokenizer.ggml.token_type", (T_ARR, T_I32), tok.types)
    w.add("tokenizer.ggml.merges", (T_ARR, T_STR), [a_ + " " + b_ for a_, b_ in tok.merges])
    for k in ["bos_token_id", "eos_token_id", "padding_token_id"]:
        w.add("tokenizer.ggml." + k, T_U32, tok.eos)
    w.add("tokenizer.ggml.add_bos_token", T_BOOL, False)
    w.add("tokenizer.chat_template", T_STR, CHAT_TEMPLATE)

    def mat(name, p):
        data, deq = q8_0(p.detach().numpy())
        w.add_tensor(name, p.shape, GGML_Q8_0, data)
        with torch.no_grad():
            p.copy_(torch.from_numpy(deq))

    def f32(name, p):
        w.add_tensor(name, p.shape, GGML_F32, p.detach().numpy().astype("<f4").tobytes())

    mat("token_embd.weight", model.tok_embd)
    f32("output_norm.weight", model.output_norm)
    for i, ly in enumerate(model.layers):
        n = "blk.%d." % i
        f32(n + "attn_norm.weight", ly.attn_norm)
        mat(n + "attn_q.weight", ly.wq)
        mat(n + "attn_k.weight", ly.wk)
        mat(n + "attn_v.weight", ly.wv)
        mat(n + "attn_output.weight", ly.wo)
        f32(n + "attn_q_norm.weight", ly.q_norm)
        f32(n + "attn_k_norm.weight", ly.k_norm)
        f32(n + "ffn_norm.weight", ly.ffn_norm)
        f32(n + "ffn_gate_inp.weight", ly.router)
        mat(n + "ffn_gate_exps.weight", ly.gate)
        mat(n + "ffn_up_exps.weight", ly.up)
        mat(n + "ffn_down_exps.weight", ly.down)
    w.write(path)


# ------------------------------------------------------------------------------------ training


def evaluate(model, data, seq):
    """Mean negative log-likelihood (nats/token) over non-overlapping windows of seq tokens."""
    n = (len(data) - 1) // seq
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, n, 16):
            rows = range(i, min(n, i + 16))
            x = torch.stack([torch.from_numpy(data[r * seq:r * seq + seq]) for r in rows])
            y = torch.stack([torch.from_numpy(data[r * seq + 1:r * seq + seq + 1]) for r in rows])
            logits, _ = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                     reduction="sum").item()
            count += y.numel()
    model.train()
    return total / count


def unigram_nll(train, held, n_vocab):
    counts = np.bincount(train, minlength=n_vocab).astype(np.float64) + 1.0  # add-one smoothing
    logp = np.log(counts / counts.sum())
    return float(-logp[held].mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="models/kjv-moe.gguf")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (on a shared 2-core machine 1 beat 2 by 3-6x: OpenMP waits)")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--balance", type=float, default=0.01, help="load-balancing loss weight")
    ap.add_argument("--vocab", type=int, default=2048, help="total vocabulary size")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--heads-kv", type=int, default=2)
    ap.add_argument("--experts", type=int, default=16)
    ap.add_argument("--experts-used", type=int, default=2)
    ap.add_argument("--ff-exp", type=int, default=128)
    ap.add_argument("--measure", type=int, default=0,
                    help="time this many steps, print tokens/s and exit")
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop training early after this long (0: never); the report says so")
    ap.add_argument("--smoke", action="store_true", help="a tiny, fast configuration")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.vocab, args.layers, args.embd, args.ff_exp = 20, 600, 2, 64, 32
        args.batch, args.seq = 4, 64
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t_start = time.time()

    chapters = read_kjv()
    train_text, held_text = split_text(chapters)
    n_merges = args.vocab - 256 - len(SPECIALS)
    merges = learn_bpe(train_text, n_merges)
    tok = Tokenizer(merges)
    assert len(tok.tokens) <= args.vocab
    train = np.array(tok.encode(train_text), dtype=np.int64)
    held = np.array(tok.encode(held_text), dtype=np.int64)
    print("text: %d train bytes -> %d tokens, %d held-out bytes -> %d tokens; vocab %d (%.1fs)"
          % (len(train_text), len(train), len(held_text), len(held), len(tok.tokens),
             time.time() - t_start), flush=True)

    c = Config(n_layer=args.layers, n_embd=args.embd, n_head=args.heads, n_head_kv=args.heads_kv,
               head_dim=args.embd // args.heads, n_expert=args.experts,
               n_expert_used=args.experts_used, n_ff_exp=args.ff_exp, n_ctx=args.seq,
               n_vocab=len(tok.tokens))
    model = Model(c)
    n_params = sum(p.numel() for p in model.parameters())
    per_layer_exp = 3 * c.n_expert * c.n_ff_exp * c.n_embd
    n_active = n_params - c.n_layer * per_layer_exp * (1 - c.n_expert_used / c.n_expert)
    print("model: %s; %d parameters, %d active per token"
          % (json.dumps(c.__dict__), n_params, n_active), flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    steps = args.measure or args.steps
    warm = max(1, min(100, steps // 10))
    B, T = args.batch, args.seq
    t_train = time.time()
    for step in range(steps):
        lr = args.lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (
            1 + math.cos(math.pi * min(1.0, step / max(1, steps - 1)))))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = rng.integers(0, len(train) - T - 1, size=B)
        x = torch.from_numpy(np.stack([train[s:s + T] for s in starts]))
        y = torch.from_numpy(np.stack([train[s + 1:s + T + 1] for s in starts]))
        logits, aux = model(x)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss = ce + args.balance * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if args.max_minutes and time.time() - t_train > 60 * args.max_minutes:
            print("stopping early at step %d: --max-minutes %g" % (step + 1, args.max_minutes))
            steps = step + 1
            break
        if step % 25 == 0 or step == steps - 1:
            el = time.time() - t_train
            print("step %d/%d  loss %.3f  balance %.3f  lr %.2e  %.0f tok/s  %.0fs"
                  % (step, steps, ce.item(), aux.item(), lr, (step + 1) * B * T / el, el),
                  flush=True)
    train_s = time.time() - t_train
    tps = steps * B * T / train_s
    if args.measure:
        print("measure: %.0f tokens/s" % tps)
        return

    held_nll = evaluate(model, held, T)
    uni = unigram_nll(train, held, len(tok.tokens))
    export(model, tok, args.out, "moevk-kjv-moe")
    held_nll_q = evaluate(model, held, T)  # with the file's (Q8_0) weights
    report = {
        "seed": args.seed, "threads": args.threads, "steps": steps, "batch": B, "seq": T,
        "train_tokens": int(len(train)), "held_tokens": int(len(held)),
        "tokens_seen": steps * B * T, "train_seconds": round(train_s),
        "tokens_per_second": round(tps), "params": n_params, "active_params": int(n_active),
        "held_ppl_f32": round(math.exp(held_nll), 2), "held_ppl_q8_0": round(math.exp(held_nll_q), 2),
        "unigram_ppl": round(math.exp(uni), 2),
        "held_bytes_per_token": round(len(held_text) / len(held), 3),
        "config": c.__dict__, "argv": sys.argv[1:],
    }
    print(json.dumps(report, indent=1), flush=True)

    # Test data next to the model: the probe (PyTorch's logits with the file's weights), the
    # tokenizer check and a held-out sample for routing measurements.
    base = os.path.splitext(args.out)[0]
    probe_text = "In the beginning God created the heaven and the earth. And the"
    probe = tok.encode(probe_text)
    with torch.no_grad():
        model.eval()
        logits, _ = model(torch.tensor([probe]))
    tok_text = held_text[:600]
    with open(base + ".testdata.json", "w") as f:
        json.dump({"probe_text": probe_text, "probe_ids": probe,
                   "probe_last_logits": [float("%.6g" % v) for v in logits[0, -1].tolist()],
                   "probe_all_argmax": logits[0].argmax(-1).tolist(),
                   "tokenize_text": tok_text, "tokenize_ids": tok.encode(tok_text),
                   "report": report}, f, indent=None)
        f.write("\n")
    with open(base + ".heldout.txt", "w") as f:
        f.write(held_text[:20000])
    print("wrote %s, %s.testdata.json, %s.heldout.txt (total %.0fs)"
          % (args.out, base, base, time.time() - t_start))


if __name__ == "__main__":
    main()
