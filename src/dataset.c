#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/relation.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "dataset.h"
#include "idmap.h"
#include "rng.h"
#include "settings.h"

static const char *const user_candidates[] = {"user_id", "userid", "user", NULL};
static const char *const item_candidates[] = {"item_id", "itemid", "movie_id", "movieid", "item", NULL};
static const char *const rating_candidates[] = {"rating", "stars", "score", NULL};

static char *
column_list(TupleDesc desc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&buf, "%s%s %s", buf.len > 0 ? ", " : "",
						 NameStr(att->attname), format_type_be(att->atttypid));
	}
	return buf.data;
}

static Form_pg_attribute
find_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att;
	}
	return NULL;
}

/* The given column, or the one common name the relation has. */
static Form_pg_attribute
choose_column(TupleDesc desc, const char *display, const char *role, const char *argname,
			  const char *given, const char *const *candidates)
{
	Form_pg_attribute found = NULL;
	int			matches = 0;

	if (given)
	{
		found = find_column(desc, given);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in relation \"%s\"", given, display),
					 errdetail("Its columns are: %s.", column_list(desc)),
					 errhint("Pass the %s column's name as %s.", role, argname)));
		return found;
	}
	for (int c = 0; candidates[c]; c++)
	{
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && pg_strcasecmp(NameStr(att->attname), candidates[c]) == 0)
			{
				found = att;
				matches++;
			}
		}
	}
	if (matches == 1)
		return found;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 matches == 0
			 ? errmsg("could not find the %s column of relation \"%s\"", role, display)
			 : errmsg("more than one column of relation \"%s\" could be the %s column", display, role),
			 errdetail("Its columns are: %s.", column_list(desc)),
			 errhint("Name it with %s => 'column'.", argname)));
	return NULL;				/* keep the compiler quiet */
}

static void
check_type(Form_pg_attribute att, const char *display, const char *role, bool integer_only)
{
	Oid			t = getBaseType(att->atttypid);
	bool		ok = t == INT2OID || t == INT4OID || t == INT8OID;

	if (!integer_only)
		ok = ok || t == FLOAT4OID || t == FLOAT8OID || t == NUMERICOID;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s column \"%s\" of relation \"%s\" has type %s", role,
						NameStr(att->attname), display, format_type_be(att->atttypid)),
				 integer_only
				 ? errdetail("User and item ids must be smallint, integer or bigint.")
				 : errdetail("Ratings must be of a numeric type."),
				 errhint("Map the column to %s in a view and train on the view.",
						 integer_only ? "bigint ids" : "a number")));
}

