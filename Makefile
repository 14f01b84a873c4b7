EXTENSION = cfrec
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = cfrec
# The math core (rng, network, optimizer, schedule, trainer, svg) includes no
# PostgreSQL header; the rest talks to the server.
MATH_OBJS = src/rng.o src/network.o src/optimizer.o src/schedule.o src/trainer.o src/autorec.o src/svg.o
OBJS = $(MATH_OBJS) src/dataset.o src/model_store.o src/training.o src/server.o src/curves.o src/evaluate.o src/synthetic.o src/cfrec.o

# The install script is assembled from sql/parts/ (one file per feature, so
# features can be written independently); upgrade scripts are kept as they are.
CFREC_SCRIPT = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA_built = $(CFREC_SCRIPT)
DATA = $(filter-out $(CFREC_SCRIPT),$(wildcard sql/$(EXTENSION)--*.sql))

TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -O3 -march=x86-64-v2 -fno-math-errno -std=gnu11
SHLIB_LINK = -lopenblas -lm
# The math core never relies on signed overflow wrapping nor on floating-point
# traps.  PostgreSQL's -fwrapv keeps GCC from vectorising its int-indexed loops
# (the int8 scoring pass ran scalar, 4x slower), and trapping math keeps it
# from vectorising a select such as ReLU's mask (batch norm's backward).
# Neither flag reorders float arithmetic: results are the same, bit for bit.
$(MATH_OBJS): override CFLAGS += -fno-wrapv -fno-trapping-math

EXTRA_CLEAN = test/c/*.test

# `make test` and `make demo` must work on a machine that has no PostgreSQL
# development files yet: the scripts install them and call make again.
.PHONY: test demo demo-clean ctest
.DEFAULT_GOAL := all
test:
	@bash test/run

# DATA=folder of MovieLens or Netflix Prize files.  PGXS also has a DATA (files
# to install), so pass it on only when it was given on the command line.
demo:
	@bash scripts/demo $(if $(filter command line,$(origin DATA)),"$(DATA)")

demo-clean:
	@bash scripts/demo --clean

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)

# Standalone tests of the math core: plain C, no server.
# The standalone tests always run under AddressSanitizer and UBSan.
CTEST_CFLAGS ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined
CTEST_SRCS = $(wildcard test/c/test_*.c)
CTESTS = $(CTEST_SRCS:.c=.test)
MATH_SRCS = $(MATH_OBJS:.o=.c)
test/c/%.test: test/c/%.c test/c/tap.h test/c/planted.h $(MATH_SRCS) $(wildcard src/*.h)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Wno-unused-parameter $(CTEST_CFLAGS) -Isrc -o $@ $< $(MATH_SRCS) -lopenblas -lm

ctest: $(CTESTS)

$(CFREC_SCRIPT): $(sort $(wildcard sql/parts/*.sql))
	{ printf '%s\n' '-- Generated from sql/parts/ by make: edit those files instead.' \
	    '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  cat $^; } > $@

# Rebuild every object when a header changes: the headers are few and shared.
$(OBJS): $(wildcard src/*.h)
endif
