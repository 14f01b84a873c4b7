#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "model_store.h"
#include "pg_alloc.h"

/* Advisory-lock class of "a model name is being written" (ASCII "cfre"). */
#define MODEL_NAME_LOCK_CLASS 0x63667265

static void
spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static SPIPlanPtr
prepare(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (!plan)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	return plan;
}

static void
run(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "catalog statement failed: %s", SPI_result_code_string(rc));
}

static Datum
float_array(const float *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

static Datum
int_array(const int32 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

static Datum
float8_or_null(double x, char *null)
{
	*null = isfinite(x) ? ' ' : 'n';
	return Float8GetDatum(isfinite(x) ? x : 0.0);
}

/*
 * A model of this name that the caller may not replace is an error, not a
 * silent second model.  Returns the owner the new model keeps: the replaced
 * model's, or NULL for the caller.
 */
static char *
check_replaceable(const char *name)
{
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);
	char	   *store_owner;

	/* to_regrole: the owner role may have been dropped (then only a superuser may replace) */
	if (SPI_execute_with_args("SELECT owner, coalesce(pg_catalog.pg_has_role("
							  "pg_catalog.to_regrole(owner::pg_catalog.text)::pg_catalog.oid, 'MEMBER'), false)"
							  " FROM cfrec.models WHERE name OPERATOR(pg_catalog.=) $1 LIMIT 1",
							  1, &type, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the owner of model \"%s\"", name);
	if (SPI_processed == 0)
		return NULL;
	store_owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (!superuser() && strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "t") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("model \"%s\" belongs to role \"%s\"", name, store_owner),
				 errdetail("Only its owner, a member of that role or a superuser may replace it."),
				 errhint("Train under another name: cf_train(..., name => 'my_model').")));
	/* a superuser replacing the model of a dropped role takes it over */
	if (!OidIsValid(get_role_oid(store_owner, true)))
		return NULL;
	return store_owner;
}

static void
delete_models_named(const char *name)
{
	static const char *const children[] = {
		"model_users", "model_items", "model_tensors", "lr_sweeps", "training_log", NULL
	};
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	for (int c = 0; children[c]; c++)
	{
		char	   *sql = psprintf("DELETE FROM cfrec.%s WHERE model_id OPERATOR(pg_catalog.=) ANY "
								   "(SELECT id FROM cfrec.models WHERE name OPERATOR(pg_catalog.=) $1)",
								   children[c]);

		run(prepare(sql, 1, types), values, NULL, SPI_OK_DELETE);
	}
	run(prepare("DELETE FROM cfrec.models WHERE name OPERATOR(pg_catalog.=) $1", 1, types),
		values, NULL, SPI_OK_DELETE);
}

