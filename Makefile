# pg_background: run SQL in dynamic background worker processes.
#
#   make && make install          build and install (PG_CONFIG=... to choose)
#   make installcheck             pg_regress + isolation + TAP against the
#                                 server named by PGHOST/PGPORT (TAP tests
#                                 start their own nodes)
#
# Warnings are not errors here; CI adds -Werror through PG_CFLAGS.

# Where this Makefile lives: the source tree, also in VPATH builds (as
# Debian's pg_buildext does them, from build-<version>/).
PGBG_SRC := $(dir $(firstword $(MAKEFILE_LIST)))

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
	src/params.o \
	src/settings.o \
	src/entropy.o \
	src/directory.o \
	src/dispatcher.o \
	src/send.o \
	src/pool.o \
	src/lifecycle.o \
	src/segment.o \
	src/specstore.o \
	src/durable.o \
	src/durable_attempt.o \
	src/durable_run.o \
	src/preload.o

DATA = $(patsubst $(PGBG_SRC)%,%,$(wildcard $(PGBG_SRC)sql/pg_background--*.sql))

# The update scripts to the current version: one copy of its install script
# for every version a database may be at, ours and upstream pg_background's
# (the script converges whatever catalog it finds; see its header and
# docs/migration.md).
PGBG_CURRENT = 2.1
PGBG_UPDATE_FROM = 1.0 1.1 1.2 1.3 1.4 1.5 1.6 1.7 1.8 1.9 1.10 2.0
DATA_built = $(foreach v,$(PGBG_UPDATE_FROM),updates/pg_background--$(v)--$(PGBG_CURRENT).sql)

REGRESS = $(patsubst $(PGBG_SRC)test/sql/%.sql,%,$(sort $(wildcard $(PGBG_SRC)test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test

ISOLATION = $(patsubst $(PGBG_SRC)test/specs/%.spec,%,$(sort $(wildcard $(PGBG_SRC)test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test

TAP_TESTS = 1
PROVE_TESTS = $(patsubst $(PGBG_SRC)%,%,$(sort $(wildcard $(PGBG_SRC)test/t/*.pl)))

EXTRA_CLEAN = output_iso tmp_check results regression.diffs regression.out \
	output_preload output_iso_preload pg_background-*.zip updates

# Object files go to src/, which a VPATH build directory lacks at first.
ifdef VPATH
$(shell mkdir -p src)
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on every header: the modules share structures.
$(OBJS): $(wildcard $(PGBG_SRC)src/*.h)

updates/pg_background--%--$(PGBG_CURRENT).sql: $(PGBG_SRC)sql/pg_background--$(PGBG_CURRENT).sql
	@mkdir -p updates
	sed 's/^\\echo Use "CREATE EXTENSION pg_background"/\\echo Use "ALTER EXTENSION pg_background UPDATE"/' $< > $@

# make dist: the PGXN release archive, from the committed tree.  Its version
# is the control file's default_version, which META.json must carry too.
PGBG_VERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(PGBG_SRC)pg_background.control).0
.PHONY: dist
dist:
	@grep -q '"version": "$(PGBG_VERSION)"' $(PGBG_SRC)META.json || \
		{ echo "META.json does not say version $(PGBG_VERSION)"; exit 1; }
	git -C $(PGBG_SRC) archive --format zip --prefix=pg_background-$(PGBG_VERSION)/ \
		-o $(CURDIR)/pg_background-$(PGBG_VERSION).zip HEAD
	@echo "pg_background-$(PGBG_VERSION).zip"

# scripts/test.sh runs the pg_regress and isolation suites a second time
# against a cluster with shared_preload_libraries = 'pg_background' and
# pg_background.pool_size = 4, except those named here (none now).  Every
# suite holds in both modes: in directory mode the job list shows every job
# of the role in the server, and with the pool several jobs per worker PID,
# so the suites pick its rows by the handles they launched, or by
# launched_at >= a time taken just before (see handles, session_max_workers).
# Suites whose output differs in directory mode as documented have an
# alternative expected file (name_1.out) whose output shows the mode.
PRELOAD_SKIP =

# The pg_regress and isolation suites of the preload pass, given the same
# variables as the first run (scripts/test.sh asks before it).
.PHONY: print-preload-regress print-preload-isolation
print-preload-regress:
	@echo $(filter-out $(PRELOAD_SKIP),$(REGRESS))
print-preload-isolation:
	@echo $(filter-out $(PRELOAD_SKIP),$(ISOLATION))
