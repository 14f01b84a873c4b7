#!/usr/bin/env bash
# bin/cfrec-load on small Netflix Prize and MovieLens (100K and csv) folders it
# writes itself: row counts and values, Latin-1 titles with commas, an empty
# movie block, a missing combined_data file, malformed lines (reported with
# their line number; failing without --skip-bad and committing nothing),
# --replace, the existing-table error, quoted names, progress lines, and a
# load by a role that is not a superuser.
#
# Run from the repo root with PG* set to a throwaway cluster (test/run does).
set -uo pipefail

ROOT=${CFREC_SRCDIR:-$PWD}
LOAD=$ROOT/bin/cfrec-load
DB=cfrec_loader_t
ROLE=cfrec_loader_t_role
TMP=$(mktemp -d /tmp/cfrec-loader-t.XXXXXX)

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
diag() { local l; while IFS= read -r l; do echo "# $l"; done <<<"$1"; }
# ok DESC CMD...: the command succeeds
ok() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# is GOT WANT DESC
is() {
    if [ "$1" = "$2" ]; then pass "$3"; else fail "$3"; diag "got:  '$1'"; diag "want: '$2'"; fi
}
# like TEXT REGEX DESC (grep -E, over TEXT with its lines joined by spaces)
like() {
    if tr '\n' ' ' <<<"$1" | grep -Eq -- "$2"; then pass "$3"; else fail "$3"; diag "no match for /$2/ in:"; diag "$1"; fi
}

sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB" -c "$1" </dev/null 2>&1; }
admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "$1" </dev/null >/dev/null; }

# run_load ARGS...: runs the loader; sets RC, OUT (stdout) and ERR (stderr)
run_load() {
    RC=0
    PGDATABASE=$DB "$LOAD" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || RC=$?
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
}

cleanup() {
    admin "DROP DATABASE IF EXISTS $DB" 2>/dev/null
    admin "DROP ROLE IF EXISTS $ROLE" 2>/dev/null
    rm -rf -- "$TMP"
}
trap cleanup EXIT

admin "DROP DATABASE IF EXISTS $DB"
admin "DROP ROLE IF EXISTS $ROLE"
admin "CREATE DATABASE $DB"

# ---------------------------------------------------------------- fixtures
NF=$TMP/netflix
mkdir -p "$NF"
# movie 2 has no ratings (an empty block); combined_data_2.txt is missing
printf '%s\n' '1:' '1488844,3,2005-09-06' '822109,5,2005-05-13' '2:' '3:' \
    '1488844,4,2005-01-01' '30878,1,2004-12-31' >"$NF/combined_data_1.txt"
printf '%s\r\n' '4:' '30878,2,2003-03-03' >"$NF/combined_data_3.txt"     # CRLF too
# Latin-1: \xe9 is e-acute, \xfc u-umlaut; titles with commas, a NULL year
printf '1,2003,Dinosaur Planet\n2,2004,Isle of Man TT 2004 Review\n3,NULL,Lord of the Rings: Extended, Bonus, Material\n4,1999,Am\xe9lie, caf\xe9 M\xfcller\n' \
    >"$NF/movie_titles.csv"
printf '%s\n' '1:' '1488844' '3:' '30878' '822109' >"$NF/probe.txt"

NFBAD=$TMP/netflix-bad
mkdir -p "$NFBAD"
printf '%s\n' '1:' '1488844,3,2005-09-06' '822109,5,2005-05-13' '30878,five,2005-05-13' \
    '2:' '1488844,4,2005-02-30' '30878,1,2004-12-31' >"$NFBAD/combined_data_1.txt"

ML=$TMP/ml-100k
mkdir -p "$ML"
printf '1\t10\t4\t881250949\n2\t10\t5\t891717742\n1\t20\t3\t874965758\n' >"$ML/u.data"
printf '10|Mis\xe9rables, Les (1995)|01-Jan-1995||http://us.imdb.com/M/x|0|1\n20|unknown||||1|0\n' >"$ML/u.item"

MLBAD=$TMP/ml-100k-bad
mkdir -p "$MLBAD"
printf '1\t10\t4\t881250949\n2\t10\t5\n1\t20\t3\t874965758\n' >"$MLBAD/u.data"

CSV=$TMP/ml-latest
mkdir -p "$CSV"
printf '%s\n' 'userId,movieId,rating,timestamp' '1,1,4.0,964982703' '1,3,3.5,964981247' \
    '2,1,0.5,1445714835' >"$CSV/ratings.csv"
