/*
 * dataset.h — a ratings relation read into compact arrays.
 *
 * Owns: finding the relation and its user, item, rating (and optional time)
 * columns; reading them through SPI into a DestReceiver of our own (rows go
 * straight from the executor's slot into the arrays, no tuptable copy); mapping
 * arbitrary integer ids to dense indices; per-user and per-item counts and
 * means (the serving fallbacks); the train/validation split.
 */
#ifndef CFREC_DATASET_H
#define CFREC_DATASET_H

#include "postgres.h"

#include "trainer.h"

/* A relation and the columns a model reads from it. */
typedef struct CfSource
{
	Oid			relid;
	char	   *qualified;		/* quoted "schema"."relation", ready for SQL */
	char	   *display;		/* schema.relation, for messages and the catalog */
	char	   *schema;
	char	   *table;
	char	   *user_col;
	char	   *item_col;
	char	   *rating_col;
	Oid			rating_type;	/* base type of the rating column */
	char	   *time_col;		/* NULL: random validation split */
	Oid			time_type;
} CfSource;

/*
 * Resolves a possibly schema-qualified relation name and its columns: given
 * names are checked, missing ones detected from common names.  Checks the
 * relation kind, the column types and the caller's SELECT right.
 */
void		cf_source_resolve(CfSource *src, const char *relation, const char *user_col,
							  const char *item_col, const char *rating_col,
							  const char *time_col);

typedef struct CfDataset
{
	CfRatings	r;				/* dense indices; training rows first */
	int64		n_rows;			/* rows used */
	int64		n_skipped;		/* rows with a NULL id, rating or time */
	int32		n_users;
	int32		n_items;
	int64	   *user_ids;		/* [n_users] dense index → external id */
	int64	   *item_ids;
	int32	   *user_count;		/* [n_users] ratings per user */
	int32	   *item_count;
	float	   *user_mean;		/* [n_users] mean rating per user */
	float	   *item_mean;
	double		rating_mean;
	double	   *times;			/* [n_rows] the time column, NULL without one */
} CfDataset;

/*
 * Rows the planner expects in the source (pg_class.reltuples), or −1 when it
 * does not know (a view, or a table never analyzed).
 */
double		cf_source_estimated_rows(const CfSource *src);

/*
 * Whether serving will scan the source for a user's rated items: a table or
 * materialized view with no index whose first column is the user column.
 * Views and foreign tables are not judged (their base may well be indexed).
 */
bool		cf_source_lacks_user_index(const CfSource *src);

/* Reads the source; rows are allocated in CurrentMemoryContext (huge allowed). */
void		cf_dataset_read(CfDataset *ds, const CfSource *src);

/*
 * Moves a fraction of the rows to the end as validation: the latest by the
 * time column when the source has one, else a random sample drawn from seed.
 */
void		cf_dataset_split(CfDataset *ds, const CfSource *src, double valid_fraction,
							 uint64 seed);

#endif
