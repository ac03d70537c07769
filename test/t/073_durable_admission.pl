# Durable jobs under the directory's admission limits (docs/durable.md,
# "How they run"): an attempt counts against pg_background.max_total_workers
# and max_workers_per_* from when its worker is started until it is gone,
# waits (queued, not failed) while the limits say no, and shows in
# pg_background_jobs while it runs.
#
# Node: shared_preload_libraries = 'pg_background', durable_workers = 4,
# pg_background.max_workers_per_role = 1 and max_total_workers = 0 from
# the start (so that no runner can have admitted anything before the test
# looks), role regress_alice.  Jobs block on advisory locks a session of
# the test holds; nothing waits with a sleep.
#
# 1. max_total_workers = 0: a committed job stays queued, 0 attempts,
#    while wait_job gives up after 1 s; no pg_background worker of the
#    role exists.  Raised (reload): the job runs, once (1 attempt, its row
#    once).
# 2. max_workers_per_role = 1: three jobs of regress_alice, enqueued in one
#    transaction, each blocked on an advisory lock the test holds.  While
#    one waits for the lock, it alone is running (the two others queued,
#    0 attempts), and pg_background_jobs shows it: state running, its
#    owner regress_alice, its label, and the PID of the worker waiting in
#    pg_stat_activity.  Once the lock is released all three succeed, each
#    at its first attempt, and each saw exactly one active pg_background
#    backend of its role (itself) in pg_stat_activity: never two at once.
#    pg_background_jobs then shows three finished entries (stopped,
#    command tag INSERT 0 1), and admission counts no active worker.
# 3. The server log shows no crash, TRAP or PANIC.
# 4. The pool keeps no worker slot a durable attempt needs.  Second node,
#    max_worker_processes = 6: the dispatcher, the logical replication
#    launcher and the database's runner (kept by a first, finished durable
#    job of regress_carol, whose worker parks) take three slots, and three
#    workers of regress_carol parked in the pool (pool_size = 3,
#    pool_idle_timeout = 3600) the other three.  A durable job of the
#    superuser enqueued then still runs (no parked worker is of its role:
#    its runner asks one to leave): wait_job returns true; two workers of
#    regress_carol are left parked, and the durable job's worker parks too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(set_guc pool_node poll_until psql_as);

my $node = PostgreSQL::Test::Cluster->new('durable_admission');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 16
pg_background.durable_workers = 4
pg_background.max_total_workers = 0
pg_background.max_workers_per_role = 1
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE regress_alice LOGIN;
SELECT grant_pg_background_privileges('regress_alice', false);
CREATE TABLE t (k text);
CREATE TABLE conc (k text, n int);
GRANT ALL ON t, conc TO regress_alice;
});

sub alice
{
	return psql_as($node, $_[0], 'regress_alice');
}

# 1. max_total_workers = 0: queued until the limit is raised.
my $held = alice(q{SELECT pg_background_enqueue($$INSERT INTO t VALUES ('held')$$)});
is(alice("SELECT pg_background_wait_job($held, 1000)"), 'f',
	'max_total_workers = 0: the job does not finish');
is(alice("SELECT state, attempts, sqlstate IS NULL FROM pg_background_job($held)"),
	'queued|0|t', 'it is queued, with no attempt and no error');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'pg_background' AND usename = 'regress_alice'}),
	'0', 'no worker of its role runs');
set_guc($node, 'pg_background.max_total_workers', '-1', '-1');
is(alice("SELECT pg_background_wait_job($held, 60000)"), 't',
	'once the limit is raised, the job finishes');
is(alice("SELECT state, attempts FROM pg_background_job($held)"),
	'succeeded|1', 'it succeeded at its first attempt');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'held'}),
	'1', 'its effect is there once');

# 2. max_workers_per_role = 1: one at a time, shown in pg_background_jobs.
my $locker = $node->background_psql('postgres', on_error_stop => 0);
$locker->query_safe('SELECT pg_advisory_lock(7373)');
my $job_sql = q{SELECT pg_advisory_xact_lock_shared(7373);
INSERT INTO conc SELECT $1, count(*) FROM pg_stat_activity
 WHERE backend_type = 'pg_background' AND usename = current_user AND state = 'active'};
(my $lit = $job_sql) =~ s/'/''/g;
my @ids = split /\n/, alice(qq{
BEGIN;
SELECT pg_background_enqueue('$lit', NULL, 1, '1 s', NULL, 'lim', 'a'::text);
SELECT pg_background_enqueue('$lit', NULL, 1, '1 s', NULL, 'lim', 'b'::text);
SELECT pg_background_enqueue('$lit', NULL, 1, '1 s', NULL, 'lim', 'c'::text);
COMMIT;
});
is(scalar(@ids), 3, 'three jobs enqueued');
my $idlist = join(',', @ids);
ok(poll_until($node, q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE l.locktype = 'advisory' AND NOT l.granted AND a.backend_type = 'pg_background'},
	'1', 60), 'one job waits for the lock');