void
cf_source_resolve(CfSource *src, const char *relation, const char *user_col,
				  const char *item_col, const char *rating_col, const char *time_col)
{
	RangeVar   *rv;
	Relation	rel;
	TupleDesc	desc;
	char		kind;
	AclResult	acl;
	char	   *nspname;

	rv = makeRangeVarFromNameList(textToQualifiedNameList(cstring_to_text(relation)));
	src->relid = RangeVarGetRelid(rv, AccessShareLock, false);
	rel = relation_open(src->relid, NoLock);
	kind = rel->rd_rel->relkind;
	nspname = get_namespace_name(RelationGetNamespace(rel));
	src->qualified = quote_qualified_identifier(nspname, RelationGetRelationName(rel));
	src->display = psprintf("%s.%s", nspname, RelationGetRelationName(rel));
	src->schema = nspname;
	src->table = pstrdup(RelationGetRelationName(rel));
	if (kind != RELKIND_RELATION && kind != RELKIND_VIEW && kind != RELKIND_MATVIEW &&
		kind != RELKIND_PARTITIONED_TABLE && kind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view, materialized view or foreign table",
						src->display)));
	acl = pg_class_aclcheck(src->relid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, get_relkind_objtype(kind), RelationGetRelationName(rel));

	desc = RelationGetDescr(rel);
	{
		Form_pg_attribute u = choose_column(desc, src->display, "user", "user_col", user_col,
											user_candidates);
		Form_pg_attribute i = choose_column(desc, src->display, "item", "item_col", item_col,
											item_candidates);
		Form_pg_attribute r = choose_column(desc, src->display, "rating", "rating_col",
											rating_col, rating_candidates);

		check_type(u, src->display, "user", true);
		check_type(i, src->display, "item", true);
		check_type(r, src->display, "rating", false);
		src->user_col = pstrdup(NameStr(u->attname));
		src->item_col = pstrdup(NameStr(i->attname));
		src->rating_col = pstrdup(NameStr(r->attname));
		src->rating_type = getBaseType(r->atttypid);
	}
	src->time_col = NULL;
	src->time_type = InvalidOid;
	if (time_col)
	{
		Form_pg_attribute t = choose_column(desc, src->display, "time", "time_col", time_col,
											NULL);
		Oid			tt = getBaseType(t->atttypid);

		if (tt != TIMESTAMPOID && tt != TIMESTAMPTZOID && tt != DATEOID &&
			tt != INT2OID && tt != INT4OID && tt != INT8OID && tt != FLOAT4OID &&
			tt != FLOAT8OID && tt != NUMERICOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("time column \"%s\" of relation \"%s\" has type %s", time_col,
							src->display, format_type_be(t->atttypid)),
					 errdetail("The time column must be a date, a timestamp or a number such as a Unix time.")));
		src->time_col = pstrdup(NameStr(t->attname));
		src->time_type = tt;
	}
	relation_close(rel, NoLock);
}

double
cf_source_estimated_rows(const CfSource *src)
{
	Relation	rel = relation_open(src->relid, AccessShareLock);
	double		rows = rel->rd_rel->relkind == RELKIND_VIEW ? -1 : rel->rd_rel->reltuples;

	relation_close(rel, AccessShareLock);
	return rows;
}

bool
cf_source_lacks_user_index(const CfSource *src)
{
	Relation	rel = relation_open(src->relid, AccessShareLock);
	AttrNumber	attnum = InvalidAttrNumber;
	bool		found = false;
	List	   *indexes;
	ListCell   *lc;
	char		kind = rel->rd_rel->relkind;

	if (kind == RELKIND_VIEW || kind == RELKIND_FOREIGN_TABLE)
	{
		relation_close(rel, AccessShareLock);
		return false;
	}
	for (int i = 0; i < RelationGetDescr(rel)->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), src->user_col) == 0)
			attnum = att->attnum;
	}
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);

		found |= idx->rd_index->indnkeyatts > 0 && idx->rd_index->indkey.values[0] == attnum;
		index_close(idx, AccessShareLock);
	}
	relation_close(rel, AccessShareLock);
	return !found;
}

/* Growable arrays for rows whose count is known only at the end. */
typedef struct Rows
{
	MemoryContext cxt;
	int64		n,
				cap;
	int32	   *user;
	int32	   *item;
	float	   *rating;
	double	   *time;
} Rows;

/* SPI calls switch CurrentMemoryContext: new arrays name their context. */
static void *
grow(MemoryContext cxt, void *p, int64 cap, size_t elem)
{
	Size		bytes = (Size) cap * elem;

	return p ? repalloc_huge(p, bytes) : MemoryContextAllocHuge(cxt, bytes);
}

/*
 * Room for more rows: first for the planner's estimate (and a little more),
 * so that a table read once holds about its own size; then doubling.
 */
static void
rows_reserve(Rows *rows, bool with_time, double estimated_rows)
{
	int64		cap = rows->cap ? rows->cap * 2 : 65536;

	if (rows->cap == 0 && estimated_rows > cap && estimated_rows < (double) (PG_INT64_MAX / 4))
		cap = (int64) (estimated_rows * 1.02) + 1024;

	rows->user = grow(rows->cxt, rows->user, cap, sizeof(int32));
	rows->item = grow(rows->cxt, rows->item, cap, sizeof(int32));
	rows->rating = grow(rows->cxt, rows->rating, cap, sizeof(float));
	if (with_time)
		rows->time = grow(rows->cxt, rows->time, cap, sizeof(double));
	rows->cap = cap;
}

