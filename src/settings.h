/*
 * settings.h — the extension's GUCs (defined in cfrec.c).
 */
#ifndef CFREC_SETTINGS_H
#define CFREC_SETTINGS_H

extern int	cf_threads;			/* cfrec.threads: BLAS threads for training, 0 = per core */
extern int	cf_max_memory_mb;	/* cfrec.max_memory */
extern bool cf_progress;		/* cfrec.progress: NOTICEs while training */

/* Seconds between progress NOTICEs of a long phase. */
#define CF_PROGRESS_INTERVAL 5.0

#endif
