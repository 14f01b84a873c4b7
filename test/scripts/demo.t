#!/usr/bin/env bash
# `make demo` end to end with tiny sizes, offline: the download fails at once
# (DEMO_URL points at a closed local port), so it trains on the synthetic
# fallback; then with DATA= a small MovieLens 100K folder written here and the
# time split; then --clean.  The demo keeps its cluster in its own DEMO_DIR
# under /tmp, so a developer's .demo is never touched.
#
# Run from the repo root (test/run does; the PG* it sets are not used: the
# demo starts its own cluster).
set -uo pipefail

ROOT=${CFREC_SRCDIR:-$PWD}
cd "$ROOT" || exit 1
TMP=$(mktemp -d /tmp/cfrec-demo-t.XXXXXX)
chmod 0755 "$TMP"
export DEMO_DIR=$TMP/demo
export DEMO_URL=http://127.0.0.1:9/ml-100k.zip DEMO_DOWNLOAD_TIMEOUT=20
export DEMO_USERS=60 DEMO_ITEMS=40 DEMO_RATINGS=1500
export DEMO_EPOCHS=2 DEMO_HIDDEN=16 DEMO_BATCH_SIZE=64
unset DEMO_EMBEDDING_DIM DEMO_ARCHITECTURE
unset DEMO_SPLIT DEMO_USER DEMO_DOWNLOAD DEMO_TEST_FRACTION

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
diag() { local l; while IFS= read -r l; do echo "# $l"; done <<<"$1"; }
is() {
    if [ "$1" = "$2" ]; then pass "$3"; else fail "$3"; diag "got:  '$1'"; diag "want: '$2'"; fi
}
# like FILE REGEX DESC (grep -E on the lines)
like() {
    if grep -Eq -- "$2" "$1"; then pass "$3"; else fail "$3"; diag "no line matches /$2/"; fi
}
svg_ok() {         # FILE DESC: exists, is an SVG document, well-formed
    if [ -s "$1" ] && grep -q '<svg' "$1" && xmllint --noout "$1" 2>"$TMP/xmllint.err"; then
        pass "$2"
    else
        fail "$2"
        diag "$(ls -l "$1" 2>&1; cat "$TMP/xmllint.err" 2>/dev/null)"
    fi
}
show_log() { diag "$(tail -n 60 "$1")"; }

cleanup() {
    bash "$ROOT/scripts/demo" --clean >/dev/null 2>&1 </dev/null
    [ ! -e "$DEMO_DIR/cluster" ] || bash "$ROOT/scripts/pgcluster" destroy "$DEMO_DIR/cluster" >/dev/null 2>&1
    rm -rf -- "$TMP"
}
trap cleanup EXIT

had_dot_demo=0
[ -e "$ROOT/.demo" ] && had_dot_demo=1

# `make demo` when the Makefile has its recipe; scripts/demo itself otherwise
# (then the first test fails, and the rest still check the script).
if make --no-print-directory -n demo 2>/dev/null | grep -q 'scripts/demo'; then
    pass "make demo runs scripts/demo"
    demo() { make --no-print-directory demo ${1:+DATA="$1"}; }
else
    fail "make demo runs scripts/demo"
    diag "the Makefile has no demo recipe; running bash scripts/demo"
    demo() { bash scripts/demo ${1:+"$1"}; }
fi

# ---------------------------------------------------------------- synthetic fallback
LOG=$TMP/run1.log
rc=0
demo >"$LOG" 2>&1 </dev/null || rc=$?
is "$rc" 0 "the demo runs to the end (synthetic fallback)"
[ "$rc" = 0 ] || show_log "$LOG"
like "$LOG" 'could not download MovieLens 100K' "it says the download failed"
like "$LOG" 'SYNTHETIC ratings' "it says plainly that the ratings are synthetic"
like "$LOG" 'cf_synthetic_ratings\(60, 40, 1500, seed => 1\)' "the size knobs reach cf_synthetic_ratings"
like "$LOG" 'NOTICE: +epoch 2/2' "training progress NOTICEs are shown (DEMO_EPOCHS=2)"
like "$LOG" '\| t *$' "the range test's suggestion is printed"
like "$LOG" '^rmse +\| [0-9.]+' "the evaluation on the held-out split is printed"
is "$(grep -Ec '^ *[0-9]+ \| Movie [0-9]+ +\| +-?[0-9]+\.[0-9]+ \|' "$LOG")" 10 \
   "10 recommendations with titles and scores"