/*
 * External id → dense index.  The hash table holds every id; in front of it
 * a plain array answers for small non-negative ids (the usual 1..N ids of
 * rating data), one load instead of a hash probe into a table too large for
 * the cache.  The array covers at most a few slots per id seen, so sparse or
 * huge ids stay in the hash alone.
 */
typedef struct IdIndex
{
	cf_idmap_hash *hash;
	int32	   *direct;			/* direct[id] = index + 1; 0: not cached */
	int64		direct_len;
	int64	   *ids;			/* external id by dense index */
	int32		n,
				cap;
} IdIndex;

#define CF_DIRECT_MIN_SLOTS 65536
#define CF_DIRECT_SLOTS_PER_ID 4

static void
id_index_init(IdIndex *m, MemoryContext cxt)
{
	memset(m, 0, sizeof(*m));
	m->hash = cf_idmap_create(cxt, 1024, NULL);
	m->cap = 1024;
	m->ids = grow(cxt, NULL, m->cap, sizeof(int64));
}

/* Widens the array to cover id when that keeps it within its bound. */
static void
id_index_cover(IdIndex *m, MemoryContext cxt, int64 id)
{
	int64		limit = Max(CF_DIRECT_MIN_SLOTS, (int64) CF_DIRECT_SLOTS_PER_ID * (m->n + 1));
	int64		len;

	if (id < m->direct_len || id >= limit)
		return;
	len = Min(limit, Max(id + 1, 2 * m->direct_len));
	m->direct = grow(cxt, m->direct, len, sizeof(int32));
	memset(m->direct + m->direct_len, 0, (len - m->direct_len) * sizeof(int32));
	m->direct_len = len;
}

/* Dense index of an external id, a new one when first seen. */
static inline int32
dense_index(MemoryContext cxt, IdIndex *m, int64 id)
{
	bool		found;
	CfIdEntry  *e;

	if (id >= 0 && id < m->direct_len && m->direct[id] > 0)
		return m->direct[id] - 1;
	e = cf_idmap_insert(m->hash, id, &found);
	if (!found)
	{
		if (m->n == PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many distinct user or item ids"),
					 errdetail("A model holds at most %d users and %d items.",
							   PG_INT32_MAX, PG_INT32_MAX)));
		if (m->n == m->cap)
		{
			m->cap = m->cap > PG_INT32_MAX / 2 ? PG_INT32_MAX : m->cap * 2;
			m->ids = grow(cxt, m->ids, m->cap, sizeof(int64));
		}
		e->index = m->n++;
		m->ids[e->index] = id;
	}
	if (id >= 0)
	{
		id_index_cover(m, cxt, id);
		if (id < m->direct_len)
			m->direct[id] = e->index + 1;
	}
	return e->index;
}

/*
 * The columns as they come: integers and floats are converted in C (cheaper
 * than a cast per row), numerics and timestamps in SQL.
 */
static char *
read_query(const CfSource *src)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT %s, %s, %s%s", quote_identifier(src->user_col),
					 quote_identifier(src->item_col), quote_identifier(src->rating_col),
					 src->rating_type == NUMERICOID ? "::pg_catalog.float8" : "");
	if (src->time_col)
	{
		if (src->time_type == TIMESTAMPOID || src->time_type == TIMESTAMPTZOID ||
			src->time_type == DATEOID)
			appendStringInfo(&q, ", pg_catalog.date_part('epoch', %s)::pg_catalog.float8",
							 quote_identifier(src->time_col));
		else
			appendStringInfo(&q, ", %s%s", quote_identifier(src->time_col),
							 src->time_type == NUMERICOID ? "::pg_catalog.float8" : "");
	}
	appendStringInfo(&q, " FROM %s", src->qualified);
	return q.data;
}

/*
 * The read: a DestReceiver the executor hands each row to, straight from its
 * slot, so no row is copied into an SPI tuple table.  Memory stays bounded by
 * the compact arrays whatever the relation's size.
 */