is($node->safe_psql('postgres', qq{SELECT state, count(*), sum(attempts)
	FROM pg_background_durable_jobs WHERE id IN ($idlist) GROUP BY state ORDER BY state}),
	"queued|2|0\nrunning|1|1", 'the role\'s limit lets one job run, the others wait queued');
my $waiting_pid = $node->safe_psql('postgres', q{SELECT a.pid FROM pg_locks l
	JOIN pg_stat_activity a USING (pid)
	WHERE l.locktype = 'advisory' AND NOT l.granted AND a.backend_type = 'pg_background'});
is(alice(q{SELECT label, state, user_id::regrole, pid, submitted, sql_preview LIKE 'SELECT pg_advisory_xact_lock_shared(7373);%'
	FROM pg_background_jobs WHERE label = 'lim'}),
	"lim|running|regress_alice|$waiting_pid|t|t",
	'pg_background_jobs shows the running attempt: its label, role and worker');
is($node->safe_psql('postgres', q{SELECT active FROM pg_background_admission()}),
	'1', 'admission counts it as an active worker');
$locker->query_safe('SELECT pg_advisory_unlock(7373)');
foreach my $id (@ids)
{
	is(alice("SELECT pg_background_wait_job($id, 60000)"), 't', "job $id finishes");
}
is($node->safe_psql('postgres', qq{SELECT string_agg(state || ' ' || attempts, ',')
	FROM pg_background_durable_jobs WHERE id IN ($idlist)}),
	'succeeded 1,succeeded 1,succeeded 1', 'all three succeeded at their first attempt');
is($node->safe_psql('postgres', q{SELECT string_agg(k || n, ',' ORDER BY k) FROM conc}),
	'a1,b1,c1', 'each saw one active worker of its role: never two at once');
ok(poll_until($node, q{SELECT count(*) FILTER (WHERE state = 'stopped' AND command_tag = 'INSERT 0 1'),
	count(*) FROM pg_background_jobs WHERE label = 'lim'}, '3|3', 60),
	'pg_background_jobs shows the three attempts finished');
ok(poll_until($node, q{SELECT active FROM pg_background_admission()}, '0', 60),
	'no active worker is left');
$locker->quit;

# 3. No crash.
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP|PANIC|terminated by signal/, 'no crash in the server log');

# 4. Parked workers give their slots to durable attempts.
my $full = pool_node('durable_slots', pool_size => 3,
	max_worker_processes => 6, roles => ['regress_carol']);
$full->safe_psql('postgres', q{
CREATE TABLE t (k text);
GRANT ALL ON t TO regress_carol;
});
my $first = $full->safe_psql('postgres',
	q{SELECT pg_background_enqueue($$INSERT INTO t VALUES ('first')$$)},
	extra_params => [ '-U', 'regress_carol' ]);
is($full->safe_psql('postgres', "SELECT pg_background_wait_job($first, 60000)"),
	't', 'slots: a first durable job ran (its runner stays)');
ok(poll_until($full, q{SELECT pool_idle FROM pg_background_admission()}, '1', 60),
	'slots: its worker is parked');
my $slots_locker = $full->background_psql('postgres', on_error_stop => 0);
$slots_locker->query_safe('SELECT pg_advisory_lock(7474)');
my $launcher = $full->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'regress_carol' ]);
$launcher->query_safe(q{CREATE TEMP TABLE h AS
SELECT pg_background_launch_v2('SELECT pg_advisory_xact_lock_shared(7474)', 0) AS h
FROM generate_series(1, 3)});
ok(poll_until($full, q{SELECT count(*) FROM pg_locks
	WHERE locktype = 'advisory' AND NOT granted}, '3', 60),
	'slots: three jobs run at once, on three workers');
$slots_locker->query_safe('SELECT pg_advisory_unlock(7474)');
ok(poll_until($full, q{SELECT pool_idle FROM pg_background_admission()}, '3', 60),
	'slots: their three workers are parked');
is($full->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type LIKE 'pg_background%'
	   OR backend_type = 'logical replication launcher'}),
	'6', 'slots: every worker slot is taken');
my $second = $full->safe_psql('postgres',
	q{SELECT pg_background_enqueue($$INSERT INTO t VALUES ('second')$$)});
is($full->safe_psql('postgres', "SELECT pg_background_wait_job($second, 60000)"),
	't', 'slots: a durable job still runs, a parked worker having left');
is($full->safe_psql('postgres', q{SELECT string_agg(k, ',' ORDER BY k) FROM t}),
	'first,second', 'slots: both jobs\' effects are there');
ok(poll_until($full, q{SELECT count(*) FILTER (WHERE usename = 'regress_carol'),
	count(*) FILTER (WHERE usename <> 'regress_carol'), (SELECT pool_idle FROM pg_background_admission())
	FROM pg_stat_activity WHERE backend_type = 'pg_background' AND state = 'idle'}, '2|1|3', 60),
	'slots: two workers of regress_carol are left parked, and the durable job\'s worker parked');
$launcher->quit;
$slots_locker->quit;
$full->stop;
$log = slurp_file($full->logfile);
unlike($log, qr/TRAP|PANIC|terminated by signal/, 'slots: no crash in the server log');

done_testing();
