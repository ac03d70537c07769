# pg_background: run SQL in dynamic background worker processes.
#
#   make && make install          build and install (PG_CONFIG=... to choose)
#   make installcheck             pg_regress + isolation + TAP against the
#                                 server named by PGHOST/PGPORT (TAP tests
#                                 start their own nodes)
#
# Warnings are not errors here; CI adds -Werror through PG_CFLAGS.

EXTENSION = pg_background
MODULE_big = pg_background
OBJS = \
	src/entry.o \
	src/session.o \
	src/launch.o \
	src/worker.o \
	src/wire.o \
	src/decode.o \
	src/control.o \
	src/params.o

DATA = $(wildcard sql/pg_background--*.sql)

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test

ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test

TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN = output_iso tmp_check results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
