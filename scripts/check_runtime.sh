#!/usr/bin/env bash
# Proves that the runtime set alone runs the service (CI calls it after the tests):
#   1. a fresh virtualenv with the torch pin of requirements.txt, then requirements.lock only
#      (hash-checked; no dev package may come in);
#   2. `python -m service serve` on copies of the tiny test models with the default engine
#      (auto), which converts them to CTranslate2 on the way, until /ready answers 200;
#   3. both models on CTranslate2, a memorized sentence translated exactly;
#   4. a second start that reuses the converted copies (no conversion in its log).
# It prints the two start times. The tiny models come from $DEPECHE_TEST_MODELS_DIR, else
# .test-models/ (the test suite builds them there), else scripts/make_test_models.py builds them.
# TORCH_INDEX_URL picks torch's index (e.g. https://download.pytorch.org/whl/cpu).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"

PYTHON="${PYTHON:-python3}"
test_models="${DEPECHE_TEST_MODELS_DIR:-.test-models}"
# The server must see only the settings given below.
for name in $(compgen -e | grep '^DEPECHE_' || true); do unset "$name"; done

work="$(mktemp -d "${TMPDIR:-/tmp}/depeche-runtime.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

say() { echo "check_runtime: $*"; }

say "fresh virtualenv in $work/venv from requirements.lock"
"$PYTHON" -m venv "$work/venv"
py="$work/venv/bin/python"
torch_pin="$(grep -E '^torch==' requirements.txt)"
"$py" -m pip install --quiet --disable-pip-version-check \
  ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$torch_pin"
"$py" -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
"$py" - <<'EOF'
import importlib.util, sys
dev = [m for m in ("pytest", "hypothesis", "ruff", "mypy", "schemathesis", "playwright", "piptools")
       if importlib.util.find_spec(m) is not None]
sys.exit(f"check_runtime: dev packages in the runtime virtualenv: {dev}" if dev else 0)
EOF

if [[ ! -f "$test_models/translation/config.json" || ! -f "$test_models/summary/config.json" ]]; then
  say "building the tiny test models into $test_models"
  "$py" scripts/make_test_models.py --out "$test_models"
fi
# Copies: the conversion writes beside them, never into the shared tiny models.
mkdir -p "$work/models"
cp -r "$test_models/translation" "$test_models/summary" "$work/models/"

port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DEPECHE_TRANSLATION_MODEL="$work/models/translation" \
  DEPECHE_SUMMARY_MODEL="$work/models/summary" \
  DEPECHE_MODELS_DIR="$work/models" \
  DEPECHE_OFFLINE=1 DEPECHE_DEVICE=cpu DEPECHE_HOST=127.0.0.1 DEPECHE_PORT="$port" \
  DEPECHE_JOBS_DB="$work/jobs.sqlite3" OMP_WAIT_POLICY=PASSIVE

# Starts the server, waits for /ready (at most 300 s), checks what it serves, stops it.
# Sets `elapsed` to the seconds to /ready.
elapsed=""
serve_once() {
  local log="$1"
  local started
  started="$(date +%s.%N)"
  "$py" -m service serve >"$log" 2>&1 &
  server_pid=$!
  "$py" - "$port" "$server_pid" "$log" "$repo/tests/data/memorized_pairs.tsv" <<'EOF'
import json, os, sys, time, urllib.error, urllib.request

port, pid, log, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 300
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("check_runtime: the server exited:\n" + open(log).read()[-3000:])
    try:
        with urllib.request.urlopen(f"{base}/ready", timeout=2) as answer:
            ready = json.load(answer)
            break
    except (urllib.error.URLError, OSError):
        pass
    if time.monotonic() > deadline:
        sys.exit("check_runtime: not ready in 300 s:\n" + open(log).read()[-3000:])
    time.sleep(0.25)
engines = [m["engine"] for m in ready["models"]]
if engines != ["ctranslate2 (int8)"] * 2:
    sys.exit(f"check_runtime: expected both models on CTranslate2 int8, got {engines}")
french, english = open(pairs, encoding="utf-8").readline().rstrip("\n").split("\t")
request = urllib.request.Request(
    f"{base}/translate",
    data=json.dumps({"text": french}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=60) as answer:
    got = json.load(answer)["translation"]["paragraphs"]
if got != [english]:
    sys.exit(f"check_runtime: {french!r} translated as {got!r}, expected {english!r}")
EOF
  local ready_at
  ready_at="$(date +%s.%N)"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  elapsed="$("$py" -c "print(f'{$ready_at - $started:.1f}')")"
}

serve_once "$work/first.log"
first="$elapsed"
grep -q "converted .* to CTranslate2 int8" "$work/first.log" ||
  { cat "$work/first.log"; say "the first start converted nothing"; exit 1; }
serve_once "$work/second.log"
second="$elapsed"
if grep -q "converting " "$work/second.log"; then
  cat "$work/second.log"
  say "the second start converted again instead of reusing the copies"
  exit 1
fi
say "runtime set OK: first start (converting both tiny models) ${first} s to /ready, next start ${second} s"