printf '%s\n' 'movieId,title,genres' '1,Toy Story (1995),Adventure|Animation' \
    '3,"Grumpier Old Men, The (1995)",Comedy|Romance' \
    '5,"Father of the Bride Part II, ""Reprise"" (1995)",Comedy' \
    "7,Am$(printf '\xc3\xa9')lie (2001),Comedy" >"$CSV/movies.csv"

# ---------------------------------------------------------------- Netflix
run_load netflix "$NF"
is "$RC" 0 "netflix: loads"
like "$OUT" 'loaded 5 ratings into public\.ratings; 4 titles into public\.movies; 3 probe rows into public\.ratings_probe' \
    "netflix: the summary counts ratings, titles and probe rows"
like "$ERR" 'combined_data_2\.txt, combined_data_4\.txt' "netflix: the missing combined_data files are named"
is "$(sql "SELECT string_agg(format('%s %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
             FROM pg_attribute WHERE attrelid = 'ratings'::regclass AND attnum > 0")" \
   "user_id bigint, item_id bigint, rating smallint, rated_on date" "netflix: ratings columns and types"
is "$(sql "SELECT string_agg(format('%s,%s,%s,%s', user_id, item_id, rating, rated_on), ' ' ORDER BY item_id, user_id) FROM ratings")" \
   "822109,1,5,2005-05-13 1488844,1,3,2005-09-06 30878,3,1,2004-12-31 1488844,3,4,2005-01-01 30878,4,2,2003-03-03" \
   "netflix: every rating, with its movie (after the empty block too) and date"
is "$(sql "SELECT count(*) FROM ratings WHERE item_id = 2")" 0 "netflix: the empty movie block adds no rows"
is "$(sql "SELECT title FROM movies WHERE item_id = 3")" "Lord of the Rings: Extended, Bonus, Material" \
   "netflix: a title with commas is whole"
is "$(sql "SELECT coalesce(year::text, 'NULL') FROM movies WHERE item_id = 3")" NULL "netflix: year NULL is NULL"
is "$(sql "SELECT title = U&'Am\00E9lie, caf\00E9 M\00FCller', year FROM movies WHERE item_id = 4")" "t|1999" \
   "netflix: Latin-1 titles are decoded"
is "$(sql "SELECT string_agg(format('%s/%s', item_id, user_id), ' ' ORDER BY item_id, user_id) FROM ratings_probe")" \
   "1/1488844 3/30878 3/822109" "netflix: probe.txt is loaded as (item_id, user_id)"
is "$(sql "SELECT string_agg(indexdef, '; ') FROM pg_indexes WHERE tablename = 'ratings'")" \
   "CREATE INDEX ratings_user_id_idx ON public.ratings USING btree (user_id)" "netflix: ratings are indexed on user_id"

run_load netflix "$NF"
ok "existing tables: a second load without --replace fails" test "$RC" -ne 0
like "$ERR" 'public\.(movies|ratings).* already exist.*--replace' "existing tables: the error names them and --replace"
is "$(sql "SELECT count(*) FROM ratings")" 5 "existing tables: left as they were"

run_load netflix "$NF" --replace
is "$RC" 0 "--replace: reloads"
is "$(sql "SELECT (SELECT count(*) FROM ratings), (SELECT count(*) FROM movies), (SELECT count(*) FROM ratings_probe)")" \
   "5|4|3" "--replace: the same rows, not twice as many"

# ---------------------------------------------------------------- malformed lines
run_load netflix "$NFBAD" --table bad --titles bad_movies
ok "malformed: the load fails" test "$RC" -ne 0
like "$ERR" "combined_data_1\.txt, line 4: malformed line.*30878,five" "malformed: reported with file and line number"
is "$(sql "SELECT to_regclass('bad') IS NULL")" t "malformed: nothing was committed"

run_load netflix "$NFBAD" --replace
ok "malformed with --replace: fails" test "$RC" -ne 0
is "$(sql "SELECT count(*) FROM ratings")" 5 "malformed with --replace: the old table is kept (one transaction)"

run_load netflix "$NFBAD" --table bad --titles bad_movies --skip-bad
is "$RC" 0 "--skip-bad: loads the good lines"
like "$ERR" "skipping .*line 4.*skipping .*line 6: malformed line \(Date" "--skip-bad: each bad line is reported (a bad date too)"
like "$OUT" "loaded 3 ratings into public\.bad .*skipped 2 malformed lines" "--skip-bad: the summary counts them"
is "$(sql "SELECT count(*) FROM bad")" 3 "--skip-bad: only the good lines are in"

# ---------------------------------------------------------------- MovieLens 100K
run_load movielens "$ML" --table ml --titles ml_movies
is "$RC" 0 "ml-100k: loads"
is "$(sql "SELECT string_agg(format('%s,%s,%s,%s', user_id, item_id, rating, rated_on), ' ' ORDER BY user_id, item_id) FROM ml")" \
   "1,10,4,1997-12-04 1,20,3,1997-09-22 2,10,5,1998-04-04" "ml-100k: ratings with the UTC date of the Unix time"
is "$(sql "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'ml'::regclass AND attname = 'rating'")" \
   smallint "ml-100k: whole-star ratings are smallint"
is "$(sql "SELECT title = U&'Mis\00E9rables, Les (1995)', year FROM ml_movies WHERE item_id = 10")" "t|1995" \
   "ml-100k: u.item titles (Latin-1) and the year of the release date"
is "$(sql "SELECT title, coalesce(year::text, 'NULL') FROM ml_movies WHERE item_id = 20")" "unknown|NULL" \
   "ml-100k: no release date, no year"

run_load auto "$MLBAD" --table mlbad
ok "ml-100k malformed: fails" test "$RC" -ne 0
like "$ERR" "u\.data, line 2: malformed line" "ml-100k malformed: reported with its line number"

# ---------------------------------------------------------------- MovieLens csv
run_load auto "$CSV" --table 'My "Ratings"' --titles 'odd titles'
is "$RC" 0 "ml csv: loads (auto-detected), into tables with odd names"
is "$(sql "SELECT string_agg(format('%s,%s,%s,%s', user_id, item_id, rating, rated_on), ' ' ORDER BY user_id, item_id) FROM \"My \"\"Ratings\"\"\"")" \
   "1,1,4,2000-07-30 1,3,3.5,2000-07-30 2,1,0.5,2015-10-24" "ml csv: half stars and dates"
is "$(sql "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '\"My \"\"Ratings\"\"\"'::regclass AND attname = 'rating'")" \
   real "ml csv: ratings are real"
is "$(sql "SELECT string_agg(format('%s|%s', title, year), ' / ' ORDER BY item_id) FROM \"odd titles\" WHERE item_id IN (3, 5)")" \
   'Grumpier Old Men, The (1995)|1995 / Father of the Bride Part II, "Reprise" (1995)|1995' \
   "ml csv: quoted titles with commas and quotes; year from the title"
