# What a session keeps for the jobs whose results it has read.
#
# One session runs 100 launch + result (SELECT i), then 1,900 more.  The
# session remembers its last 1024 consumed jobs (so that a second read
# says "already consumed"), but each in a compact record: the "pg_background
# session" memory context and its children grow by less than 200 kB from
# after 100 jobs to after 2,000 (they grew by about 2.8 MB when every
# consumed job kept its whole entry, with the fixed-size text fields of its
# outcome).  What a consumed job must still answer, after the 2,000:
# - the list has exactly 1024 jobs, all consumed, and shows the last one's
#   state, SQL, command tag and row count; pg_background_list_v2 too;
# - a second read of the last job (v1 and v2) raises 42704 "results for PID
#   ... have already been consumed"; its outcome, progress and wait work;
# - a job consumed 1,025 jobs ago is forgotten: 42704 "... is not attached
#   to this session";
# - pg_background_stats_v2 counts 2,000 launched and completed, 0 active;
# - detaching a consumed job forgets it (the list has 1023 jobs, a read says
#   "not attached");
# - a job whose read failed (a type mismatch) and that failed itself keeps
#   its error in the list and its outcome once compacted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('session_memory');
$node->init;
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 8
log_statement = none
});
$node->start;
if ($node->pg_version < 14)
{
	$node->stop;
	plan skip_all => 'pg_backend_memory_contexts needs PostgreSQL 14';
}
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');

my $s = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);

# Run a query; return its output and what it wrote to stderr.
sub run
{
	my ($sql) = @_;
	my ($out) = $s->query($sql);
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return ($out, $err);
}

# The session context and its children.  PostgreSQL 18 replaced the parent
# column of pg_backend_memory_contexts with path.
my $ctx_sql = $node->pg_version >= 18
  ? q{WITH c AS MATERIALIZED (SELECT * FROM pg_backend_memory_contexts),
s AS (SELECT level, path[level] AS id FROM c WHERE name = 'pg_background session')
SELECT coalesce(sum(c.total_bytes), 0) FROM c, s
WHERE c.path[s.level] = s.id AND c.level <= s.level + 1}
  : q{SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
WHERE name = 'pg_background session' OR parent = 'pg_background session'};

# n x launch + result, from i = first on; each result must be i.
sub batch
{
	my ($first, $n) = @_;
	my $last = $first + $n - 1;
	my ($out, $err) = run(qq{DO \$\$ BEGIN FOR i IN $first..$last LOOP
  IF (SELECT x FROM pg_background_result(pg_background_launch('SELECT ' || i)) AS (x int)) <> i THEN
    RAISE EXCEPTION 'wrong result';
  END IF;
END LOOP; END \$\$});
	is($err, '', "jobs $first to $last: launch + result, each the right row");
}

# The first job, by handle, to look at once it is forgotten.
my ($first_handle) = run(q{SELECT pid || ',' || cookie FROM pg_background_launch_v2('SELECT 0')});
my ($first_pid, $first_cookie) = split /,/, $first_handle;
my (undef, $err) = run(qq{SELECT * FROM pg_background_result_v2($first_pid, $first_cookie) AS (x int)});
is($err, '', 'the first job is read');

batch(1, 99);
my ($mem100) = run($ctx_sql);
batch(100, 1899);
# The last one, by handle.
my ($last) = run(q{SELECT pid || ',' || cookie FROM pg_background_launch_v2('SELECT 1999', queue_size => 0, label => 'last')});
my ($last_pid, $last_cookie) = split /,/, $last;
my ($row) = run(qq{SELECT * FROM pg_background_result_v2($last_pid, $last_cookie) AS (x int)});
is($row, '1999', 'the 2,000th job is read');
my ($mem2000) = run($ctx_sql);
note("pg_background session memory: $mem100 bytes after 100 jobs, $mem2000 after 2,000");
cmp_ok($mem2000 - $mem100, '<', 200 * 1024,
	'the session memory grows by less than 200 kB from 100 to 2,000 consumed jobs');

# What the consumed jobs still answer.
is( (run(q{SELECT count(*), count(*) FILTER (WHERE consumed) FROM pg_background_list()}))[0],
	'1024|1024', 'the list has the 1024 remembered jobs, all consumed');
