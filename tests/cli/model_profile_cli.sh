#!/bin/sh
# tests/cli/model_profile_cli.sh WPCTL — `wpctl model profile`: usage and
# data errors (exit 2 / exit 1, one line), and on a small generated model a
# profile whose measured points are positive and whose fit is consistent
# with them (time to first token grows with the prompt; decode at the
# chosen slots equals that batch's measured time per token).
set -u
W=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

"$W" model profile >/dev/null 2>"$T/err"; [ $? -eq 2 ] || fail "no FILE: want exit 2"
"$W" model profile "$T/missing.bin" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] || fail "missing file: want exit 1, one line"
"$W" model profile "$T/x.bin" --backend model >/dev/null 2>&1; [ $? -eq 2 ] || fail "timing backend"
"$W" model profile --help | grep -q "model profile FILE" || fail "--help"

"$W" model gen --dim 32 --layers 2 --heads 4 --kv-heads 2 --vocab 64 --seq-len 80 --seed 3 \
    -o "$T/m.bin" >/dev/null || fail "gen"
"$W" model profile "$T/m.bin" --steps 8 --max-batch 4 --threads 1 --json >"$T/p.json" ||
    fail "profile --json"
python3 - "$T/p.json" <<'PY' || fails=$((fails + 1))
import json, sys
d = json.load(open(sys.argv[1]))
p = d["profile"]
assert p["name"] == "m" and d["threads"] == 1, d
assert [x["batch"] for x in d["decode"]] == [1, 4], d["decode"]
assert all(x["tpot_ms"] > 0 and x["tokens_per_s"] > 0 for x in d["decode"])
assert [x["prompt_tokens"] for x in d["prefill"]] == [4, 16, 64], d["prefill"]
assert all(x["ttft_ms"] > 0 for x in d["prefill"])
chosen = [x for x in d["decode"] if x["batch"] == p["slots_per_gpu"]]
assert chosen and abs(chosen[0]["tpot_ms"] - p["decode_ms_per_token"]) < 1e-9, p
assert p["prefill_base_ms"] >= 0 and p["prefill_ms_per_token"] >= 0
assert p["prefill_base_ms"] + p["prefill_ms_per_token"] > 0
assert p["size_bytes"] > 32 * 64 * 4 and p["load_bytes_per_s"] > 0
assert p["typical_out_tokens"] == 8
print("ok   profile json")
PY
"$W" model profile "$T/m.bin" --steps 8 --max-batch 4 >"$T/p.txt" || fail "profile text"
grep -q "^  wpctl catalog add m --size-gb" "$T/p.txt" || fail "text profile line"
[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all ok"
