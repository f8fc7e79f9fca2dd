#!/usr/bin/env bash
# Send a French article to a running Dépêche service and print its key points and translation.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_FILE="$SCRIPT_DIR/examples/seed_article.fr.txt"

usage() {
  cat <<EOF
Usage: $(basename "$0") [--stream] [FILE|-] [BASE_URL]

Send a French news article to a running Dépêche service (POST BASE_URL/summarize) and
print its key points in English, each with its flags in plain words (a number, date or
name the article does not state, a dropped negation) and its source sentences, then the
translation checks (numbers the English lost or added), then the English translation.

Options:
  --stream  ask for the streamed answer (Accept: application/x-ndjson) and print the
            translation paragraph by paragraph as it arrives, then the key points and
            the translation checks

Arguments:
  FILE      article as UTF-8 plain text; '-' reads standard input
            (default: scripts/examples/seed_article.fr.txt)
  BASE_URL  service address (default: \$DEPECHE_URL, else http://127.0.0.1:8000)

Environment:
  DEPECHE_URL      default BASE_URL
  DEPECHE_TITLE    headline of the article, sent as "title"
  DEPECHE_API_KEY  sent as "Authorization: Bearer <key>" when set
  DEPECHE_TIMEOUT  seconds to wait for the answer (default: 300)

Uses jq when present, else python3, to build the request and format the answer; with
neither it escapes the text in bash and prints the raw JSON answer.

Exit status: 0 on success, 1 when the service answers with an error, before or during a
stream (its code and message go to standard error), 2 on a usage error, curl's status when
the service can't be reached.
EOF
}

die() {
  printf '%s: %s\n' "$(basename "$0")" "$1" >&2
  exit "${2:-1}"
}

have() { command -v "$1" >/dev/null 2>&1; }

STREAM=0
ARGS=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --stream) STREAM=1 ;;
    -?*) usage >&2; die "unknown option: $arg" 2 ;;
    *) ARGS+=("$arg") ;;
  esac