is( (run(qq{
SELECT label, state, consumed, sql_preview, command_tag, row_count, sqlstate IS NULL,
	last_error IS NULL, started_at <= finished_at, queue_size, submitted
FROM pg_background_jobs WHERE pid = $last_pid AND cookie = $last_cookie}))[0],
	'last|stopped|t|SELECT 1999|SELECT 1|1|t|t|t|65536|f',
	'the last job is listed with its state, SQL, command tag and row count');
is( (run(qq{
SELECT state, sql_preview, last_error IS NULL, consumed
FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz,
	user_id oid, queue_size int4, state text, sql_preview text, last_error text,
	consumed bool)
WHERE pid = $last_pid}))[0],
	'stopped|SELECT 1999|t|t', 'and by pg_background_list_v2');
(undef, $err) = run(qq{SELECT * FROM pg_background_result_v2($last_pid, $last_cookie) AS (x int)});
like($err, qr/ERROR:  42704: results for PID $last_pid have already been consumed$/m,
	'a second read (v2) of the last job: 42704, already consumed');
(undef, $err) = run(qq{SELECT * FROM pg_background_result($last_pid) AS (x int)});
like($err, qr/ERROR:  42704: results for PID $last_pid have already been consumed$/m,
	'a second read (v1) of the last job: 42704, already consumed');
is( (run(qq{
SELECT state, command_tag, row_count, sqlstate IS NULL, message IS NULL
FROM pg_background_outcome($last_pid, $last_cookie)}))[0],
	'stopped|SELECT 1|1|t|t', 'its outcome');
is( (run(qq{SELECT pg_background_wait_v2_timeout($last_pid, $last_cookie, 0)}))[0],
	't', 'waiting for it returns at once');
(undef, $err) = run(qq{SELECT pg_background_cancel_v2($last_pid, $last_cookie)});
is($err, '', 'canceling it does nothing');
is( (run(qq{SELECT state FROM pg_background_jobs WHERE pid = $last_pid}))[0],
	'stopped', 'it is still stopped');
(undef, $err) = run(qq{SELECT * FROM pg_background_result_v2($first_pid, $first_cookie) AS (x int)});
like($err,
	qr/ERROR:  42704: background job with PID $first_pid and cookie $first_cookie is not attached to this session$/m,
	'the first job, consumed 2,000 jobs ago, is forgotten');
is( (run(q{
SELECT workers_launched, workers_completed, workers_failed, workers_active
FROM pg_background_stats_v2()}))[0],
	'2000|2000|0|0', 'the statistics count every job once');

# Detaching a consumed job forgets it.
(undef, $err) = run(qq{SELECT pg_background_detach_v2($last_pid, $last_cookie)});
is($err, '', 'detach_v2 of a consumed job');
is((run(q{SELECT count(*) FROM pg_background_list()}))[0], '1023',
	'the list has one job less');
(undef, $err) = run(qq{SELECT * FROM pg_background_result_v2($last_pid, $last_cookie) AS (x int)});
like($err,
	qr/ERROR:  42704: background job with PID $last_pid and cookie $last_cookie is not attached to this session$/m,
	'the detached job is forgotten');

# A job that fails (at run time, after its row description went out), read
# with the wrong column types: the read fails and consumes it; once its worker has exited the next launch compacts it.
my ($bad) = run(q{SELECT pid || ',' || cookie FROM pg_background_launch_v2('SELECT 1/(g - 1) FROM generate_series(1, 1) g', queue_size => 0, label => 'bad')});
my ($bad_pid, $bad_cookie) = split /,/, $bad;
(undef, $err) = run(qq{SELECT * FROM pg_background_result_v2($bad_pid, $bad_cookie) AS (x int, y int)});
like($err, qr/ERROR:  42804: /, 'a read with the wrong column definition list fails with 42804');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'}, '0'),
	'its worker has exited');
batch(3000, 1);
is( (run(qq{
SELECT label, state, consumed, sqlstate, last_error
FROM pg_background_jobs WHERE pid = $bad_pid AND cookie = $bad_cookie}))[0],
	'bad|error|t|22012|division by zero', 'the failed job keeps its error in the list');
is( (run(qq{
SELECT state, sqlstate, message FROM pg_background_outcome($bad_pid, $bad_cookie)}))[0],
	'error|22012|division by zero', 'and in its outcome');
(undef, $err) = run(qq{SELECT * FROM pg_background_result_v2($bad_pid, $bad_cookie) AS (x int)});
like($err, qr/ERROR:  42704: results for PID $bad_pid have already been consumed$/m,
	'a second read: already consumed');

$s->quit;
$node->stop;
done_testing();
