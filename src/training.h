/*
 * training.h — a training run inside the server: checks the arguments and
 * the memory it will need, reads the relation, runs the trainer with
 * interrupts and progress wired in, and stores the model.
 */
#ifndef CFREC_TRAINING_H
#define CFREC_TRAINING_H

#include "postgres.h"

#include "trainer.h"

typedef struct CfTrainRequest
{
	const char *relation;
	const char *name;			/* NULL: the relation's name */
	const char *user_col;
	const char *item_col;
	const char *rating_col;
	const char *time_col;
	const char *architecture;	/* "default", "mf", "seed" or "baseline" */
	double		valid_fraction;
	double		reg_user;		/* baseline: damping of the user biases */
	double		reg_item;
	bool		epochs_from_data;	/* the default's epochs: see autorec_default_epochs */
	CfTrainConfig cfg;			/* n_users and n_items are filled in after reading */
} CfTrainRequest;

/*
 * The recipe an architecture starts from (every argument left NULL takes its
 * value from here); an unknown name is an ERROR.  Fields that depend on the
 * data (the output range) are set once the relation is read.
 */
void		cf_architecture_defaults(CfTrainRequest *req, const char *architecture);

/* The architecture trained by cf_autorec_train. */
bool		cf_is_autorec(const char *architecture);

/* Checks every argument; an ERROR names the bad one and its valid range. */
void		cf_check_request(const CfTrainRequest *req);

/* Trains and stores; returns the new model's id. */
int64		cf_run_training(const CfTrainRequest *req);

/*
 * The range test alone (cfrec's cf_find_lr on a relation): no model is
 * stored.  The sweep and the suggested index are palloc'd in the caller's
 * memory context.
 */
int32		cf_run_sweep(const CfTrainRequest *req, CfSweepPoint **points, int32 *suggested);

/* BLAS threads for training: cfrec.threads, or one per core when 0. */
int			cf_training_threads(void);

#endif