static int64
insert_model_row(const CfTrainedModel *tm, const char *store_owner)
{
	const CfDataset *ds = tm->data;
	const CfTrainResult *res = tm->result;
	Oid			types[29] = {
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT4OID, INT4OID, INT4OID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID,
		FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID, FLOAT8OID, FLOAT8OID,
		FLOAT8OID, FLOAT8OID, FLOAT8OID, TEXTOID, TEXTOID, NAMEOID
	};
	Datum		v[29];
	char		n[30];
	bool		isnull;
	int64		id;

	memset(n, ' ', sizeof(n));
	n[29] = '\0';
	v[0] = CStringGetTextDatum(tm->name);
	v[1] = CStringGetTextDatum(tm->source->display);
	v[2] = CStringGetTextDatum(tm->source->user_col);
	v[3] = CStringGetTextDatum(tm->source->item_col);
	v[4] = CStringGetTextDatum(tm->source->rating_col);
	if (tm->source->time_col)
		v[5] = CStringGetTextDatum(tm->source->time_col);
	else
		v[5] = (Datum) 0, n[5] = 'n';
	v[6] = CStringGetTextDatum(tm->architecture);
	v[7] = CStringGetTextDatum(tm->hyperparameters);
	v[8] = Int32GetDatum(tm->cfg->net.emb_dim);
	v[9] = Int32GetDatum(tm->cfg->net.hidden);
	v[10] = Int32GetDatum(ds->n_users);
	v[11] = Int32GetDatum(ds->n_items);
	v[12] = Int64GetDatum(ds->n_rows);
	v[13] = Int64GetDatum(ds->r.n_train);
	v[14] = Int64GetDatum(ds->r.n_valid);
	v[15] = Int64GetDatum(ds->n_skipped);
	v[16] = Float8GetDatum(ds->r.rating_min);
	v[17] = Float8GetDatum(ds->r.rating_max);
	v[18] = Float8GetDatum(ds->rating_mean);
	v[19] = Float8GetDatum(res->lr);
	v[20] = BoolGetDatum(res->sweep != NULL && tm->cfg->lr <= 0.0);
	v[21] = float8_or_null(tm->train_rmse, &n[21]);
	v[22] = float8_or_null(tm->valid_rmse, &n[22]);
	v[23] = Float8GetDatum(tm->load_seconds);
	v[24] = Float8GetDatum(res->sweep_seconds);
	v[25] = Float8GetDatum(res->train_seconds);
	v[26] = CStringGetTextDatum(tm->source->schema);
	v[27] = CStringGetTextDatum(tm->source->table);
	v[28] = DirectFunctionCall1(namein, CStringGetDatum(store_owner ? store_owner
														: GetUserNameFromId(GetUserId(), false)));

	run(prepare("INSERT INTO cfrec.models (name, source, user_col, item_col, rating_col, time_col,"
				" architecture, hyperparameters, embedding_dim, hidden, n_users, n_items,"
				" n_ratings, n_train, n_valid, rows_skipped, rating_min, rating_max, rating_mean,"
				" lr, lr_found, train_rmse, valid_rmse, load_seconds, sweep_seconds, train_seconds,"
				" source_schema, source_table, owner)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8::pg_catalog.jsonb, $9, $10, $11, $12,"
				" $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)"
				" RETURNING id", 29, types),
		v, n, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return id;
}

static void
insert_embeddings(int64 id, const char *table, const char *id_col, int32 n, int32 E,
				  const int64 *ids, const int32 *count, const float *mean, const float *emb)
{
	Oid			types[6] = {INT8OID, INT8OID, INT4OID, INT4OID, FLOAT4OID, FLOAT4ARRAYOID};
	char	   *sql = psprintf("INSERT INTO cfrec.%s (model_id, %s, idx, n_ratings, mean_rating,"
							   " embedding) VALUES ($1, $2, $3, $4, $5, $6)", table, id_col);
	SPIPlanPtr	plan = prepare(sql, 6, types);
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfrec row",
												  ALLOCSET_DEFAULT_SIZES);

	for (int32 i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);
		Datum		v[6];

		v[0] = Int64GetDatum(id);
		v[1] = Int64GetDatum(ids[i]);
		v[2] = Int32GetDatum(i);
		v[3] = Int32GetDatum(count[i]);
		v[4] = Float4GetDatum(mean[i]);
		v[5] = float_array(emb + (size_t) i * E, E);
		run(plan, v, NULL, SPI_OK_INSERT);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(row_cxt);
}

static void
insert_tensor(SPIPlanPtr plan, int64 id, const char *name, const float *vals, int32 rows,
			  int32 cols)
{
	Datum		v[4];
	int32		shape[2] = {rows, cols};

	v[0] = Int64GetDatum(id);
	v[1] = CStringGetTextDatum(name);
	v[2] = int_array(shape, cols > 0 ? 2 : 1);
	v[3] = float_array(vals, rows * Max(cols, 1));
	run(plan, v, NULL, SPI_OK_INSERT);
}

static void
insert_tensors(int64 id, const CfModel *m)
{
	Oid			types[4] = {INT8OID, TEXTOID, INT4ARRAYOID, FLOAT4ARRAYOID};
	SPIPlanPtr	plan = prepare("INSERT INTO cfrec.model_tensors (model_id, name, shape, vals)"
							   " VALUES ($1, $2, $3, $4)", 4, types);
	int32		F = 2 * m->cfg.emb_dim,
				H = m->cfg.hidden;

	/* tensors of a branch the architecture leaves out are empty: not stored */
	for (int t = CF_FIRST_DENSE; t < CF_NUM_PARAMS; t++)
	{
		if (m->sizes[t] == 0)
			continue;
		if (t == CF_W1)
			insert_tensor(plan, id, cf_param_names[t], m->p[t], H, F);
		else
			insert_tensor(plan, id, cf_param_names[t], m->p[t], (int32) m->sizes[t], 0);
	}
	for (int s = 0; s < CF_NUM_STATS; s++)
		if (m->stat_sizes[s] > 0)
			insert_tensor(plan, id, cf_stat_names[s], m->s[s], (int32) m->stat_sizes[s], 0);
}