like "$LOG" '\| recommended +\| predicted +\| rated highest +\| rating' "next to the titles the user rated highest"
svg_ok "$DEMO_DIR/lr_finder.svg" "lr_finder.svg is a well-formed SVG document"
svg_ok "$DEMO_DIR/training.svg" "training.svg is a well-formed SVG document"
like "$LOG" "plots: +$DEMO_DIR/lr_finder.svg $DEMO_DIR/training.svg" "the plots are named at the end"
is "$(grep -c '^==> ' "$LOG")" 10 "every step ran"

port=$(sed -n 4p "$(readlink -f "$DEMO_DIR/cluster")/postmaster.pid" 2>/dev/null)
# ---------------------------------------------------------------- DATA=, time split
ML=$TMP/ml-100k
mkdir -p "$ML"
awk 'BEGIN { srand(7); t = 880000000;
             for (u = 1; u <= 50; u++) for (i = 1; i <= 40; i++)
                 if ((u * 3 + i * 7) % 4 != 0) printf "%d\t%d\t%d\t%d\n", u, i, 1 + (u + 2 * i) % 5, t + 3600 * (u * 40 + i) }' \
    >"$ML/u.data"
awk 'BEGIN { for (i = 1; i <= 40; i++) printf "%d|Film %d (1990)|01-Jan-1990||http://x|0|1\n", i, i }' >"$ML/u.item"
LOG=$TMP/run2.log
rc=0
DEMO_SPLIT="time" demo "$ML" >"$LOG" 2>&1 </dev/null || rc=$?
is "$rc" 0 "the demo runs with DATA= a MovieLens folder"
[ "$rc" = 0 ] || show_log "$LOG"
like "$LOG" 'reusing the cluster running in' "the second run reuses the demo cluster"
like "$LOG" 'movielens layout' "the folder's layout is detected"
like "$LOG" "cf_split\('ratings', 0\.1, by => 'rated_on'\)" "DEMO_SPLIT=time holds out the latest ratings"
is "$(grep -Ec '^ *[0-9]+ \| Film [0-9]+ \(1990\) +\|' "$LOG")" 10 "recommendations carry the loaded titles"
svg_ok "$DEMO_DIR/training.svg" "training.svg again"

if [ "$had_dot_demo" = 0 ]; then
    is "$([ -e "$ROOT/.demo" ] && echo exists || echo absent)" absent "the checkout's .demo is left alone (DEMO_DIR)"
else
    pass "the checkout's .demo is left alone (DEMO_DIR) # SKIP it existed before"
fi

# ---------------------------------------------------------------- bad input
rc=0
bash scripts/demo "$TMP/no-such-folder" >"$TMP/run3.log" 2>&1 </dev/null || rc=$?
if [ "$rc" -ne 0 ] && grep -q 'is not a folder' "$TMP/run3.log"; then
    pass "a DATA that is not a folder is an error"
else
    fail "a DATA that is not a folder is an error"
    show_log "$TMP/run3.log"
fi
mkdir -p "$TMP/not-demo"
touch "$TMP/not-demo/keep"
rc=0
DEMO_DIR=$TMP/not-demo bash scripts/demo --clean >"$TMP/run4.log" 2>&1 </dev/null || rc=$?
if [ "$rc" -ne 0 ] && [ -f "$TMP/not-demo/keep" ]; then
    pass "--clean refuses a folder the demo did not make"
else
    fail "--clean refuses a folder the demo did not make"
    show_log "$TMP/run4.log"
fi

# ---------------------------------------------------------------- --clean
rc=0
bash scripts/demo --clean >"$TMP/run5.log" 2>&1 </dev/null || rc=$?
is "$rc" 0 "--clean succeeds"
is "$([ -e "$DEMO_DIR" ] && echo exists || echo gone)" gone "--clean removes the demo folder"
if [ -n "$port" ] && /usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 -p "$port"; then
    fail "--clean stops the demo cluster (port $port still answers)"
else
    pass "--clean stops the demo cluster"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