done
[[ ${#ARGS[@]} -le 2 ]] || { usage >&2; die "too many arguments" 2; }

FILE="${ARGS[0]:-$DEFAULT_FILE}"
BASE_URL="${ARGS[1]:-${DEPECHE_URL:-http://127.0.0.1:8000}}"
BASE_URL="${BASE_URL%/}"
TITLE="${DEPECHE_TITLE:-}"
TIMEOUT="${DEPECHE_TIMEOUT:-300}"
[[ $TIMEOUT =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DEPECHE_TIMEOUT must be a number of seconds" 2
have curl || die "curl is required" 2

TMP_DIR="$(mktemp -d)"
trap 'rm -rf "$TMP_DIR"' EXIT
umask 077

INPUT="$TMP_DIR/article.txt"
if [[ $FILE == "-" ]]; then
  cat >"$INPUT"
else
  [[ -f $FILE && -r $FILE ]] || die "cannot read $FILE" 2
  INPUT="$FILE"
fi

# Pure-bash JSON string escaper: backslash, double quote and control characters.
json_escape() {
  local s="$1" ch code
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\n'/\\n}"
  s="${s//$'\r'/\\r}"
  s="${s//$'\t'/\\t}"
  s="${s//$'\b'/\\b}"
  s="${s//$'\f'/\\f}"
  for code in 1 2 3 4 5 6 7 11 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31; do
    printf -v ch '%b' "\\x$(printf '%02x' "$code")"
    s="${s//"$ch"/$(printf '\\u%04x' "$code")}"
  done
  printf '"%s"' "$s"
}

BODY="$TMP_DIR/body.json"
if have jq; then
  jq -Rs --arg title "$TITLE" \
    '{text: .} + (if $title != "" then {title: $title} else {} end)' <"$INPUT" >"$BODY"
elif have python3; then
  python3 - "$INPUT" "$TITLE" >"$BODY" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8", errors="replace") as fh:
    body = {"text": fh.read()}
if sys.argv[2]:
    body["title"] = sys.argv[2]
print(json.dumps(body, ensure_ascii=False))
PY
else
  text=""
  IFS= read -r -d '' text <"$INPUT" || true
  {
    printf '{"text":%s' "$(json_escape "$text")"
    [[ -z $TITLE ]] || printf ',"title":%s' "$(json_escape "$TITLE")"
    printf '}\n'
  } >"$BODY"
fi

HEADERS="$TMP_DIR/headers"
ACCEPT="application/json"
[[ $STREAM -eq 0 ]] || ACCEPT="application/x-ndjson"
printf 'Content-Type: application/json\nAccept: %s\n' "$ACCEPT" >"$HEADERS"
if [[ -n ${DEPECHE_API_KEY:-} ]]; then
  # Through a file, so the key does not show in the process list.
  printf 'Authorization: Bearer %s\n' "$DEPECHE_API_KEY" >>"$HEADERS"
fi

# Streamed: print the head and each paragraph as its line arrives (everything else is kept
# for the end). The first event is always the head or paragraph 0.
show_paragraphs() {
  if have jq; then
    jq -n --unbuffered -r 'foreach inputs as $e (0; . + 1;
      (if . == 1 and (($e | type) == "object") and ($e.event // "") != "error"
        and ($e.event // "") != "" then "Translation:" else empty end),
      ($e | if type != "object" then empty
        elif .event == "head" then
          ((.title // empty | select(. != "")), (.standfirst // empty | select(. != "")), "")
        elif .event == "paragraph" then .text, ""
        else empty end))' 2>/dev/null || cat >/dev/null
  elif have python3; then
    python3 -u -c '
import json, sys
first = True
for line in sys.stdin:
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if not isinstance(event, dict) or event.get("event") not in ("head", "paragraph"):
        continue
    if first:
        print("Translation:")
        first = False
    if event["event"] == "head":
        for part in (event.get("title"), event.get("standfirst")):
            if part:
                print(part)
        print()
    else:
        print(event.get("text") or "")
        print()
'
  else
    cat
  fi
}

# The JSON answer from the stream's events: the fields of `key_points` and `done`.
rebuild_answer() {
  if have jq; then
    jq -s 'reduce .[] as $e ({};
      if ($e | type) == "object" and ($e.event == "key_points" or $e.event == "done")
      then . + ($e | del(.event)) else . end)' "$1"
  else
    python3 - "$1" <<'PY'
import json, sys
out = {}
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        event = json.loads(line)
        if event.get("event") in ("key_points", "done"):
            out.update({k: v for k, v in event.items() if k != "event"})
print(json.dumps(out, ensure_ascii=False))
PY
  fi
}

RESPONSE="$TMP_DIR/response.json"
status=0
if [[ $STREAM -eq 0 ]]; then
  http_code="$(curl -sS --max-time "$TIMEOUT" -X POST -H @"$HEADERS" \
    --data-binary @"$BODY" -o "$RESPONSE" -w '%{http_code}' "$BASE_URL/summarize")" || status=$?
else
  EVENTS="$TMP_DIR/events.ndjson"
  RESPONSE_HEADERS="$TMP_DIR/response-headers"
  : >"$RESPONSE_HEADERS"
  {
    curl -sS -N --max-time "$TIMEOUT" -X POST -H @"$HEADERS" --data-binary @"$BODY" \
      -D "$RESPONSE_HEADERS" "$BASE_URL/summarize" || echo "$?" >"$TMP_DIR/curl-status"
  } | tee "$EVENTS" | show_paragraphs
  [[ ! -s $TMP_DIR/curl-status ]] || status="$(cat "$TMP_DIR/curl-status")"
  http_code="$(awk 'toupper($1) ~ /^HTTP\// { code = $2 } END { print code }' "$RESPONSE_HEADERS")"
  cp "$EVENTS" "$RESPONSE"
fi
if [[ $status -eq 28 ]]; then
  die "no answer from $BASE_URL within $TIMEOUT s (raise DEPECHE_TIMEOUT?)" "$status"
elif [[ $status -ne 0 ]]; then
  die "could not reach $BASE_URL (curl exit $status); is the service running?" "$status"
fi

# "code: message (request_id ...)" of the error envelope in $RESPONSE, else its first bytes.
envelope_message() {
  message=""
  if have jq; then
    message="$(jq -r 'if (.error | type) == "object" then
        "\(.error.code // "error"): \(.error.message // "")"
        + (if .error.request_id then " (request_id \(.error.request_id))" else "" end)
      else empty end' "$RESPONSE" 2>/dev/null || true)"
  elif have python3; then
    message="$(python3 - "$RESPONSE" 2>/dev/null <<'PY' || true
import json, sys
err = json.load(open(sys.argv[1], encoding="utf-8")).get("error")
if isinstance(err, dict):
    line = f"{err.get('code') or 'error'}: {err.get('message') or ''}"
    if err.get("request_id"):
        line += f" (request_id {err['request_id']})"
    print(line)
PY
)"
  else
    # Neither jq nor python3: pick the envelope's code and message out with bash regexes.
    raw="$(head -c 4000 "$RESPONSE" 2>/dev/null || true)"
    re_code='"code"[[:space:]]*:[[:space:]]*"([^"]*)"'
    re_message='"message"[[:space:]]*:[[:space:]]*"(([^"\\]|\\.)*)"'
    if [[ $raw =~ $re_code ]]; then
      message="${BASH_REMATCH[1]}"
      if [[ $raw =~ $re_message ]]; then message+=": ${BASH_REMATCH[1]}"; fi
    fi
  fi
  if [[ -z $message ]]; then
    message="$(head -c 2000 "$RESPONSE" 2>/dev/null || true)"
  fi
  printf '%s' "$message"
}

if [[ ! $http_code =~ ^2 ]]; then
  message="$(envelope_message)"
  die "HTTP $http_code from $BASE_URL/summarize: ${message:-no body}" 1
fi

if [[ $STREAM -eq 1 ]]; then
  # A failure after the stream started arrives as its last line: an `error` event.
  last="$(grep -v '^[[:space:]]*$' "$EVENTS" | tail -n 1 || true)"
  if [[ $last =~ ^\{\"event\":\"error\" ]]; then
    printf '%s\n' "$last" >"$RESPONSE"
    message="$(envelope_message)"
    die "the stream from $BASE_URL/summarize failed: ${message:-no body}" 1
  fi
  if have jq || have python3; then
    rebuild_answer "$EVENTS" >"$RESPONSE"
  else
    exit 0  # the raw events are already printed
  fi
fi

if have jq; then
  jq -r '(.meta.warnings // [])[] | "warning: \(.)"' "$RESPONSE" >&2 2>/dev/null || true
  # Each key point, then its flags in plain words (see README "Grounding and checks").
  jq -r --argjson stream "$STREAM" '
    def pct: (. * 100 | round | tostring) + "%";
    def flags:
      (if .replaced then
        "  ! replaced by sentence \(.sources[0].sentence // "?"); the point was: \"\(.original)\""
       else empty end),
      ((.checks // [])[] | select(.supported | not)
        | "  ! \(.note // "unsupported \(.kind) \"\(.value)\"")"),
      (if ((.sources // []) | length) > 0
        then "  from sentence " + ([.sources[] | "\(.sentence) (\(.score | pct))"] | join(", "))
        else "  (no sentence of the article shares its words)" end);
    def check_line:
      "sentence \(.sentence): number \"\(.value)\" is "
      + (if .problem == "missing" then "in the French but not in the English"
         else "in the English but not in the French" end);
    "Key points:",
    ((.grounding // []) as $grounding
      | (.key_points // []) | to_entries[]
      | "- \(.value)", (($grounding[.key] // null) | if . == null then empty else flags end)),
    (if ((.translation_checks // []) | length) > 0
      then "", "Translation checks:", (.translation_checks[] | "- " + check_line)
      else empty end),
    (if $stream == 1 then empty else
      "",
      "Translation:",
      (if (.translation.title // "") != "" then .translation.title, "" else empty end),
      (if ((.translation.paragraphs // []) | length) > 0
        then (.translation.paragraphs | join("\n\n"))
        else (.translation.text // "") end)
    end)
  ' "$RESPONSE"
elif have python3; then
  python3 - "$RESPONSE" "$STREAM" <<'PY'
import json, sys
data = json.load(open(sys.argv[1], encoding="utf-8"))
streamed = sys.argv[2] == "1"  # the translation is printed already
for warning in (data.get("meta") or {}).get("warnings") or []:
    print(f"warning: {warning}", file=sys.stderr)
print("Key points:")
grounding = data.get("grounding") or []
for index, point in enumerate(data.get("key_points") or []):
    print(f"- {point}")
    entry = grounding[index] if index < len(grounding) else None
    if not entry:
        continue
    sources = entry.get("sources") or []
    if entry.get("replaced"):
        where = sources[0]["sentence"] if sources else "?"
        print(f'  ! replaced by sentence {where}; the point was: "{entry.get("original")}"')
    for check in entry.get("checks") or []:
        if not check.get("supported"):
            note = check.get("note") or f'unsupported {check.get("kind")} "{check.get("value")}"'
            print(f"  ! {note}")
    if sources:
        where = ", ".join(f'{s["sentence"]} ({round(s["score"] * 100)}%)' for s in sources)
        print(f"  from sentence {where}")
    else:
        print("  (no sentence of the article shares its words)")
checks = data.get("translation_checks") or []
if checks:
    print()
    print("Translation checks:")
    for check in checks:
        where = (
            "in the French but not in the English"
            if check.get("problem") == "missing"
            else "in the English but not in the French"
        )
        print(f'- sentence {check.get("sentence")}: number "{check.get("value")}" is {where}')
if streamed:
    sys.exit(0)
print()
print("Translation:")
translation = data.get("translation") or {}
if translation.get("title"):
    print(translation["title"])
    print()
paragraphs = translation.get("paragraphs") or []
print("\n\n".join(paragraphs) if paragraphs else translation.get("text") or "")
PY
else
  cat "$RESPONSE"
  echo
fi
