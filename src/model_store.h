/*
 * model_store.h — models in the catalog tables of schema cfrec.
 *
 * Owns every statement that reads or writes cfrec.models, model_users,
 * model_items, model_tensors, lr_sweeps and training_log.  A model is written
 * in the caller's transaction, so a failed training leaves nothing behind.
 */
#ifndef CFREC_MODEL_STORE_H
#define CFREC_MODEL_STORE_H

#include "postgres.h"

#include "dataset.h"
#include "network.h"
#include "trainer.h"

/* What a training produced, for cf_store_save. */
typedef struct CfTrainedModel
{
	const char *name;
	const CfSource *source;
	const CfDataset *data;
	const CfTrainConfig *cfg;
	const CfModel *model;
	const CfTrainResult *result;
	const char *architecture;
	const char *hyperparameters;	/* JSON */
	double		train_rmse;
	double		valid_rmse;
	double		load_seconds;
} CfTrainedModel;

/*
 * Writes the model and replaces any earlier model of the same name (two
 * trainings of one name serialise here); returns the new id.
 */
int64		cf_store_save(const CfTrainedModel *tm);

/* Id of the newest model of that name, or of the newest of all when name is NULL. */
int64		cf_store_model_id(const char *name);
/* Same, but InvalidModelId instead of an error when there is none. */
#define CF_NO_MODEL (-1)
int64		cf_store_find_model_id(const char *name);

/* A model as read back for serving. */
typedef struct CfStoredModel
{
	int64		id;
	char	   *name;
	char	   *source;			/* "schema"."relation", quoted for SQL */
	char	   *user_col;
	char	   *item_col;
	double		rating_min;
	double		rating_max;
	double		rating_mean;
	CfModel		model;			/* parameters and statistics */
	int64	   *user_ids;		/* [n_users] by dense index */
	int64	   *item_ids;
	int32	   *user_count;
	int32	   *item_count;
	float	   *user_mean;
	float	   *item_mean;
} CfStoredModel;

/* Reads model id into memory allocated in ctx. */
void		cf_store_load(int64 id, CfStoredModel *out, MemoryContext ctx);

#endif
