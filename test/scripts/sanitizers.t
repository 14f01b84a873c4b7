#!/usr/bin/env bash
# Sanitizers beyond the ctest suite (whose math-core tests always run under
# AddressSanitizer and UBSan):
#
#  - the server side under UBSan: cfrec is built with -fsanitize=undefined
#    (aborting on the first report) into a private copy of the PostgreSQL 15
#    installation, so the system's install is untouched; a cluster from that
#    copy runs with the UBSan runtime preloaded into the postmaster, and the
#    regression, pgTAP and fuzz suites run against it.  Pass: every suite
#    passes, no report is written, no backend dies of a signal.  (ASan cannot
#    be preloaded into Debian's postgres: it deadlocks in bindtextdomain
#    before main.)
#  - the math core under valgrind: the ctest programs built without
#    sanitizers, each run under memcheck with full leak checking; all but
#    test_trainer, whose 30,000-rating trainings take over ten minutes under
#    memcheck (it runs under ASan and UBSan in the ctest suite).
#
# Needs root or the postgres user, like test/run.  CFREC_SANITIZER_FUZZ_SECONDS
# bounds the fuzz part (default 45); CFREC_KEEP_TMP=1 keeps the work directory.
set -u
cd "${CFREC_SRCDIR:-$(dirname "${BASH_SOURCE[0]}")/../..}" || exit 1
ROOT=$PWD
n=0
failed=0
ok() {   # STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
diag_file() { sed 's/^/# /' "$1" | tail -n "${2:-40}"; }

ctests=()
for c in test/c/test_*.c; do
    [ "$(basename "$c")" = test_trainer.c ] || ctests+=("$c")
done
echo "1..$((9 + ${#ctests[@]}))"
WORK=$(mktemp -d /tmp/cfrec-sanitizers.XXXXXX)
chmod 755 "$WORK"
PREFIX=$WORK/pg
PGBIN=$PREFIX/usr/lib/postgresql/15/bin
cleanup() {
    PGBIN=$PGBIN bash "$ROOT/scripts/pgcluster" destroy "$WORK/cluster" >/dev/null 2>&1 || true
    [ -n "${CFREC_KEEP_TMP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the math core under valgrind
SRC=$WORK/src
mkdir -p "$SRC"
cp -a Makefile cfrec.control src sql test "$SRC/"
rm -f "$SRC"/src/*.o "$SRC"/*.so "$SRC"/test/c/*.test
make -C "$SRC" -s CTEST_CFLAGS= ctest >"$WORK/ctest-build.log" 2>&1
rc=$?
ok $rc "the ctest programs built without sanitizers, for valgrind"
[ $rc -eq 0 ] || diag_file "$WORK/ctest-build.log"
for c in "${ctests[@]}"; do
    name=$(basename "$c" .c)
    log=$WORK/valgrind-$name.log
    (cd "$SRC" && valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        "test/c/$name.test" >"$log.out" 2>"$log")
    rc=$?
    ok $rc "$name under valgrind memcheck: no error, no leak, its own tests pass"
    [ $rc -eq 0 ] || { diag_file "$log"; grep '^not ok' "$log.out" | sed 's/^/# /'; }
done

# ---- the server under UBSan
# PostgreSQL finds its lib and share directories relative to its binaries, so
# a copy of the tree is a private installation; the headers stay shared.
mkdir -p "$PREFIX/usr/lib/postgresql" "$PREFIX/usr/share/postgresql" "$PREFIX/usr/include"
cp -a /usr/lib/postgresql/15 "$PREFIX/usr/lib/postgresql/" &&
    cp -a /usr/share/postgresql/15 "$PREFIX/usr/share/postgresql/" &&
    ln -s /usr/include/postgresql "$PREFIX/usr/include/postgresql" &&
    [ "$("$PGBIN/pg_config" --pkglibdir)" = "$PREFIX/usr/lib/postgresql/15/lib" ]
ok $? "a private copy of PostgreSQL 15 under $PREFIX"

SAN="-fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
rm -f "$SRC"/src/*.o "$SRC"/*.so
make -C "$SRC" -s PG_CONFIG="$PGBIN/pg_config" COPT="$SAN" all install >"$WORK/build.log" 2>&1
rc=$?
ok $rc "cfrec built with $SAN and installed into the copy"
[ $rc -eq 0 ] || diag_file "$WORK/build.log"

REPORTS=$WORK/reports
mkdir -p "$REPORTS" && chmod 777 "$REPORTS"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$REPORTS/ubsan"
LD_PRELOAD=$(gcc -print-file-name=libubsan.so) PGBIN=$PGBIN PGCLUSTER_PORT_BASE=55600 \
    bash scripts/pgcluster start "$WORK/cluster" >"$WORK/env" 2>"$WORK/cluster.log"
rc=$?
ok $rc "a cluster from the copy, the UBSan runtime preloaded"
if [ $rc -ne 0 ]; then
    diag_file "$WORK/cluster.log"
    for _ in 1 2 3 4 5; do ok 1 "not run: no cluster"; done
    exit 1
fi
eval "$(cat "$WORK/env")"
export PGHOST PGPORT PGUSER PGDATABASE
export PATH=$PGBIN:$PATH
DATADIR=$(readlink -f "$WORK/cluster")

make -C "$SRC" -s PG_CONFIG="$PGBIN/pg_config" installcheck ISOLATION= TAP_TESTS= \
    >"$WORK/regress.log" 2>&1
rc=$?
ok $rc "pg_regress suite (test/sql) passes"
[ $rc -eq 0 ] || { diag_file "$WORK/regress.log"; [ -f "$SRC/regression.diffs" ] && diag_file "$SRC/regression.diffs" 80; }

"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c 'DROP DATABASE IF EXISTS cfrec_sanitizers' \
    -c 'CREATE DATABASE cfrec_sanitizers' -c '\c cfrec_sanitizers' -c 'CREATE EXTENSION pgtap' \
    -c 'CREATE EXTENSION cfrec' >"$WORK/pgtap.log" 2>&1 &&
    PGDATABASE=cfrec_sanitizers pg_prove -q test/pgtap/*.sql >>"$WORK/pgtap.log" 2>&1
rc=$?
ok $rc "pgTAP suite (test/pgtap) passes"
[ $rc -eq 0 ] || diag_file "$WORK/pgtap.log"

perl test/fuzz --seconds "${CFREC_SANITIZER_FUZZ_SECONDS:-45}" >"$WORK/fuzz.log" 2>&1
rc=$?
ok $rc "fuzz (test/fuzz) passes"
[ $rc -eq 0 ] || diag_file "$WORK/fuzz.log"

reports=$(find "$REPORTS" -type f | wc -l)
[ "$reports" -eq 0 ]
ok $? "no UBSan report ($reports files)"
for f in $(find "$REPORTS" -type f | head -3); do diag_file "$f" 30; done

! grep -q "terminated by signal" "$DATADIR"/log/*.log 2>/dev/null
ok $? "no backend terminated by a signal"
[ "$failed" -eq 0 ]