static void
insert_sweep(int64 id, const CfTrainResult *res)
{
	Oid			types[6] = {INT8OID, INT4OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID};
	SPIPlanPtr	plan = prepare("INSERT INTO cfrec.lr_sweeps (model_id, step, lr, loss,"
							   " smoothed_loss, suggested) VALUES ($1, $2, $3, $4, $5, $6)",
							   6, types);

	for (int32 i = 0; i < res->n_sweep; i++)
	{
		Datum		v[6];
		char		n[7] = "      ";

		v[0] = Int64GetDatum(id);
		v[1] = Int32GetDatum(i + 1);
		v[2] = Float8GetDatum(res->sweep[i].lr);
		v[3] = float8_or_null(res->sweep[i].loss, &n[3]);
		v[4] = float8_or_null(res->sweep[i].smoothed_loss, &n[4]);
		v[5] = BoolGetDatum(i == res->suggested);
		run(plan, v, n, SPI_OK_INSERT);
	}
}

static void
insert_training_log(int64 id, const CfTrainResult *res)
{
	Oid			types[9] = {INT8OID, INT4OID, INT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID};
	SPIPlanPtr	plan = prepare("INSERT INTO cfrec.training_log (model_id, epoch, steps, lr,"
							   " train_loss, train_rmse, valid_rmse, ratings_per_sec,"
							   " elapsed_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							   9, types);

	for (int32 e = 0; e < res->n_epochs; e++)
	{
		const CfEpochStats *st = &res->epochs[e];
		Datum		v[9];
		char		n[10] = "         ";

		v[0] = Int64GetDatum(id);
		v[1] = Int32GetDatum(st->epoch);
		v[2] = Int64GetDatum(st->steps);
		v[3] = Float8GetDatum(st->lr);
		v[4] = float8_or_null(st->train_loss, &n[4]);
		v[5] = float8_or_null(st->train_rmse, &n[5]);
		v[6] = float8_or_null(st->valid_rmse, &n[6]);
		v[7] = Float8GetDatum(st->ratings_per_sec);
		v[8] = Float8GetDatum(st->elapsed_seconds);
		run(plan, v, n, SPI_OK_INSERT);
	}
}

int64
cf_store_save(const CfTrainedModel *tm)
{
	int64		id;
	const CfModel *m = tm->model;
	const CfDataset *ds = tm->data;
	Oid			lock_types[2] = {INT4OID, TEXTOID};
	Datum		lock_args[2] = {Int32GetDatum(MODEL_NAME_LOCK_CLASS), CStringGetTextDatum(tm->name)};
	char	   *owner;

	spi_connect();
	/* Two trainings of one name: the second waits here, then replaces the first. */
	run(prepare("SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))",
				2, lock_types), lock_args, NULL, SPI_OK_SELECT);
	owner = check_replaceable(tm->name);
	delete_models_named(tm->name);
	id = insert_model_row(tm, owner);
	insert_embeddings(id, "model_users", "user_id", ds->n_users, cf_row_width(&m->cfg),
					  ds->user_ids, ds->user_count, ds->user_mean, m->p[CF_USER_EMB]);
	insert_embeddings(id, "model_items", "item_id", ds->n_items, cf_row_width(&m->cfg),
					  ds->item_ids, ds->item_count, ds->item_mean, m->p[CF_ITEM_EMB]);
	insert_tensors(id, m);
	insert_sweep(id, tm->result);
	insert_training_log(id, tm->result);
	SPI_finish();
	return id;
}

int64
cf_store_find_model_id(const char *name)
{
	int64		id = CF_NO_MODEL;
	int			rc;

	spi_connect();
	if (name)
	{
		Oid			types[1] = {TEXTOID};
		Datum		v[1] = {CStringGetTextDatum(name)};

		rc = SPI_execute_with_args("SELECT id FROM cfrec.models WHERE name OPERATOR(pg_catalog.=) $1"
								   " ORDER BY id DESC LIMIT 1", 1, types, v, NULL, true, 1);
	}
	else
		rc = SPI_execute(superuser()
						 ? "SELECT id FROM cfrec.models ORDER BY id DESC LIMIT 1"
						 : "SELECT id FROM cfrec.models WHERE coalesce(pg_catalog.pg_has_role("
						   "pg_catalog.to_regrole(owner::pg_catalog.text)::pg_catalog.oid, 'MEMBER'), false)"
						   " ORDER BY id DESC LIMIT 1", true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not look up a model: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;

		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return id;
}

int64
cf_store_model_id(const char *name)
{
	int64		id = cf_store_find_model_id(name);

	if (id != CF_NO_MODEL)
		return id;
	if (name)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("SELECT name FROM cf_models lists the trained models.")));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("no model has been trained yet"),
			 errhint("Train one first: SELECT cf_train('ratings').")));
	return CF_NO_MODEL;
}