typedef struct Reader
{
	DestReceiver pub;
	CfDataset  *ds;
	const CfSource *src;
	MemoryContext cxt;
	IdIndex		users,
				items;
	Rows		rows;
	bool		with_time;
	int			ncols;
	Oid			types[4];		/* base types of the result columns */
	double		sum;
	float		rmin,
				rmax;
	TimestampTz started,
				last_notice;
	double		estimated_rows;
} Reader;

static inline int64
datum_to_int64(Datum d, Oid type)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

static inline double
datum_to_float8(Datum d, Oid type)
{
	switch (type)
	{
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case FLOAT8OID:
			return DatumGetFloat8(d);
		default:
			return (double) datum_to_int64(d, type);
	}
}

static void
reader_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	Reader	   *r = (Reader *) self;

	if (desc->natts != r->ncols)
		elog(ERROR, "reading \"%s\" returned %d columns, not %d", r->src->display, desc->natts,
			 r->ncols);
	for (int c = 0; c < r->ncols; c++)
	{
		Oid			t = getBaseType(TupleDescAttr(desc, c)->atttypid);

		if (t != INT2OID && t != INT4OID && t != INT8OID &&
			(c < 2 || (t != FLOAT4OID && t != FLOAT8OID)))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d read from \"%s\" has type %s", c + 1, r->src->display,
							format_type_be(t)),
					 errhint("Was the relation changed while the training started?")));
		r->types[c] = t;
	}
}

static void
report_progress(Reader *r)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		done;
	double		rate;

	if (now - r->last_notice < CF_PROGRESS_INTERVAL * USECS_PER_SEC)
		return;
	done = r->rows.n + r->ds->n_skipped;
	rate = done / ((now - r->started) / (double) USECS_PER_SEC);
	/* the planner's estimate gives an ETA while it has not been passed */
	if (r->estimated_rows > done)
		ereport(NOTICE,
				(errmsg_internal("reading %s: " INT64_FORMAT " of about %.0f rows (%.0f%%), %.0fk rows/s, eta %.0fs",
								 r->src->display, done, r->estimated_rows,
								 100.0 * done / r->estimated_rows, rate / 1e3,
								 (r->estimated_rows - done) / rate)));
	else
		ereport(NOTICE,
				(errmsg_internal("reading %s: " INT64_FORMAT " rows, %.0fk rows/s",
								 r->src->display, done, rate / 1e3)));
	r->last_notice = now;
}

static bool
reader_receive(TupleTableSlot *slot, DestReceiver *self)
{
	Reader	   *r = (Reader *) self;
	CfDataset  *ds = r->ds;
	const CfSource *src = r->src;
	Rows	   *rows = &r->rows;
	Datum	   *d;
	bool	   *null;
	int64		user,
				item;
	double		rating;

	if (((rows->n + ds->n_skipped) & 16383) == 16383)
	{
		CHECK_FOR_INTERRUPTS();
		if (cf_progress)
			report_progress(r);
	}
	slot_getsomeattrs(slot, r->ncols);
	d = slot->tts_values;
	null = slot->tts_isnull;
	if (null[0] || null[1] || null[2] || (r->with_time && null[3]))
	{
		ds->n_skipped++;
		return true;
	}
	user = datum_to_int64(d[0], r->types[0]);
	item = datum_to_int64(d[1], r->types[1]);
	rating = datum_to_float8(d[2], r->types[2]);
	if (isfinite(rating) && !isfinite((float) rating))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("rating of user " INT64_FORMAT " for item " INT64_FORMAT " in \"%s\" is out of range for real",
						user, item, src->display),
				 errhint("Scale the ratings into a usual range, for example in a view.")));
	if (!isfinite(rating))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("rating of user " INT64_FORMAT " for item " INT64_FORMAT " in \"%s\" is %s",
						user, item, src->display, isnan(rating) ? "NaN" : "infinite"),
				 errhint("Ratings must be finite: filter or fix such rows, for example in a view.")));
	if (rows->n == rows->cap)
		rows_reserve(rows, r->with_time, r->estimated_rows);
	rows->user[rows->n] = dense_index(r->cxt, &r->users, user);
	rows->item[rows->n] = dense_index(r->cxt, &r->items, item);
	rows->rating[rows->n] = (float) rating;
	if (r->with_time)
	{
		rows->time[rows->n] = datum_to_float8(d[3], r->types[3]);
		if (isnan(rows->time[rows->n]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("time of user " INT64_FORMAT " for item " INT64_FORMAT " in \"%s\" is NaN",
							user, item, src->display),
					 errhint("The validation split orders ratings by time: filter such rows, for example in a view.")));
	}
	rows->n++;
	r->sum += rating;
	r->rmin = Min(r->rmin, (float) rating);
	r->rmax = Max(r->rmax, (float) rating);
	return true;
}

