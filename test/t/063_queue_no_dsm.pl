
# Copyright: see LICENSE.
#
# A queued job holds no DSM segment.  The server has room for 64 + 5 *
# MaxBackends segments at once (here, max_connections = 10 and
# max_worker_processes = 16: some 210), while admission lets 1000 jobs
# (pg_background.max_queued) wait, 250 of each role
# (pg_background.max_queued_per_role), by default.  A queued job's
# description waits in the shared store instead (its first 8 MB in the main
# shared memory), and its segment is built by its worker.
#
# With nothing allowed to start (max_total_workers = 0) and the default limits:
# 1. Four roles each submit jobs (with 16 MB result queues) one by one until
#    a launch fails: each stops after 250 jobs, the first three at their
#    share of the queue (53000 "too many pg_background jobs of role ... are
#    queued"), the fourth at the full queue (53000 "too many pg_background
#    jobs are queued", the server's limit being checked first); the server
#    holds no more DSM segments than before.
# 2. The queue is full: a fifth role's launch fails with 53000 "too many
#    pg_background jobs are queued" (max_queued), and queues nothing.
# 3. Once workers may start, every one of the 1000 jobs runs exactly once
#    (they insert their number), each ends 'stopped', nothing is left queued
#    or running, and the segment count is back to its baseline.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('queue_no_dsm');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
# Segments as files (counted in pg_dynshmem), not in the main shared memory.
pg_background.dsm_reserve = 0
dynamic_shared_memory_type = mmap
max_connections = 10
max_worker_processes = 16
pg_background.max_total_workers = 0
# The flood session holds 250 submitted jobs (see session_max_workers).
pg_background.max_workers = 1000
log_min_messages = log
});
$node->start;
my @roles = map { "regress_flood$_" } (1 .. 4);
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE landed (role text, n int);
GRANT INSERT ON landed TO PUBLIC;
CREATE ROLE regress_other LOGIN;
} . join('', map { "CREATE ROLE $_ LOGIN;\n" } @roles) . q{
SELECT grant_pg_background_privileges(rolname, false)
  FROM pg_roles WHERE rolname LIKE 'regress_%';
CREATE FUNCTION submit_until_error(OUT submitted int, OUT failure text)
LANGUAGE plpgsql AS $$
BEGIN
  submitted := 0;
  LOOP
    PERFORM pg_background_submit_v2(
      format('INSERT INTO landed VALUES (%L, %s)', current_user, submitted),
      16777216);
    submitted := submitted + 1;
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  failure := SQLSTATE || ' ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION submit_until_error() TO PUBLIC;
});

my $baseline = dsm_count($node);
note("DSM segments before the flood: $baseline");

# 1. Each role fills its share.
for my $role (@roles)
{
	my ($stdout, $stderr);
	$node->psql('postgres',
		"SET ROLE $role; SELECT * FROM submit_until_error()",
		stdout => \$stdout, stderr => \$stderr);
	my $why =
	  $role eq $roles[-1]
	  ? 'too many pg_background jobs are queued'
	  : qq{too many pg_background jobs of role "$role" are queued};
	is("$stdout$stderr", "250|53000 $why", "(1) $role stops after 250 jobs");
}
is($node->safe_psql('postgres', 'SELECT queued FROM pg_background_admission()'),
	'1000', '(1) 1000 jobs are queued');
is(dsm_count($node), $baseline,
	'(1) the queued jobs hold no DSM segment');

# 2. The queue is full.
my ($stdout, $stderr);
$node->psql('postgres',
	q{SET ROLE regress_other; SELECT pg_background_submit_v2('SELECT 2')},
	stdout => \$stdout, stderr => \$stderr,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr,
	qr/ERROR:  53000: too many pg_background jobs are queued\nDETAIL:  1000 jobs are waiting for a worker, the maximum set by pg_background.max_queued\./,
	'(2) another role meets the full queue: 53000');
is($node->safe_psql('postgres', 'SELECT queued FROM pg_background_admission()'),
	'1000', '(2) the refused launch queued nothing');

# 3. Everything runs once workers may start.
set_guc($node, 'pg_background.max_total_workers', '-1', '-1');
ok( $node->poll_query_until(
		'postgres', 'SELECT active, queued FROM pg_background_admission()',
		'0|0'),
	'(3) the queue drained');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*), count(DISTINCT (role, n)), min(n), max(n),
       count(DISTINCT role)
FROM landed}),
	'1000|1000|0|249|4',
	'(3) each of the 1000 jobs ran exactly once');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(state || ':' || n, ',') FROM
  (SELECT state, count(*) n FROM pg_background_jobs GROUP BY state) s}),
	'stopped:1000', '(3) every job ended stopped');
dsm_back_to($node, $baseline, '(3)');

$node->stop;
done_testing();