static char *
text_col(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

static double
float8_col(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;

	return DatumGetFloat8(SPI_getbinval(tup, desc, col, &isnull));
}

static bool
bool_col(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;

	return DatumGetBool(SPI_getbinval(tup, desc, col, &isnull));
}

static int32
int4_col(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;

	return DatumGetInt32(SPI_getbinval(tup, desc, col, &isnull));
}

/* Copies a real[] of exactly n elements into dst. */
static void
copy_floats(float *dst, Datum array, size_t n, const char *what)
{
	ArrayType  *a = DatumGetArrayTypeP(array);

	if (ARR_ELEMTYPE(a) != FLOAT4OID || ARR_HASNULL(a) ||
		(size_t) ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model has a malformed %s", what),
				 errdetail("Expected %zu real values without NULLs.", n),
				 errhint("Train the model again.")));
	memcpy(dst, ARR_DATA_PTR(a), n * sizeof(float));
}

static void
load_embeddings(int64 id, const char *table, const char *id_col, int32 n, int32 E,
				int64 *ids, int32 *count, float *mean, float *emb)
{
	Oid			types[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(id)};
	char	   *sql = psprintf("SELECT %s, idx, n_ratings, mean_rating, embedding FROM cfrec.%s"
							   " WHERE model_id OPERATOR(pg_catalog.=) $1", id_col, table);
	Portal		portal = SPI_cursor_open(NULL, prepare(sql, 1, types), v, NULL, true);
	int64		seen = 0;

	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int32		idx = int4_col(tup, desc, 2);

			if (idx < 0 || idx >= n)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("stored model %lld has an out-of-range %s index", (long long) id, table),
						 errhint("Train the model again.")));
			ids[idx] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			count[idx] = int4_col(tup, desc, 3);
			mean[idx] = DatumGetFloat4(SPI_getbinval(tup, desc, 4, &isnull));
			copy_floats(emb + (size_t) idx * E, SPI_getbinval(tup, desc, 5, &isnull), E, "embedding");
			seen++;
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	if (seen != n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model %lld has " INT64_FORMAT " rows in cfrec.%s, expected %d",
						(long long) id, seen, table, n),
				 errhint("Train the model again.")));
}

static void
load_tensors(int64 id, CfModel *m)
{
	Oid			types[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(id)};
	int			rc = SPI_execute_with_args("SELECT name, vals FROM cfrec.model_tensors"
										   " WHERE model_id OPERATOR(pg_catalog.=) $1",
										   1, types, v, NULL, true, 0);
	int			found = 0,
				expected = 0;

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the tensors of model %lld", (long long) id);
	for (int t = CF_FIRST_DENSE; t < CF_NUM_PARAMS; t++)
		expected += m->sizes[t] > 0;
	for (int s = 0; s < CF_NUM_STATS; s++)
		expected += m->stat_sizes[s] > 0;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *name = text_col(tup, desc, 1);
		bool		isnull;
		Datum		vals = SPI_getbinval(tup, desc, 2, &isnull);

		for (int t = CF_FIRST_DENSE; t < CF_NUM_PARAMS; t++)
			if (m->sizes[t] > 0 && strcmp(name, cf_param_names[t]) == 0)
				copy_floats(m->p[t], vals, m->sizes[t], name), found++;
		for (int s = 0; s < CF_NUM_STATS; s++)
			if (m->stat_sizes[s] > 0 && strcmp(name, cf_stat_names[s]) == 0)
				copy_floats(m->s[s], vals, m->stat_sizes[s], name), found++;
	}
	if (found != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model %lld is missing tensors", (long long) id),
				 errhint("Train the model again.")));
}

