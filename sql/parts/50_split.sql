
-- cf_split: hold part of a ratings relation out for evaluation.
--
--   cf_split('ratings', 0.1)                      a random 10%, the same for
--                                                 the same seed and content
--   cf_split('ratings', 0.1, by => 'rated_on')    the latest 10% by that column
--
-- creates <relation>_train and <relation>_test next to the relation (in its
-- schema; train_name / test_name override the names, and may name a schema),
-- with the relation's columns, and returns their qualified names and sizes.
-- round(n * test_fraction) rows go to the test table, the rest to the train
-- table, read in a single statement (one snapshot), so the sizes always add up
-- to the relation's.  The relation's indexes on plain columns (say, on
-- user_id, which serving uses to exclude a user's rated items) are built on
-- both tables afterwards.
--
-- Rows are ordered by a hash of their text form combined with the seed (not
-- by random()), so the random split depends only on the rows and the seed,
-- not on their physical order; with `by`, by that column, latest first (NULLs
-- count as oldest), ties broken by the same hash, then by the text form.
--
-- The relation is resolved with the caller's search_path by the SQL wrapper
-- cf_split; the work is done by cfrec.split_relation, whose search_path is
-- fixed (a function with SET search_path could not see the caller's).

CREATE FUNCTION cfrec.split_relation(
    src            regclass,
    relation       text,
    test_fraction  float8,
    by             text,
    seed           bigint,
    train_name     text,
    test_name      text
) RETURNS TABLE (train_table text, test_table text, train_rows bigint, test_rows bigint)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- the text form of a row (hashed for the order) must not depend on the
    -- session's display settings
    SET datestyle = 'ISO, MDY'
    SET intervalstyle = 'postgres'
    SET timezone = 'UTC'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
AS $fn$
DECLARE
    src_nsp    name;
    src_rel    name;
    src_kind   "char";
    names      text[];
    parts      text[];
    nsp        name[] := ARRAY[NULL, NULL]::name[];
    rel        name[] := ARRAY[NULL, NULL]::name[];
    arg        text[] := ARRAY['train_name', 'test_name'];
    qualified  text[] := ARRAY[NULL, NULL]::text[];
    order_by   text;
    row_text   constant text := '(t.*)::pg_catalog.text';
    n_train    bigint;
    n_test     bigint;
    idx        record;
BEGIN
    IF relation IS NULL THEN
        RAISE EXCEPTION 'relation must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the name of the ratings table or view.';
    END IF;
    IF src IS NULL THEN
        RAISE EXCEPTION 'relation "%" does not exist', relation
            USING ERRCODE = 'undefined_table',
                  HINT = 'Pass the name of a table or view, schema-qualified if its schema is not on the search_path.';
    END IF;
    IF test_fraction IS NULL OR NOT (test_fraction > 0 AND test_fraction < 1) THEN
        RAISE EXCEPTION 'test_fraction must be between 0 and 1, not %', coalesce(test_fraction::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of ratings to hold out, such as 0.1 for 10%.';
    END IF;
    IF seed IS NULL THEN
        RAISE EXCEPTION 'seed must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a number, or leave seed out for 0.';
    END IF;

    SELECT n.nspname, c.relname, c.relkind INTO src_nsp, src_rel, src_kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = src;
    IF src_kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION '"%.%" is not a table, view, materialized view or foreign table', src_nsp, src_rel
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Pass the relation that holds the ratings.';
    END IF;

    IF by IS NOT NULL THEN
        PERFORM FROM pg_attribute a
         WHERE a.attrelid = src AND a.attname = by AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" does not exist in relation "%.%"', by, src_nsp, src_rel
                USING ERRCODE = 'undefined_column',
                      DETAIL = format('Its columns are: %s.',
                                      (SELECT string_agg(format('%I %s', a.attname,
                                                                format_type(a.atttypid, a.atttypmod)),
                                                         ', ' ORDER BY a.attnum)
                                         FROM pg_attribute a
                                        WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped)),
                      HINT = 'Pass by => the name of a date or time column, or leave it out for a random split.';
        END IF;
    END IF;

    -- the two tables' schemas and names
    names := ARRAY[train_name, test_name];
    FOR i IN 1..2 LOOP
        IF names[i] IS NULL THEN
            nsp[i] := src_nsp;
            rel[i] := src_rel || CASE i WHEN 1 THEN '_train' ELSE '_test' END;
            IF octet_length(src_rel::text || CASE i WHEN 1 THEN '_train' ELSE '_test' END) > 63 THEN
                RAISE EXCEPTION 'the name "%" would be too long', src_rel || CASE i WHEN 1 THEN '_train' ELSE '_test' END
                    USING ERRCODE = 'name_too_long',
                          HINT = format('Pass %s => a shorter name.', arg[i]);
            END IF;
        ELSE
            BEGIN
                parts := parse_ident(names[i]);
            EXCEPTION WHEN invalid_parameter_value THEN
                parts := NULL;
            END;
            IF parts IS NULL OR cardinality(parts) NOT IN (1, 2) THEN
                RAISE EXCEPTION '% "%" is not a valid table name', arg[i], names[i]
                    USING ERRCODE = 'invalid_name',
                          HINT = 'Pass a name such as ratings_train or myschema.ratings_train, double-quoting parts as in SQL.';
            END IF;
            IF octet_length(parts[cardinality(parts)]) > 63 THEN
                RAISE EXCEPTION '% "%" is too long', arg[i], names[i]
                    USING ERRCODE = 'name_too_long',
                          HINT = 'Names are at most 63 bytes long.';
            END IF;
            nsp[i] := CASE cardinality(parts) WHEN 2 THEN parts[1] ELSE src_nsp END;
            rel[i] := parts[cardinality(parts)];
        END IF;
        qualified[i] := format('%I.%I', nsp[i], rel[i]);
        PERFORM FROM pg_namespace n WHERE n.nspname = nsp[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'schema "%" does not exist', nsp[i]
                USING ERRCODE = 'invalid_schema_name',
                      HINT = format('Create it first, or pass %s => a name in an existing schema.', arg[i]);
        END IF;
        PERFORM FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = nsp[i] AND c.relname = rel[i];
        IF FOUND THEN
            RAISE EXCEPTION 'relation "%.%" already exists', nsp[i], rel[i]
                USING ERRCODE = 'duplicate_table',
                      HINT = format('Drop it first (DROP TABLE %s), or pass %s => another name.', qualified[i], arg[i]);
        END IF;
    END LOOP;
    IF nsp[1] = nsp[2] AND rel[1] = rel[2] THEN
        RAISE EXCEPTION 'train_name and test_name name the same table "%.%"', nsp[1], rel[1]
            USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Pass two different names.';
    END IF;

    order_by := format('pg_catalog.hashtextextended(%s, %s), %s COLLATE "C"',
                       row_text, seed, row_text);
    IF by IS NOT NULL THEN
        order_by := format('t.%I DESC NULLS LAST, ', by) || order_by;
    END IF;

    FOR i IN 1..2 LOOP
        EXECUTE format('CREATE TABLE %s (LIKE %I.%I)', qualified[i], src_nsp, src_rel);
    END LOOP;
    -- One statement, so one snapshot: the two parts are of the same rows.
    EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT t AS r,
                   pg_catalog.row_number() OVER (ORDER BY %s) AS rn,
                   pg_catalog.round((pg_catalog.count(*) OVER () * $1)::pg_catalog.numeric) AS n_test
              FROM %I.%I AS t),
        held AS (
            INSERT INTO %s SELECT (s.r).* FROM s WHERE s.rn <= s.n_test RETURNING 1)
        INSERT INTO %s SELECT (s.r).* FROM s WHERE s.rn > s.n_test
        $q$, order_by, src_nsp, src_rel, qualified[2], qualified[1])
        USING test_fraction;
    GET DIAGNOSTICS n_train = ROW_COUNT;
    EXECUTE format('SELECT pg_catalog.count(*) FROM %s', qualified[2]) INTO n_test;

    -- the relation's indexes on plain columns, built now that the data is in
    FOR idx IN
        SELECT am.amname, string_agg(format('%I', a.attname), ', ' ORDER BY k.ord) AS cols
          FROM pg_index ix
          JOIN pg_class ic ON ic.oid = ix.indexrelid
          JOIN pg_am am ON am.oid = ic.relam
          CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
         WHERE ix.indrelid = src AND ix.indpred IS NULL AND ix.indexprs IS NULL
           AND k.ord <= ix.indnkeyatts AND am.amname IN ('btree', 'hash')
         GROUP BY ix.indexrelid, am.amname
         ORDER BY ix.indexrelid
    LOOP
        FOR i IN 1..2 LOOP
            EXECUTE format('CREATE INDEX ON %s USING %I (%s)', qualified[i], idx.amname, idx.cols);
        END LOOP;
    END LOOP;
    FOR i IN 1..2 LOOP
        EXECUTE format('ANALYZE %s', qualified[i]);
    END LOOP;

    train_table := qualified[1];
    test_table := qualified[2];
    train_rows := n_train;
    test_rows := n_test;
    RETURN NEXT;
END
$fn$;

CREATE FUNCTION cf_split(
    relation       text,
    test_fraction  float8,
    by             text   DEFAULT NULL,
    seed           bigint DEFAULT 0,
    train_name     text   DEFAULT NULL,
    test_name      text   DEFAULT NULL
) RETURNS TABLE (train_table text, test_table text, train_rows bigint, test_rows bigint)
    LANGUAGE sql VOLATILE
    -- no SET search_path here: the relation is looked up on the caller's;
    -- every name below is qualified
    AS $$
        SELECT s.train_table, s.test_table, s.train_rows, s.test_rows
          FROM cfrec.split_relation(pg_catalog.to_regclass(relation), relation,
                                    test_fraction, by, seed, train_name, test_name) AS s
    $$;
COMMENT ON FUNCTION cf_split IS 'split a ratings relation into <relation>_train and <relation>_test, by time or at random (deterministic per seed)';