is "$(sql "SELECT title = U&'Am\00E9lie (2001)' FROM \"odd titles\" WHERE item_id = 7")" t "ml csv: UTF-8 titles"
is "$("$LOAD" detect "$CSV") $("$LOAD" detect "$NF")" "movielens netflix" "detect names the layout"

# ---------------------------------------------------------------- progress
PROG=$TMP/progress
mkdir -p "$PROG"
awk 'BEGIN { print "1:"; for (i = 1; i <= 40000; i++) printf "%d,%d,2005-01-%02d\n", i, 1 + i % 5, 1 + i % 28 }' \
    >"$PROG/combined_data_1.txt"
RC=0
PGDATABASE=$DB CFREC_LOAD_PROGRESS_SECONDS=0 "$LOAD" netflix "$PROG" --table prog >"$TMP/out" 2>"$TMP/err" </dev/null || RC=$?
is "$RC" 0 "progress: a larger file loads"
like "$(cat "$TMP/err")" 'public\.prog: [0-9,]+ rows, [0-9.]+% of [0-9.]+ [kM]B, [0-9,]+ rows/s \(combined_data_1\.txt\)' \
    "progress: rows, percent of bytes and rows/s on stderr"
is "$(sql "SELECT count(*), count(DISTINCT user_id) FROM prog")" "40000|40000" "progress: every row is in"

# ---------------------------------------------------------------- not a superuser
admin "CREATE ROLE $ROLE LOGIN"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "CREATE SCHEMA loader_s AUTHORIZATION $ROLE" </dev/null >/dev/null
RC=0
PGUSER=$ROLE PGDATABASE=$DB "$LOAD" movielens "$ML" --schema loader_s >"$TMP/out" 2>"$TMP/err" </dev/null || RC=$?
is "$RC" 0 "a role that is not a superuser can load (into --schema)"
is "$(sql "SELECT r.rolname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE c.oid = 'loader_s.ratings'::regclass")|$(sql "SELECT count(*) FROM loader_s.ratings")" \
   "$ROLE|3" "the role owns its loaded table"

echo "1..$n"
[ "$failed" -eq 0 ]
