#!/usr/bin/env bash
# moevk chat through a real terminal (tmux): a multi-turn conversation, Ctrl-C stopping a reply without
# ending the chat, and /exit. Usage: tests/cli/chat.sh path/to/moevk
set -uo pipefail
MOEVK=$(readlink -f "${1:?usage: chat.sh path/to/moevk}")
command -v tmux >/dev/null || { echo "FAIL: tmux is not installed (scripts/install-deps.sh installs it)"; exit 1; }
TMP=$(mktemp -d)
S=moevk-chat-test-$$
trap 'tmux kill-session -t $S 2>/dev/null; rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

m=$TMP/chat.gguf
"$MOEVK" synth --arch qwen3moe --type Q8_0 --seed 5 -o "$m" >/dev/null || { echo "FAIL: synth"; exit 1; }

# Waits until the pane shows `pattern` (up to $2 seconds).
wait_for() {
  local pattern=$1 secs=${2:-120} i
  for ((i = 0; i < secs * 5; i++)); do
    tmux capture-pane -p -t $S -S -200 > "$TMP/pane" 2>/dev/null || return 1
    grep -q -- "$pattern" "$TMP/pane" && return 0
    sleep 0.2
  done
  return 1
}
count() { tmux capture-pane -p -t $S -S -200 | grep -c -- "$1"; }

tmux new-session -d -s $S -x 200 -y 50 \
  "$MOEVK chat -m $m -sys 'You are terse.' --temp 0 -n 4 -c 256; echo CHAT-EXITED rc=\$?; sleep 30"
wait_for "^>" 120 || fail "no prompt: $(cat "$TMP/pane")"
tmux send-keys -t $S "hello there" Enter
wait_for "^> hello there" 10 || fail "input not echoed"
for i in $(seq 1 600); do [ "$(count '^>')" -ge 2 ] && break; sleep 0.2; done
[ "$(count '^>')" -ge 2 ] || fail "no second prompt after the first reply: $(tmux capture-pane -p -t $S)"
tmux send-keys -t $S "and again" Enter
for i in $(seq 1 600); do [ "$(count '^>')" -ge 3 ] && break; sleep 0.2; done
[ "$(count '^>')" -ge 3 ] || fail "no third prompt after the second turn"
tmux send-keys -t $S "/exit" Enter
wait_for "CHAT-EXITED rc=0" 30 || fail "/exit did not end the chat with rc 0: $(cat "$TMP/pane")"
tmux kill-session -t $S

# Ctrl-C during a long reply stops the reply, not the chat. --ignore-eos and a large context keep the
# reply running when the Ctrl-C comes (a sampled end-of-generation token, or 256 tokens on lavapipe's
# row-lane kernels, ended it before the 3 s; a Ctrl-C at the idle prompt is another case).
tmux new-session -d -s $S -x 200 -y 50 \
  "$MOEVK chat -m $m --temp 1 --min-p 0 --top-k 0 --ignore-eos -n 100000 -c 16384 --seed 9; echo CHAT-EXITED rc=\$?; sleep 30"
wait_for "^>" 120 || fail "no prompt (second session)"
tmux send-keys -t $S "tell me a long story" Enter
sleep 3
tmux send-keys -t $S C-c
wait_for "reply stopped\|context full" 120
for i in $(seq 1 300); do [ "$(count '^>')" -ge 2 ] && break; sleep 0.2; done
[ "$(count '^>')" -ge 2 ] || fail "Ctrl-C ended the chat or no prompt came back: $(tmux capture-pane -p -t $S)"
grep -q "CHAT-EXITED" <(tmux capture-pane -p -t $S) && fail "Ctrl-C killed the chat"
tmux send-keys -t $S C-d
wait_for "CHAT-EXITED rc=0" 30 || fail "Ctrl-D did not end the chat cleanly"

[ $fails -eq 0 ] && echo "chat.sh: all checks passed" || { echo "chat.sh: $fails failure(s)"; exit 1; }