static void
reader_shutdown(DestReceiver *self)
{
}

void
cf_dataset_read(CfDataset *ds, const CfSource *src)
{
	MemoryContext caller = CurrentMemoryContext;
	Reader		r;
	SPIPlanPtr	plan;
	SPIExecuteOptions options;
	int			rc;

	memset(ds, 0, sizeof(*ds));
	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = reader_receive;
	r.pub.rStartup = reader_startup;
	r.pub.rShutdown = reader_shutdown;
	r.pub.rDestroy = reader_shutdown;
	r.pub.mydest = DestNone;
	r.ds = ds;
	r.src = src;
	r.cxt = caller;
	r.rows.cxt = caller;
	r.with_time = src->time_col != NULL;
	r.ncols = r.with_time ? 4 : 3;
	r.rmin = INFINITY;
	r.rmax = -INFINITY;
	r.started = r.last_notice = GetCurrentTimestamp();
	r.estimated_rows = cf_source_estimated_rows(src);
	id_index_init(&r.users, caller);
	id_index_init(&r.items, caller);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(read_query(src), 0, NULL);
	if (!plan)
		elog(ERROR, "could not prepare the query reading \"%s\": %s", src->display,
			 SPI_result_code_string(SPI_result));
	memset(&options, 0, sizeof(options));
	options.read_only = true;
	options.dest = &r.pub;
	rc = SPI_execute_plan_extended(plan, &options);
	/* a SELECT into a DestNone receiver reports SPI_OK_UTILITY */
	if (rc < 0)
		elog(ERROR, "reading \"%s\" failed: %s", src->display, SPI_result_code_string(rc));
	SPI_finish();

	if (r.rows.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 ds->n_skipped == 0
				 ? errmsg("relation \"%s\" has no ratings", src->display)
				 : errmsg("relation \"%s\" has no rating with non-NULL user, item and rating",
						  src->display),
				 ds->n_skipped > 0
				 ? errdetail(INT64_FORMAT " rows were skipped for a NULL value.", ds->n_skipped)
				 : 0));
	if (ds->n_skipped > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " of " INT64_FORMAT " rows of \"%s\" with a NULL %s",
						ds->n_skipped, ds->n_skipped + r.rows.n, src->display,
						r.with_time ? "user, item, rating or time" : "user, item or rating")));

	ds->n_rows = r.rows.n;
	ds->user_ids = r.users.ids;
	ds->n_users = r.users.n;
	ds->item_ids = r.items.ids;
	ds->n_items = r.items.n;
	ds->r.n_train = r.rows.n;
	ds->r.n_valid = 0;
	ds->r.user = r.rows.user;
	ds->r.item = r.rows.item;
	ds->r.rating = r.rows.rating;
	ds->r.rating_min = r.rmin;
	ds->r.rating_max = r.rmax;
	ds->rating_mean = r.sum / r.rows.n;
	/* the split needs the times; nothing else keeps them */
	ds->times = r.rows.time;

	ds->user_count = MemoryContextAllocHuge(caller, sizeof(int32) * ds->n_users);
	ds->item_count = MemoryContextAllocHuge(caller, sizeof(int32) * ds->n_items);
	ds->user_mean = MemoryContextAllocHuge(caller, sizeof(float) * ds->n_users);
	ds->item_mean = MemoryContextAllocHuge(caller, sizeof(float) * ds->n_items);
	{
		double	   *usum = MemoryContextAllocHuge(caller, sizeof(double) * ds->n_users);
		double	   *isum = MemoryContextAllocHuge(caller, sizeof(double) * ds->n_items);

		memset(usum, 0, sizeof(double) * ds->n_users);
		memset(isum, 0, sizeof(double) * ds->n_items);
		memset(ds->user_count, 0, sizeof(int32) * ds->n_users);
		memset(ds->item_count, 0, sizeof(int32) * ds->n_items);
		for (int64 i = 0; i < r.rows.n; i++)
		{
			usum[r.rows.user[i]] += r.rows.rating[i];
			isum[r.rows.item[i]] += r.rows.rating[i];
			ds->user_count[r.rows.user[i]]++;
			ds->item_count[r.rows.item[i]]++;
		}
		for (int32 u = 0; u < ds->n_users; u++)
			ds->user_mean[u] = (float) (usum[u] / ds->user_count[u]);
		for (int32 i = 0; i < ds->n_items; i++)
			ds->item_mean[i] = (float) (isum[i] / ds->item_count[i]);
		pfree(usum);
		pfree(isum);
	}
	cf_idmap_destroy(r.users.hash);
	cf_idmap_destroy(r.items.hash);
	if (r.users.direct)
		pfree(r.users.direct);
	if (r.items.direct)
		pfree(r.items.direct);
}