void
cf_store_load(int64 id, CfStoredModel *out, MemoryContext ctx)
{
	Oid			types[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(id)};
	CfNetConfig cfg;
	MemoryContext old;
	CfAllocator alloc;
	int			rc;
	HeapTuple	tup;
	TupleDesc	desc;

	spi_connect();
	rc = SPI_execute_with_args("SELECT name, pg_catalog.quote_ident(source_schema) OPERATOR(pg_catalog.||) '.'"
							   " OPERATOR(pg_catalog.||) pg_catalog.quote_ident(source_table),"
							   " user_col, item_col, rating_min, rating_max,"
							   " rating_mean, n_users, n_items, embedding_dim, hidden,"
							   " (hyperparameters OPERATOR(pg_catalog.->>) 'bn_eps')::pg_catalog.float8,"
							   " (hyperparameters OPERATOR(pg_catalog.->>) 'mlp')::pg_catalog.bool,"
							   " (hyperparameters OPERATOR(pg_catalog.->>) 'dot_dim')::pg_catalog.int4,"
							   " (hyperparameters OPERATOR(pg_catalog.->>) 'biases')::pg_catalog.bool,"
							   " (hyperparameters OPERATOR(pg_catalog.->>) 'y_min')::pg_catalog.float8,"
							   " (hyperparameters OPERATOR(pg_catalog.->>) 'y_max')::pg_catalog.float8"
							   " FROM cfrec.models WHERE id OPERATOR(pg_catalog.=) $1",
							   1, types, v, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read model %lld", (long long) id);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model %lld does not exist", (long long) id)));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	old = MemoryContextSwitchTo(ctx);
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->name = text_col(tup, desc, 1);
	out->source = text_col(tup, desc, 2);
	out->user_col = text_col(tup, desc, 3);
	out->item_col = text_col(tup, desc, 4);
	out->rating_min = float8_col(tup, desc, 5);
	out->rating_max = float8_col(tup, desc, 6);
	out->rating_mean = float8_col(tup, desc, 7);
	cf_net_config_default(&cfg, int4_col(tup, desc, 8), int4_col(tup, desc, 9));
	cfg.emb_dim = int4_col(tup, desc, 10);
	cfg.hidden = int4_col(tup, desc, 11);
	cfg.bn_eps = (float) float8_col(tup, desc, 12);
	cfg.mlp = bool_col(tup, desc, 13);
	cfg.dot_dim = int4_col(tup, desc, 14);
	cfg.biases = bool_col(tup, desc, 15);
	cfg.y_min = (float) float8_col(tup, desc, 16);
	cfg.y_max = (float) float8_col(tup, desc, 17);

	alloc = cf_context_allocator(ctx);
	cf_model_alloc(&out->model, &cfg, &alloc);
	out->user_ids = palloc_extended(sizeof(int64) * cfg.n_users, MCXT_ALLOC_HUGE);
	out->item_ids = palloc_extended(sizeof(int64) * cfg.n_items, MCXT_ALLOC_HUGE);
	out->user_count = palloc_extended(sizeof(int32) * cfg.n_users, MCXT_ALLOC_HUGE);
	out->item_count = palloc_extended(sizeof(int32) * cfg.n_items, MCXT_ALLOC_HUGE);
	out->user_mean = palloc_extended(sizeof(float) * cfg.n_users, MCXT_ALLOC_HUGE);
	out->item_mean = palloc_extended(sizeof(float) * cfg.n_items, MCXT_ALLOC_HUGE);
	load_embeddings(id, "model_users", "user_id", cfg.n_users, cf_row_width(&cfg), out->user_ids,
					out->user_count, out->user_mean, out->model.p[CF_USER_EMB]);
	load_embeddings(id, "model_items", "item_id", cfg.n_items, cf_row_width(&cfg), out->item_ids,
					out->item_count, out->item_mean, out->model.p[CF_ITEM_EMB]);
	load_tensors(id, &out->model);
	MemoryContextSwitchTo(old);
	SPI_finish();
}