static void
swap_rows(CfDataset *ds, int64 a, int64 b)
{
	int32		u = ds->r.user[a],
				i = ds->r.item[a];
	float		r = ds->r.rating[a];

	ds->r.user[a] = ds->r.user[b];
	ds->r.item[a] = ds->r.item[b];
	ds->r.rating[a] = ds->r.rating[b];
	ds->r.user[b] = u;
	ds->r.item[b] = i;
	ds->r.rating[b] = r;
}

typedef struct TimedRow
{
	double		time;
	int64		row;
} TimedRow;

static int
cmp_timed(const void *a, const void *b)
{
	const TimedRow *x = a,
			   *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return x->row < y->row ? -1 : (x->row > y->row);
}

void
cf_dataset_split(CfDataset *ds, const CfSource *src, double valid_fraction, uint64 seed)
{
	int64		n = ds->n_rows;
	int64		n_valid = (int64) llround(valid_fraction * (double) n);

	if (n_valid > n - 2)
		n_valid = Max(n - 2, 0);
	if (n_valid > 0 && src->time_col)
	{
		/* Order all rows by time (ties by position): the last n_valid are the latest. */
		TimedRow   *order = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(TimedRow) * n);
		int32	   *user = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * n);
		int32	   *item = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * n);
		float	   *rating = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * n);

		for (int64 i = 0; i < n; i++)
		{
			order[i].time = ds->times[i];
			order[i].row = i;
		}
		qsort(order, n, sizeof(TimedRow), cmp_timed);
		for (int64 i = 0; i < n; i++)
		{
			user[i] = ds->r.user[order[i].row];
			item[i] = ds->r.item[order[i].row];
			rating[i] = ds->r.rating[order[i].row];
		}
		pfree(ds->r.user);
		pfree(ds->r.item);
		pfree(ds->r.rating);
		pfree(order);
		ds->r.user = user;
		ds->r.item = item;
		ds->r.rating = rating;
	}
	else if (n_valid > 0)
	{
		/* Partial Fisher-Yates: a uniform sample of n_valid rows moves to the end. */
		CfRng		rng;

		cf_rng_seed(&rng, seed, 5);
		for (int64 i = n - 1; i >= n - n_valid; i--)
			swap_rows(ds, i, (int64) cf_rng_below(&rng, (uint64) i + 1));
	}
	ds->r.n_train = n - n_valid;
	ds->r.n_valid = n_valid;
}
